"""What the protocol engines ask their adapter to do: small frozen values, returned in order.

The engines (`engine.LiveSession`, `chat_ws.ChatSocket`) never touch a socket, a back-end or
the store: they return these, and the adapter (`ws.py`) carries them out in the order given.
Slow work is answered later through an engine method (`StartTurn` with `llm_delta` /
`llm_done` / `llm_failed`, `Transcribe` with `transcribed`, `Speak` with `spoken`); history
writes are carried out at once (`SaveMessage`, `SaveTurn`), so the frame that announces a
saved message keeps its place among the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import frames


@dataclass(frozen=True)
class Send:
    frame: dict


@dataclass(frozen=True)
class StartTurn:
    """Stream the LLM's reply to `text`; feed it back with llm_delta / llm_done / llm_failed."""

    turn: int
    text: str
    chat: bool = False  # a chat-mode reply (no speech)


@dataclass(frozen=True)
class CancelTurn:
    """Stop everything still running for `turn` (its LLM stream, speech-to-text, speech)."""

    turn: int


@dataclass(frozen=True)
class Transcribe:
    """Run speech-to-text on `pcm` (16 kHz mono 16-bit); answer with `transcribed`."""

    turn: int
    pcm: bytes


@dataclass(frozen=True)
class Speak:
    """Synthesize `text` (one sentence); answer with `spoken` (WAV bytes) or `speak_failed`."""

    turn: int
    text: str


@dataclass(frozen=True)
class Subscribe:
    """Deliver messages pushed to `session_id` (e.g. POST /api/v1/im/message) to this socket."""

    session_id: str
    subscription_id: str


@dataclass(frozen=True)
class SaveMessage:
    """Write one chat message to the history (`History.save`); when `announce` names a frame
    type (`user_message_saved`, `message_saved`), send that frame with the saved record, here,
    in the effect's place."""

    session_id: str
    sender: str
    role: str
    content: list
    checkpoint: str | None = None
    interrupted: bool = False
    announce: str | None = None


@dataclass(frozen=True)
class SaveTurn:
    """Write a whole live turn (`History.save_turn`): its session, created when new, and its
    messages `(sender, role, content, interrupted)` in one transaction."""

    session_id: str
    creator: str
    messages: tuple


Effect = Send | StartTurn | CancelTurn | Subscribe | Transcribe | Speak | SaveMessage | SaveTurn


def write_history(history, effect: SaveMessage | SaveTurn) -> dict | None:
    """Carry out one history write against a `history.History` port; the frame announcing
    it, if the effect asks for one (every adapter does history writes through this)."""
    if isinstance(effect, SaveTurn):
        history.save_turn(effect.session_id, effect.creator, list(effect.messages))
        return None
    saved = history.save(effect.session_id, effect.sender, effect.role, effect.content,
                         effect.checkpoint, effect.interrupted)
    return frames.chat_saved(effect.announce, saved) if effect.announce else None
