"""Sans-I/O engine of the Open API chat WebSocket `/api/v1/chat/ws` (seed 004
`openChatWebSocket`; frames and error codes from research OWS-001..OWS-012, the seeds being
silent on them). Its envelope differs from the Live API: every server frame has `type`, never
`ct`; errors are `{"type":"error","code":...,"data":...}`.

Client frames: `{"t":"ping"}` -> `{"type":"pong"}`; `{"t":"send", "username", "message",
["session_id", "message_id", "config_id"]}` (`t` defaults to send). A send answers
`session_id`, the `plain` deltas, `agent_stats`, `complete`, `message_saved`, `end`; sends
are handled one after another (a send during a reply waits for it, OWS-009), at most
`max_queued` waiting per connection: one more is refused with `PROCESSING_ERROR` (no session
row is made for it). Frames that cannot be read (not JSON, nested deeper than
`inbound.MAX_DEPTH`, not an object, binary, longer than `max_frame_chars`) get
`INVALID_MESSAGE`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..history import History, MemoryHistory
from . import frames, inbound
from .effects import CancelTurn, Effect, Send, StartTurn

error = frames.ws_error


def message_text(message) -> str:
    """Strings as they are, parts as in POST /api/v1/chat, anything else as its text (OWS-005)."""
    if isinstance(message, str):
        return message.strip()
    if isinstance(message, list):
        return "".join(p["text"] for p in message if isinstance(p, dict)
                       and p.get("type") == "plain" and isinstance(p.get("text"), str))
    return str(message)  # what AstrBot's Python str() makes of it (OWS-005)


@dataclass
class Reply:
    id: int
    session_id: str
    message_id: str
    started: float
    text: str = ""
    first_delta_at: float | None = None


@dataclass
class ChatSocket:
    username: str  # the key's owner; each send names its own username
    history: History = field(default_factory=MemoryHistory)
    clock: Callable[[], float] = time.time
    reply: Reply | None = None
    waiting: list[tuple[str, str, str, str]] = field(default_factory=list)
    replies_started: int = 0
    max_queued: int = 8  # sends waiting behind the running reply
    max_frame_chars: int = 4 * 1024 * 1024

    def receive_bytes(self, data: bytes) -> list[Effect]:
        return [Send(error("Binary frames are not supported; send UTF-8 JSON text",
                           "INVALID_MESSAGE"))]

    def receive_text(self, raw: str) -> list[Effect]:
        if len(raw) > self.max_frame_chars:
            return [Send(error(f"Frame larger than {self.max_frame_chars} characters",
                               "INVALID_MESSAGE"))]
        try:
            frame = inbound.decode(raw)
        except inbound.BadFrame as bad:
            return [Send(error(bad.message, "INVALID_MESSAGE"))]
        if not isinstance(frame, dict):
            return [Send(error("message must be an object", "INVALID_MESSAGE"))]
        kind = frame.get("t", "send")
        if kind == "ping":
            return [Send(frames.ws_frame("pong"))]
        if kind != "send":
            return [Send(error(f"Unsupported message type: {kind}", "INVALID_MESSAGE"))]
        return self._send(frame)

    def _send(self, frame: dict) -> list[Effect]:
        if frame.get("message") is None:
            return [Send(error("Missing key: message", "INVALID_MESSAGE"))]
        username = frame.get("username")
        if username is None:
            return [Send(error("Missing key: username", "BAD_USER"))]
        if not isinstance(username, str) or not username.strip():
            return [Send(error("username is empty", "BAD_USER"))]
        username = username.strip()
        session_id = str(frame.get("session_id") or "").strip() or str(uuid.uuid4())
        owner = self.history.owner(session_id)
        if owner is not None and owner != username:
            return [Send(error("session_id belongs to another username", "SESSION_ERROR"))]
        config_id = frame.get("config_id")
        if config_id not in (None, "", "default"):
            return [Send(error(f"config_id not found: {config_id}", "CONFIG_ERROR"))]
        text = message_text(frame["message"])
        if not text:
            return [Send(error("Message content is empty (reply only is not allowed)",
                               "INVALID_MESSAGE"))]
        if self.reply is not None and len(self.waiting) >= self.max_queued:
            return [Send(error(f"Session is busy: {self.max_queued} messages are already "
                               "waiting on this connection", "PROCESSING_ERROR"))]
        self.history.ensure_session(session_id, username)
        message_id = str(frame["message_id"]) if frame.get("message_id") else str(uuid.uuid4())
        self.waiting.append((session_id, message_id, username, text))
        return self._next() if self.reply is None else []

    def _next(self) -> list[Effect]:
        if not self.waiting:
            return []
        session_id, message_id, username, text = self.waiting.pop(0)
        self.history.save(session_id, username, "user", [{"type": "plain", "text": text}])
        self.replies_started += 1
        self.reply = Reply(self.replies_started, session_id, message_id, self.clock())
        return [Send(frames.ws_frame("session_id", data=None, session_id=session_id,
                                     message_id=message_id)),
                StartTurn(self.reply.id, text, chat=True)]

    def _current(self, turn_id: int) -> Reply | None:
        return self.reply if self.reply is not None and self.reply.id == turn_id else None

    def llm_delta(self, turn_id: int, delta: str) -> list[Effect]:
        reply = self._current(turn_id)
        if reply is None or not delta:
            return []
        if reply.first_delta_at is None:
            reply.first_delta_at = self.clock()
        reply.text += delta
        return [Send(frames.ws_frame("plain", data=delta, streaming=True, chain_type=None,
                                     message_id=reply.message_id))]

    def llm_done(self, turn_id: int) -> list[Effect]:
        reply = self._current(turn_id)
        if reply is None:
            return []
        done = self.clock()
        saved = self.history.save(reply.session_id, "bot", "assistant",
                                  [{"type": "plain", "text": reply.text}])
        self.reply = None
        stats = frames.reply_stats(reply.text, reply.started, done, reply.first_delta_at)
        return [Send(frames.ws_frame("agent_stats", data=stats)),
                Send(frames.ws_frame("complete", data=reply.text, reasoning="", streaming=True,
                                     message_id=reply.message_id)),
                Send(frames.ws_frame("message_saved",
                                     data={"id": saved.id, "created_at": saved.created_at},
                                     session_id=reply.session_id)),
                Send(frames.ws_frame("end", data="", streaming=False,
                                     message_id=reply.message_id)),
                *self._next()]

    def llm_failed(self, turn_id: int, message: str) -> list[Effect]:
        if self._current(turn_id) is None:
            return []
        self.reply = None
        return [Send(error(f"Failed to process message: {message}", "PROCESSING_ERROR")),
                *self._next()]

    def disconnected(self) -> list[Effect]:
        self.waiting.clear()
        reply, self.reply = self.reply, None
        return [CancelTurn(reply.id)] if reply is not None else []

    def pushed(self, session_id: str, text: str) -> list[Effect]:
        return []

    def internal_error(self) -> dict:
        """What the adapter sends when handling a frame or an event failed unexpectedly."""
        return error("Failed to process message: internal error", "PROCESSING_ERROR")
