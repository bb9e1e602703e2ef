"""Every frame the simulator's WebSocket engines send, built in one place: the Live API's live
mode (`t`, seed 001 "Server messages"; seed 000 for the error codes), its chat mode (`ct:
chat`, `type`), the Open API chat socket `/api/v1/chat/ws` (`type`, never `ct`; research
OWS-*) and the handshake refusal. Engines and adapters import these constructors instead of
spelling dictionaries, so a frame's shape is read (and changed) here only.
"""

from __future__ import annotations

import base64
import functools

# live mode -----------------------------------------------------------------------------------

INVALID = "INVALID_MESSAGE_FORMAT"  # seed 000: a frame the server cannot take
PROCESSING = "PROCESSING_ERROR"  # seed 000: busy, and a turn that failed
BUSY = {"t": "error", "data": "Session is busy", "code": PROCESSING}


def live_error(message: str, code: str | None = INVALID) -> dict:
    """A live `error` frame; seed 001 gives it no code, seed 000 adds one on some errors."""
    frame = {"t": "error", "data": message}
    if code:
        frame["code"] = code
    return frame


def busy() -> dict:
    """`text_input` / `end_speaking` while a turn is processing (seed 000)."""
    return dict(BUSY)


def processing_failed(message: str) -> dict:
    """A turn that failed (LLM, speech-to-text or text-to-speech): it ends with this."""
    return live_error(f"Processing failed: {message}", PROCESSING)


def metrics(**data) -> dict:
    return {"t": "metrics", "data": data}


def user_msg(text: str, ts_ms: int) -> dict:
    return {"t": "user_msg", "data": {"text": text, "ts": ts_ms}}


def bot_delta(text: str) -> dict:
    return {"t": "bot_delta_chunk", "data": {"text": text}}


def bot_text_chunk(text: str) -> dict:
    return {"t": "bot_text_chunk", "data": {"text": text}}


def response(wav: bytes) -> dict:
    """One sentence's audio: a WAV file, standard Base64."""
    return {"t": "response", "data": _base64(wav)}


@functools.lru_cache(maxsize=128)
def _base64(wav: bytes) -> str:
    """The same sentence is synthesized to the same (cached) WAV object again and again: its
    Base64, about 9 KiB for a sentence, is made once (a bytes object keeps its hash, so a hit
    costs a lookup; 128 entries of at most 2 s of audio are at most 11 MiB)."""
    return base64.b64encode(wav).decode("ascii")


def bot_msg(text: str, ts_ms: int) -> dict:
    return {"t": "bot_msg", "data": {"text": text, "ts": ts_ms}}


def end() -> dict:
    return {"t": "end"}


def stop_play() -> dict:
    return {"t": "stop_play"}


# chat mode (ct=chat on the Live API socket) ---------------------------------------------------

def chat_frame(kind: str, **fields) -> dict:
    return {"ct": "chat", "type": kind, **fields}


def chat_error(message: str, code: str) -> dict:
    return {"ct": "chat", "t": "error", "data": message, "code": code}


def chat_busy() -> dict:
    """A chat `send` while a reply is streaming (seed 000 wording, CHAT-WS-017)."""
    return chat_error("Session is busy", PROCESSING)


def chat_plain(text: str, message_id: str) -> dict:
    return chat_frame("plain", data=text, streaming=True, chain_type=None, message_id=message_id)


def chat_complete(text: str, message_id: str) -> dict:
    """The whole reply, after its last plain."""
    return chat_frame("complete", data=text, reasoning="", streaming=True,
                      message_id=message_id)


def reply_stats(text: str, started: float, done: float, first_delta_at: float | None) -> dict:
    """`agent_stats` data of a finished reply (both chat sockets)."""
    return {"token_usage": {"input_other": 0, "input_cached": 0, "output": len(text.split())},
            "start_time": started, "end_time": done,
            "time_to_first_token": (first_delta_at or done) - started}


def chat_stats(stats: dict) -> dict:
    return chat_frame("agent_stats", data=stats)


def chat_end(message_id: str) -> dict:
    return chat_frame("end", data="", streaming=False, message_id=message_id)


def chat_interrupted() -> dict:
    """The answer to a chat-mode `interrupt`, a reply running or not (CHAT-WS-006)."""
    return chat_error("INTERRUPTED", "INTERRUPTED")


def session_bound(session_id: str, subscription_id: str) -> dict:
    return chat_frame("session_bound", session_id=session_id, message_id=subscription_id)


def pushed(text: str, subscription_id: str) -> list[dict]:
    """A message pushed to a bound session (CHAT-WS-005): a plain and a complete frame."""
    return [chat_frame("plain", data=text, streaming=True, chain_type=None,
                       message_id=subscription_id),
            chat_frame("complete", data=text, streaming=True, chain_type=None,
                       message_id=subscription_id)]


def chat_saved(kind: str, saved) -> dict:
    """`user_message_saved` / `message_saved` for a `history.Saved` record."""
    return chat_frame(kind, data=saved.as_data())


# the Open API chat socket /api/v1/chat/ws ----------------------------------------------------

def ws_error(message: str, code: str) -> dict:
    """An error of /api/v1/chat/ws, and of a refused Live API handshake (seed 000 `live_ws`)."""
    return {"type": "error", "code": code, "data": message}


def ws_frame(kind: str, **fields) -> dict:
    return {"type": kind, **fields}
