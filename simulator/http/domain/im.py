"""IM pushes (seed 004 tag IM, seed 002/003 `/api/v1/im/message`): the unified message origin
(`platform:MessageType:session`), the strict text of an IM message (research IM-002), and the
delivery: only the built-in `webchat` platform runs, so the message is kept in the session's
history and reaches every socket bound to the session (research IM-001..IM-004)."""

from __future__ import annotations

from ...history import StoreHistory
from ..kernel.envelope import ApiError

MESSAGE_TYPES = ("FriendMessage", "GroupMessage", "OtherMessage")
MEDIA = ("image", "record", "file", "video")


def parse_umo(umo: str) -> tuple[str, str, str]:
    parts = umo.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ApiError(400, "Invalid umo: expected platform:MessageType:session")
    if parts[1] not in MESSAGE_TYPES:
        raise ApiError(400, f"Invalid umo: {parts[1]!r} is not one of {', '.join(MESSAGE_TYPES)}")
    return parts[0], parts[1], parts[2]


def message_text(message) -> str:
    """The text of an IM message; strict, as AstrBot parses IM messages (research IM-002)."""
    if isinstance(message, str):
        text = message
    else:
        texts = []
        for part in message:
            kind = part.get("type")
            if kind in ("plain", "text"):  # seed 004 MessagePart adds `text` (and `audio`)
                texts.append(part.get("text") or "")
            elif kind in (*MEDIA, "audio"):
                if not part.get("attachment_id"):
                    raise ApiError(400, f"{kind} part missing attachment_id")
                raise ApiError(400, f"attachment not found: {part['attachment_id']}")
            else:
                raise ApiError(400, f"unsupported message part type: {kind}")
        text = "".join(texts)
    if not text.strip():
        raise ApiError(400, "Message content is empty (reply only is not allowed)")
    return text


def deliver(sim, umo: str, message) -> None:
    """Save `message` as the bot's reply in the webchat session `umo` names and push it to the
    sockets bound to that session (research IM-001..IM-004)."""
    platform, _, session = parse_umo(umo)
    if platform != "webchat":
        raise ApiError(400, f"Bot not found or not running for platform: {platform}")
    text = message_text(message)
    if session.startswith("webchat!") and session.count("!") >= 2:
        session = session.split("!", 2)[2]
    StoreHistory(sim.store).save(session, "bot", "assistant", [{"type": "plain", "text": text}])
    sim.hub.publish(session, text)
