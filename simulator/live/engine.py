"""Sans-I/O engine of the Live API WebSocket protocol (seed 001; server code in seed 000).

A `LiveSession` takes client frames and back-end events and returns effects: frames to send,
turns to start or cancel. It owns every protocol rule (frame order, busy, interrupt, error
frames) and does no I/O, no sleeping and no clock reading of its own (the clock is injected),
so the rules can be driven exhaustively from tests. `ws.py` is the thin adapter that moves
bytes and carries out the slow effects (LLM stream, speech-to-text, text-to-speech) with the
timing model, feeding their results back through the methods below.

Turn order for `text_input` (seed 000, `_process_live_user_text`):
    metrics{input_type:"text"} -> user_msg -> (bot_delta_chunk... and, per TTS sentence,
    [metrics{speak_to_first_frame} once] bot_text_chunk + response) -> metrics{llm_*}
    -> [metrics{tts_*} | bot_msg when no audio was streamed] -> end
    -> metrics{wav_to_tts_total_time}
For audio (`start_speaking` / `speaking_part` / `end_speaking`) the turn opens with
metrics{wav_assemble_time, input_type:"audio"} and metrics{stt} instead, then speech-to-text
runs (a `Transcribe` effect; the adapter answers with `transcribed`) and the turn goes on from
user_msg. The session is processing from `end_speaking` on.
`interrupt` during a turn: stop_play, the turn is cancelled and its partial text kept. During
speech-to-text it is kept until the transcript is known: user_msg (a turn opens with it), then
stop_play at once, and no reply.
A second `text_input` / `end_speaking` during a turn: the busy error; the turn goes on.

Speech takes time, so the engine asks for it and is told when it is done: `Speak` one sentence
at a time per turn (the adapter answers with `spoken` or `speak_failed`), in sentence order;
bot_text_chunk + response go out when its audio is ready, while later deltas may stream on,
and the turn's closing frames (metrics, end) wait for the last sentence's audio.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ..backends import llm as sim_llm
from ..history import History, MemoryHistory

# effects ---------------------------------------------------------------------------------------


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


Effect = Send | StartTurn | CancelTurn | Subscribe | Transcribe | Speak

# errors (seed 000 texts and codes) ---------------------------------------------------------------

BUSY = {"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}
INVALID = "INVALID_MESSAGE_FORMAT"
INTERRUPTED_SUFFIX = " [interrupted]"
SENTENCE_END = re.compile(r"[.。!！?？\n]+")
MIN_TTS_CHUNK = 10  # characters; shorter sentences are merged with the next (research LIVE-014)


def live_error(message: str, code: str | None = INVALID) -> dict:
    frame = {"t": "error", "data": message}
    if code:
        frame["code"] = code
    return frame


def _meaningful_part(part) -> bool:
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


def chat_error(message: str, code: str) -> dict:
    return {"ct": "chat", "t": "error", "data": message, "code": code}


class Phase(Enum):
    IDLE = "idle"
    PROCESSING = "processing"


@dataclass
class Turn:
    id: int
    user_text: str
    started: float
    tts: bool
    text: str = ""  # every delta so far
    unspoken: str = ""  # text not yet sent as a TTS chunk
    audio_chunks: int = 0
    first_delta_at: float | None = None
    first_audio_at: float | None = None
    tts_seconds: float = 0.0
    transcribing: bool = False  # speech-to-text still running: no user_msg yet
    interrupted: bool = False  # an interrupt came during speech-to-text
    speaking: str | None = None  # the sentence being synthesized
    speak_started: float = 0.0
    to_speak: list[str] = field(default_factory=list)  # sentences waiting for their turn
    llm_done_at: float | None = None  # the reply is complete; end waits for the audio


@dataclass
class ChatTurn:
    id: int
    session_id: str
    message_id: str
    started: float
    checkpoint: str
    text: str = ""
    first_delta_at: float | None = None


def chat_frame(kind: str, **fields) -> dict:
    return {"ct": "chat", "type": kind, **fields}


@dataclass
class LiveSession:
    """One WebSocket connection. `mode` is "live" or "chat" when forced by the endpoint, or None
    for the unified endpoints where each frame's `ct` chooses (default live)."""

    username: str
    mode: str | None = "live"
    tts_enabled: bool = True
    clock: Callable[[], float] = time.time
    max_audio_bytes: int = 2 * 16_000 * 120  # two minutes of 16 kHz 16-bit mono
    max_frame_chars: int = 4 * 1024 * 1024
    history: History = field(default_factory=MemoryHistory)
    connection_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    phase: Phase = Phase.IDLE
    turn: Turn | None = None
    turns_started: int = 0
    speaking_stamp: str | None = None
    audio: bytearray = field(default_factory=bytearray)
    chat_turn: ChatTurn | None = None
    subscriptions: dict[str, str] = field(default_factory=dict)  # session id -> ws_sub id

    @property
    def live_session_id(self) -> str:
        """Seed 000 `run_ws_session`: one webchat session per connection."""
        return f"webchat_live!{self.username}!{self.connection_id}"

    # client input ---------------------------------------------------------------------------
    def receive_bytes(self, data: bytes) -> list[Effect]:
        return [Send(live_error("Binary frames are not supported; send UTF-8 JSON text"))]

    def receive_text(self, raw: str) -> list[Effect]:
        if len(raw) > self.max_frame_chars:
            return [Send(live_error(f"Frame larger than {self.max_frame_chars} characters"))]
        try:
            frame = json.loads(raw)
        except RecursionError:
            return [Send(live_error("Invalid JSON: nested too deeply"))]
        except ValueError as exc:
            return [Send(live_error(f"Invalid JSON: {exc}"))]
        if not isinstance(frame, dict):
            return [Send(live_error("Frame must be a JSON object"))]
        mode = self.mode or ("chat" if frame.get("ct") == "chat" else "live")
        if mode == "chat":
            return self._chat_frame(frame)
        kind = frame.get("t")
        handler = self._LIVE_HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return [Send(live_error(f"Unsupported message type: {frame.get('t')}"))]
        return handler(self, frame)

    # chat mode (seed 001 Unified Chat Mode; research CHAT-WS-003..014 where it is silent) ------
    def _chat_frame(self, frame: dict) -> list[Effect]:
        kind = frame.get("t")
        if kind == "bind":
            return self._bind(frame)
        if kind == "send":
            return self._send(frame)
        if kind == "interrupt":
            return self._chat_interrupt()
        return [Send(chat_error(f"Unsupported message type: {kind}", INVALID))]

    def _bind(self, frame: dict) -> list[Effect]:
        session_id = frame.get("session_id")
        if not isinstance(session_id, str) or not session_id.strip():
            return [Send(chat_error("session_id is required", INVALID))]
        sub = self.subscriptions.get(session_id)
        effects: list[Effect] = []
        if sub is None:
            sub = self.subscriptions[session_id] = "ws_sub_" + uuid.uuid4().hex
            effects.append(Subscribe(session_id, sub))
        return [*effects, Send(chat_frame("session_bound", session_id=session_id,
                                          message_id=sub))]

    def _send(self, frame: dict) -> list[Effect]:
        if self.chat_turn is not None:
            return [Send(chat_error("Session is busy", "PROCESSING_ERROR"))]
        parts = frame.get("message")
        if isinstance(parts, str):  # seed 001: the message-part schema of POST /api/v1/chat
            parts = [{"type": "plain", "text": parts}]
        if not isinstance(parts, list):
            return [Send(chat_error("message must be list", INVALID))]
        content = [p for p in parts if _meaningful_part(p)]
        text = "".join(p["text"] for p in content if p.get("type") == "plain")
        if not text.strip():
            return [Send(chat_error("Message content is empty", INVALID))]
        session_id = frame.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            session_id = self.live_session_id
        message_id = frame.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            message_id = str(uuid.uuid4())
        saved = self.history.save(session_id, self.username, "user", content)
        self.turns_started += 1
        self.chat_turn = ChatTurn(self.turns_started, session_id, message_id, self.clock(),
                                  saved.llm_checkpoint_id)
        return [Send(chat_frame("user_message_saved", data=saved.as_data())),
                StartTurn(self.chat_turn.id, text, chat=True)]

    def _chat_interrupt(self) -> list[Effect]:
        turn, effects = self.chat_turn, []
        if turn is not None:
            self._save_chat_reply(turn, interrupted=True)
            self.chat_turn = None
            effects.append(CancelTurn(turn.id))
        return [Send(chat_error("INTERRUPTED", "INTERRUPTED")), *effects]

    def _chat_delta(self, turn: ChatTurn, delta: str) -> list[Effect]:
        if turn.first_delta_at is None:
            turn.first_delta_at = self.clock()
        turn.text += delta
        return [Send(chat_frame("plain", data=delta, streaming=True, chain_type=None,
                                message_id=turn.message_id))]

    def _chat_done(self, turn: ChatTurn) -> list[Effect]:
        done = self.clock()
        stats = {"token_usage": {"input_other": 0, "input_cached": 0,
                                 "output": len(turn.text.split())},
                 "start_time": turn.started, "end_time": done,
                 "time_to_first_token": (turn.first_delta_at or done) - turn.started}
        saved = self._save_chat_reply(turn, interrupted=False)
        self.chat_turn = None
        return [Send(chat_frame("agent_stats", data=stats)),
                Send(chat_frame("complete", data=turn.text, reasoning="", streaming=True,
                                message_id=turn.message_id)),
                Send(chat_frame("message_saved", data=saved.as_data())),
                Send(chat_frame("end", data="", streaming=False, message_id=turn.message_id))]

    def _save_chat_reply(self, turn: ChatTurn, interrupted: bool):
        return self.history.save(turn.session_id, "bot", "assistant",
                                 [{"type": "plain", "text": turn.text}], turn.checkpoint,
                                 interrupted)

    def pushed(self, session_id: str, text: str) -> list[Effect]:
        """A message pushed to a bound session (CHAT-WS-005): a plain and a complete frame."""
        sub = self.subscriptions.get(session_id)
        if sub is None:
            return []
        return [Send(chat_frame("plain", data=text, streaming=True, chain_type=None,
                                message_id=sub)),
                Send(chat_frame("complete", data=text, streaming=True, chain_type=None,
                                message_id=sub))]

    def _start_speaking(self, frame: dict) -> list[Effect]:
        stamp = frame.get("stamp")
        if not isinstance(stamp, str) or not stamp:
            return [Send(live_error("start_speaking needs a non-empty string stamp"))]
        self.speaking_stamp = stamp
        self.audio.clear()
        return []

    def _speaking_part(self, frame: dict) -> list[Effect]:
        if self.speaking_stamp is None:
            return [Send(live_error("speaking_part before start_speaking"))]
        data = frame.get("data")
        if not isinstance(data, str) or not data:
            return [Send(live_error("speaking_part needs base64 audio in data"))]
        try:
            pcm = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return [Send(live_error("speaking_part data is not valid base64"))]
        if len(self.audio) + len(pcm) > self.max_audio_bytes:
            self.speaking_stamp = None
            self.audio.clear()
            return [Send(live_error("Audio segment too long; capture discarded"))]
        self.audio.extend(pcm)
        return []

    def _end_speaking(self, frame: dict) -> list[Effect]:
        received = self.clock()
        if self.phase is Phase.PROCESSING:
            return [Send(dict(BUSY))]
        stamp = frame.get("stamp")
        if not isinstance(stamp, str) or not stamp:
            return [Send(live_error("end_speaking needs a non-empty string stamp"))]
        if stamp != self.speaking_stamp:
            return [Send(live_error("Audio assembly failed: stamp does not match start_speaking",
                                    None))]
        pcm = bytes(self.audio)
        self.speaking_stamp = None
        self.audio.clear()
        if not pcm:
            return [Send(live_error("Audio assembly failed: no audio received", None))]
        assembled = self.clock()
        self.turns_started += 1
        self.turn = Turn(self.turns_started, "", assembled, tts=self.tts_enabled,
                         transcribing=True)
        self.phase = Phase.PROCESSING
        return [Send({"t": "metrics", "data": {"wav_assemble_time": assembled - received,
                                               "input_type": "audio"}}),
                Send({"t": "metrics", "data": {"stt": "sim_stt"}}),
                Transcribe(self.turn.id, pcm)]

    def transcribed(self, turn_id: int, text: str) -> list[Effect]:
        """Speech-to-text is done: the turn goes on as a text turn (seed 000 `_process_audio`)."""
        turn = self._current(turn_id)
        if turn is None or not turn.transcribing:
            return []
        turn.transcribing = False
        turn.user_text = text
        _, directives = sim_llm.parse(text)
        turn.tts = self.tts_enabled and directives.tts
        user_msg = Send({"t": "user_msg", "data": {"text": text, "ts": self._ms()}})
        if turn.interrupted:  # stopped before the model said anything
            self._save_live_turn(turn, interrupted=True)
            self._finish()
            return [user_msg, Send({"t": "stop_play"})]
        return [user_msg, StartTurn(turn.id, text)]

    def transcribe_failed(self, turn_id: int, message: str) -> list[Effect]:
        if self._current(turn_id) is None:
            return []
        self._finish()
        return [Send(live_error(f"Processing failed: {message}", "PROCESSING_ERROR"))]

    def _text_input(self, frame: dict) -> list[Effect]:
        if self.phase is Phase.PROCESSING:
            return [Send(dict(BUSY))]
        text = frame.get("text")
        if not isinstance(text, str):
            text = frame.get("message")
        if not isinstance(text, str) or not text.strip():
            return [Send(live_error("message must be non-empty text"))]
        started = self.clock()
        return [Send({"t": "metrics", "data": {"input_type": "text"}}),
                *self._start_turn(text.strip(), started)]

    def _interrupt(self, frame: dict) -> list[Effect]:
        turn = self.turn
        if self.phase is not Phase.PROCESSING or turn is None:
            return []  # nothing to stop: seed 000 only raises a flag the next turn resets
        if turn.transcribing:  # the turn opens with user_msg: it stops right after it
            turn.interrupted = True
            return []
        self._save_live_turn(turn, interrupted=True)
        self._finish()
        return [Send({"t": "stop_play"}), CancelTurn(turn.id)]

    _LIVE_HANDLERS = {
        "start_speaking": _start_speaking,
        "speaking_part": _speaking_part,
        "end_speaking": _end_speaking,
        "text_input": _text_input,
        "interrupt": _interrupt,
    }

    # turn lifecycle -------------------------------------------------------------------------
    def _start_turn(self, user_text: str, started: float) -> list[Effect]:
        self.turns_started += 1
        _, directives = sim_llm.parse(user_text)
        self.turn = Turn(self.turns_started, user_text, started,
                         tts=self.tts_enabled and directives.tts)
        self.phase = Phase.PROCESSING
        return [
            Send({"t": "user_msg", "data": {"text": user_text, "ts": self._ms()}}),
            StartTurn(self.turn.id, user_text),
        ]

    def _save_live_turn(self, turn: Turn, interrupted: bool) -> None:
        """Seed 000 keeps live turns, interrupted ones marked (`_save_interrupted_message`)."""
        text = turn.text + (INTERRUPTED_SUFFIX if interrupted else "")
        self.history.save_turn(self.live_session_id, self.username, [
            (self.username, "user", [{"type": "plain", "text": turn.user_text}], False),
            ("bot", "assistant", [{"type": "plain", "text": text}], interrupted)])

    def _current(self, turn_id: int) -> Turn | None:
        turn = self.turn
        if self.phase is Phase.PROCESSING and turn is not None and turn.id == turn_id:
            return turn
        return None  # a late event of a finished or interrupted turn: dropped

    def _chat_current(self, turn_id: int) -> ChatTurn | None:
        turn = self.chat_turn
        return turn if turn is not None and turn.id == turn_id else None

    def llm_delta(self, turn_id: int, delta: str) -> list[Effect]:
        chat = self._chat_current(turn_id)
        if chat is not None:
            return self._chat_delta(chat, delta) if delta else []
        turn = self._current(turn_id)
        if turn is None or not delta or turn.llm_done_at is not None or turn.transcribing:
            return []
        if turn.first_delta_at is None:
            turn.first_delta_at = self.clock()
        turn.text += delta
        effects: list[Effect] = [Send({"t": "bot_delta_chunk", "data": {"text": delta}})]
        if turn.tts:
            turn.unspoken += delta
            if SENTENCE_END.search(delta):  # only a delta with an ending can finish a sentence
                for sentence in self._complete_sentences(turn):
                    effects += self._speak(turn, sentence)
        return effects

    def llm_done(self, turn_id: int) -> list[Effect]:
        chat = self._chat_current(turn_id)
        if chat is not None:
            return self._chat_done(chat)
        turn = self._current(turn_id)
        if turn is None or turn.llm_done_at is not None or turn.transcribing:
            return []
        effects: list[Effect] = []
        if turn.tts and turn.unspoken:
            effects += self._speak(turn, turn.unspoken)
            turn.unspoken = ""
        turn.llm_done_at = self.clock()
        if turn.speaking is not None:
            return effects  # the closing frames follow the last sentence's audio
        return effects + self._close(turn)

    def _close(self, turn: Turn) -> list[Effect]:
        """The closing frames of a complete turn, once its reply and all its audio are out."""
        effects: list[Effect] = []
        done = turn.llm_done_at if turn.llm_done_at is not None else self.clock()
        first = turn.first_delta_at if turn.first_delta_at is not None else done
        effects.append(Send({"t": "metrics", "data": {"llm_ttft": first - turn.started,
                                                      "llm_total_time": done - turn.started}}))
        if turn.audio_chunks:
            effects.append(Send({"t": "metrics", "data": {
                "tts_total_time": turn.tts_seconds,
                "tts_first_frame_time": (turn.first_audio_at or done) - turn.started,
                "tts": "sim_tts",
                "chat_model": sim_llm.SimLLM.model,
            }}))
        else:
            effects.append(Send({"t": "bot_msg", "data": {"text": turn.text, "ts": self._ms()}}))
        effects.append(Send({"t": "end"}))
        effects.append(Send({"t": "metrics",
                             "data": {"wav_to_tts_total_time": self.clock() - turn.started}}))
        self._save_live_turn(turn, interrupted=False)
        self._finish()
        return effects

    def llm_failed(self, turn_id: int, message: str) -> list[Effect]:
        chat = self._chat_current(turn_id)
        if chat is not None:
            self._save_chat_reply(chat, interrupted=True)
            self.chat_turn = None
            return [Send(chat_error(f"Processing failed: {message}", "PROCESSING_ERROR"))]
        turn = self._current(turn_id)
        if turn is None:
            return []
        self._finish()
        return [Send(live_error(f"Processing failed: {message}", "PROCESSING_ERROR")),
                CancelTurn(turn.id)]  # stops its speech too

    def disconnected(self) -> list[Effect]:
        """The socket is gone: stop running turns, keep what they said, drop buffered audio."""
        effects: list[Effect] = []
        if self.phase is Phase.PROCESSING and self.turn is not None:
            if not self.turn.transcribing:  # no user text yet: nothing to keep
                self._save_live_turn(self.turn, interrupted=True)
            effects.append(CancelTurn(self.turn.id))
        if self.chat_turn is not None:
            self._save_chat_reply(self.chat_turn, interrupted=True)
            effects.append(CancelTurn(self.chat_turn.id))
            self.chat_turn = None
        self._finish()
        self.speaking_stamp = None
        self.audio.clear()
        return effects

    # helpers --------------------------------------------------------------------------------
    def _finish(self) -> None:
        self.phase = Phase.IDLE
        self.turn = None

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def _complete_sentences(turn: Turn) -> list[str]:
        sentences = []
        while True:
            cut = next((m.end() for m in SENTENCE_END.finditer(turn.unspoken)
                        if m.end() >= MIN_TTS_CHUNK), None)
            if cut is None:
                return sentences
            sentences.append(turn.unspoken[:cut])
            turn.unspoken = turn.unspoken[cut:]

    def _speak(self, turn: Turn, text: str) -> list[Effect]:
        """Ask for one sentence's audio, or queue it behind the one being synthesized."""
        if turn.speaking is not None:
            turn.to_speak.append(text)
            return []
        turn.speaking, turn.speak_started = text, self.clock()
        return [Speak(turn.id, text)]

    def spoken(self, turn_id: int, audio: bytes) -> list[Effect]:
        """A sentence's audio is ready: its bot_text_chunk and response, then the next sentence
        (a `Speak`, always the last effect) or the turn's closing frames."""
        turn = self._current(turn_id)
        if turn is None or turn.speaking is None:
            return []  # a late answer for an interrupted or failed turn
        after = self.clock()
        turn.tts_seconds += after - turn.speak_started
        effects: list[Effect] = []
        if turn.first_audio_at is None:
            turn.first_audio_at = after
            effects.append(Send({"t": "metrics",
                                 "data": {"speak_to_first_frame": after - turn.started}}))
        turn.audio_chunks += 1
        effects.append(Send({"t": "bot_text_chunk", "data": {"text": turn.speaking}}))
        effects.append(Send({"t": "response", "data": base64.b64encode(audio).decode("ascii")}))
        turn.speaking = None
        if turn.to_speak:
            effects += self._speak(turn, turn.to_speak.pop(0))
        elif turn.llm_done_at is not None:
            effects += self._close(turn)
        return effects

    def speak_failed(self, turn_id: int, message: str) -> list[Effect]:
        """Text-to-speech failed: the turn ends with a processing error (its LLM stops)."""
        turn = self._current(turn_id)
        if turn is None:
            return []
        self._finish()
        return [Send(live_error(f"Processing failed: {message}", "PROCESSING_ERROR")),
                CancelTurn(turn.id)]
