"""Chat mode of the Live API socket (`ct: chat`; seed 001 "Unified Chat Mode", research
CHAT-WS-003..017 where it is silent): `bind` subscribes the socket to a chat session's pushes,
`send` saves the user's message and streams a reply (`plain`... `agent_stats`, `complete`,
`message_saved`, `end`), `interrupt` stops it. A part of `LiveSession` (engine.py), moved by
the same transition table (`states.py`, lane CHAT: IDLE <-> STREAMING); history writes are
`SaveMessage` effects, the frames announcing them sent by the adapter in their place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from . import frames
from .effects import CancelTurn, Effect, SaveMessage, Send, StartTurn, Subscribe
from .states import Event, Lane

CHAT = Lane.CHAT


@dataclass
class ChatTurn:
    """The data of a streaming chat-mode reply (CHAT lane STREAMING)."""

    id: int
    session_id: str
    message_id: str
    started: float
    checkpoint: str  # the user's message's llm_checkpoint_id, kept on the reply too
    text: str = ""
    first_delta_at: float | None = None


def meaningful_part(part) -> bool:
    """The parts kept from a chat `send` (same rules as POST /api/v1/chat, research CHAT-010):
    plain with text, reply with message_id, media with attachment_id."""
    if not isinstance(part, dict):
        return False
    kind = part.get("type")
    if kind == "plain":
        return isinstance(part.get("text"), str) and part["text"] != ""
    if kind == "reply":
        return bool(part.get("message_id"))
    return kind in ("image", "record", "file", "video") and bool(part.get("attachment_id"))


class ChatMode:
    """The chat-mode half of `LiveSession` (its fields: machine, username, clock,
    chat_turn, turns_started, subscriptions, max_bindings, live_session_id)."""

    def _chat_frame(self, frame: dict) -> list[Effect]:
        kind = frame.get("t")
        if kind == "bind":
            return self._bind(frame)
        if kind == "send":
            return self._send(frame)
        if kind == "interrupt":
            return self._chat_interrupt()
        return [Send(frames.chat_error(f"Unsupported message type: {kind}", frames.INVALID))]

    def _bind(self, frame: dict) -> list[Effect]:
        session_id = frame.get("session_id")
        if not isinstance(session_id, str) or not session_id.strip():
            return [Send(frames.chat_error("session_id is required", frames.INVALID))]
        self.machine.fire(CHAT, Event.BIND)
        sub = self.subscriptions.get(session_id)
        effects: list[Effect] = []
        if sub is None and len(self.subscriptions) >= self.max_bindings:
            return [Send(frames.chat_error(
                f"Too many bound sessions: at most {self.max_bindings} per connection",
                frames.INVALID))]
        if sub is None:
            sub = self.subscriptions[session_id] = "ws_sub_" + uuid.uuid4().hex
            effects.append(Subscribe(session_id, sub))
        return [*effects, Send(frames.session_bound(session_id, sub))]

    def _send(self, frame: dict) -> list[Effect]:
        self.machine.next_state(CHAT, Event.SEND)  # busy while a reply streams
        parts = frame.get("message")
        if isinstance(parts, str):  # seed 001: the message-part schema of POST /api/v1/chat
            parts = [{"type": "plain", "text": parts}]
        if not isinstance(parts, list):
            return [Send(frames.chat_error("message must be list", frames.INVALID))]
        content = [p for p in parts if meaningful_part(p)]
        text = "".join(p["text"] for p in content if p.get("type") == "plain")
        if not text.strip():
            return [Send(frames.chat_error("Message content is empty", frames.INVALID))]
        session_id = frame.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            session_id = self.live_session_id
        message_id = frame.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            message_id = str(uuid.uuid4())
        self.machine.fire(CHAT, Event.SEND)
        checkpoint = str(uuid.uuid4())
        self.turns_started += 1
        self.chat_turn = ChatTurn(self.turns_started, session_id, message_id, self.clock(),
                                  checkpoint)
        return [SaveMessage(session_id, self.username, "user", content, checkpoint,
                            announce="user_message_saved"),
                StartTurn(self.chat_turn.id, text, chat=True)]

    def _chat_interrupt(self) -> list[Effect]:
        turn = self.chat_turn
        self.machine.fire(CHAT, Event.CHAT_INTERRUPT)
        if turn is None:
            return [Send(frames.chat_interrupted())]
        self.chat_turn = None
        return [self._save_chat_reply(turn, interrupted=True), Send(frames.chat_interrupted()),
                CancelTurn(turn.id)]

    def _chat_current(self, turn_id: int) -> ChatTurn | None:
        turn = self.chat_turn
        return turn if turn is not None and turn.id == turn_id else None

    def _chat_delta(self, turn: ChatTurn, delta: str) -> list[Effect]:
        self.machine.fire(CHAT, Event.LLM_DELTA)
        if turn.first_delta_at is None:
            turn.first_delta_at = self.clock()
        turn.text += delta
        return [Send(frames.chat_plain(delta, turn.message_id))]

    def _chat_done(self, turn: ChatTurn) -> list[Effect]:
        self.machine.fire(CHAT, Event.LLM_DONE)
        stats = frames.reply_stats(turn.text, turn.started, self.clock(), turn.first_delta_at)
        self.chat_turn = None
        return [Send(frames.chat_stats(stats)),
                Send(frames.chat_complete(turn.text, turn.message_id)),
                self._save_chat_reply(turn, interrupted=False, announce="message_saved"),
                Send(frames.chat_end(turn.message_id))]

    def _chat_failed(self, turn: ChatTurn, message: str) -> list[Effect]:
        self.machine.fire(CHAT, Event.LLM_FAILED)
        self.chat_turn = None
        return [self._save_chat_reply(turn, interrupted=True),
                Send(frames.chat_error(f"Processing failed: {message}", frames.PROCESSING))]

    def _save_chat_reply(self, turn: ChatTurn, interrupted: bool,
                         announce: str | None = None) -> SaveMessage:
        return SaveMessage(turn.session_id, "bot", "assistant",
                           [{"type": "plain", "text": turn.text}], turn.checkpoint, interrupted,
                           announce)

    def pushed(self, session_id: str, text: str) -> list[Effect]:
        """A message pushed to a bound session (CHAT-WS-005): a plain and a complete frame."""
        sub = self.subscriptions.get(session_id)
        if sub is None:
            return []
        self.machine.fire(CHAT, Event.PUSHED)
        return [Send(frame) for frame in frames.pushed(text, sub)]
