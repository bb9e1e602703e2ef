"""Sans-I/O engine of the Live API WebSocket protocol (seed 001; server code in seed 000).

A `LiveSession` takes client frames and back-end events and returns effects (`effects.py`):
frames to send, turns to start or cancel, speech to synthesize, history to write. Whether an
event may happen now, and the state it leads to, is decided by the one transition table of
`states.py` (lanes TURN, MIC and CHAT); a refused event raises `states.ProtocolError`, whose
error frame the adapter sends. This module does the work of each transition and holds the data
of the states: the running `Turn`, the audio `Capture`, the `ChatTurn`. It does no I/O, no
sleeping and no clock reading of its own (the clock is injected), so the rules can be driven
exhaustively from tests; `ws.py` moves the bytes and carries out the effects.

Turn order for `text_input` (seed 000, `_process_live_user_text`):
    metrics{input_type:"text"} -> user_msg -> (bot_delta_chunk... and, per TTS sentence,
    [metrics{speak_to_first_frame} once] bot_text_chunk + response) -> metrics{llm_*}
    -> [metrics{tts_*} | bot_msg when no audio was streamed] -> end
    -> metrics{wav_to_tts_total_time}
For audio (`start_speaking` / `speaking_part` / `end_speaking`) the turn opens with
metrics{wav_assemble_time, input_type:"audio"} and metrics{stt} instead, then speech-to-text
runs (TRANSCRIBING; a `Transcribe` effect answered with `transcribed`) and the turn goes on
from user_msg. `interrupt` during a turn: stop_play, the turn is cancelled and its partial text
kept. During speech-to-text (STOPPING) it is kept until the transcript is known: user_msg,
then stop_play at once, and no reply. A second `text_input` / `end_speaking` during a turn:
the busy error (a refusal of the table); the turn goes on.

Speech takes time, so the engine asks for it and is told when it is done: `Speak` one sentence
at a time per turn (answered with `spoken` or `speak_failed`), in sentence order;
bot_text_chunk + response go out when its audio is ready, while later deltas may stream on,
and the turn's closing frames (metrics, end) wait for the last sentence's audio (SPEAKING).
Chat mode (`ct: chat`) is in `chat_mode.py`, through the same table (lane CHAT).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..backends import llm as sim_llm
from . import frames, inbound
from .chat_mode import ChatMode, ChatTurn, meaningful_part
from .effects import (
    CancelTurn,
    Effect,
    SaveMessage,
    SaveTurn,
    Send,
    Speak,
    StartTurn,
    Subscribe,
    Transcribe,
)
from .frames import chat_error, chat_frame, live_error
from .states import Event, Lane, Machine, ProtocolError, State

# the effects and the error are re-exported for adapters and tests that import them from here
__all__ = ["CancelTurn", "ChatTurn", "Capture", "Effect", "LiveSession", "ProtocolError",
           "SaveMessage", "SaveTurn", "Send", "Speak", "StartTurn", "Subscribe", "Transcribe",
           "Turn", "chat_error", "chat_frame", "live_error", "meaningful_part"]

INTERRUPTED_SUFFIX = " [interrupted]"
SENTENCE_END = re.compile(r"[.。!！?？\n]+")
SENTENCE_ENDINGS = frozenset(".。!！?？\n")  # the characters of SENTENCE_END (a set test is faster)
MIN_TTS_CHUNK = 10  # characters; shorter sentences are merged with the next (research LIVE-014)
TURN, MIC = Lane.TURN, Lane.MIC
RUNNING = frozenset({State.TRANSCRIBING, State.STOPPING, State.WAITING_FOR_LLM,
                     State.STREAMING, State.SPEAKING})  # TURN states with a `Turn`
REPLYING = frozenset({State.WAITING_FOR_LLM, State.STREAMING, State.SPEAKING})
CT_CHAT = re.compile(r'"ct"\s*:\s*"chat"')  # a unified frame that says it is chat, unparsed


@dataclass
class Turn:
    """The data of a running live turn (TURN lane in RUNNING)."""

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
    speaking: str | None = None  # the sentence being synthesized
    speak_started: float = 0.0
    to_speak: list[str] = field(default_factory=list)  # sentences waiting for their turn
    llm_done_at: float | None = None  # when the reply was complete (SPEAKING from then on)


@dataclass
class Capture:
    """The data of an open audio segment (MIC lane LISTENING)."""

    stamp: str
    audio: bytearray = field(default_factory=bytearray)


@dataclass
class LiveSession(ChatMode):
    """One WebSocket connection. `mode` is "live" or "chat" when forced by the endpoint, or None
    for the unified endpoints where each frame's `ct` chooses (default live)."""

    username: str
    mode: str | None = "live"
    tts_enabled: bool = True
    clock: Callable[[], float] = time.time
    max_audio_bytes: int = 2 * 16_000 * 120  # two minutes of 16 kHz 16-bit mono
    max_frame_chars: int = 4 * 1024 * 1024
    connection_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    max_bindings: int = 64  # chat sessions one socket may bind (each a hub subscription)
    last_mode: str = "live"  # the mode of the last frame decoded (unified endpoints)

    machine: Machine = field(default_factory=Machine)
    turn: Turn | None = None  # data of the TURN lane
    capture: Capture | None = None  # data of the MIC lane
    chat_turn: ChatTurn | None = None  # data of the CHAT lane
    turns_started: int = 0
    subscriptions: dict[str, str] = field(default_factory=dict)  # session id -> ws_sub id

    @property
    def turn_state(self) -> State:
        return self.machine.states[TURN]

    @property
    def mic_state(self) -> State:
        return self.machine.states[MIC]

    @property
    def chat_state(self) -> State:
        return self.machine.states[Lane.CHAT]

    @property
    def live_session_id(self) -> str:
        """Seed 000 `run_ws_session`: one webchat session per connection."""
        return f"webchat_live!{self.username}!{self.connection_id}"

    # client input ---------------------------------------------------------------------------
    def receive_bytes(self, data: bytes) -> list[Effect]:
        return [Send(self.input_error("Binary frames are not supported; send UTF-8 JSON text"))]

    def receive_text(self, raw: str) -> list[Effect]:
        if len(raw) > self.max_frame_chars:
            return [Send(self.input_error(f"Frame larger than {self.max_frame_chars} characters",
                                          raw[:4096]))]
        try:
            frame = inbound.decode(raw)
        except inbound.BadFrame as bad:
            return [Send(self.input_error(bad.message, raw))]
        if not isinstance(frame, dict):
            return [Send(self.input_error("Frame must be a JSON object", raw))]
        mode = self.last_mode = self.mode or ("chat" if frame.get("ct") == "chat" else "live")
        if mode == "chat":
            return self._chat_frame(frame)
        kind = frame.get("t")
        handler = self._LIVE_HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return [Send(live_error(f"Unsupported message type: {frame.get('t')}"))]
        return handler(self, frame)

    def input_error(self, message: str, raw: str | None = None) -> dict:
        """The error frame for a frame that cannot be read, in the connection's mode: the chat
        error (seed 001 "Chat errors") on a chat socket, or on a unified one when the frame
        says `"ct":"chat"` (or says nothing and the last frame read was chat)."""
        mode = self.mode
        if mode is None:
            mode = "chat" if raw is not None and CT_CHAT.search(raw) else self.last_mode
        if mode == "chat":
            return chat_error(message, frames.INVALID)
        return live_error(message)

    def internal_error(self) -> dict:
        """The mode's processing error, for a frame or an event whose handling failed."""
        if (self.mode or self.last_mode) == "chat":
            return chat_error("Processing failed: internal error", frames.PROCESSING)
        return frames.processing_failed("internal error")

    def _start_speaking(self, frame: dict) -> list[Effect]:
        stamp = frame.get("stamp")
        if not isinstance(stamp, str) or not stamp:
            return [Send(live_error("start_speaking needs a non-empty string stamp"))]
        self.machine.fire(MIC, Event.START_SPEAKING)
        self.capture = Capture(stamp)
        return []

    def _speaking_part(self, frame: dict) -> list[Effect]:
        self.machine.next_state(MIC, Event.SPEAKING_PART)  # refused outside a segment
        data = frame.get("data")
        if not isinstance(data, str) or not data:
            return [Send(live_error("speaking_part needs base64 audio in data"))]
        try:
            pcm = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return [Send(live_error("speaking_part data is not valid base64"))]
        if len(self.capture.audio) + len(pcm) > self.max_audio_bytes:
            self.machine.fire(MIC, Event.CAPTURE_TOO_LONG)
            self.capture = None
            return [Send(live_error("Audio segment too long; capture discarded"))]
        self.machine.fire(MIC, Event.SPEAKING_PART)
        self.capture.audio.extend(pcm)
        return []

    def _end_capture(self) -> bytes:
        """Close the open audio segment; its audio."""
        self.machine.fire(MIC, Event.END_SPEAKING)
        pcm, self.capture = bytes(self.capture.audio), None
        return pcm

    def _end_speaking(self, frame: dict) -> list[Effect]:
        received = self.clock()
        self.machine.next_state(TURN, Event.END_SPEAKING)  # busy while a turn runs
        stamp = frame.get("stamp")
        if not isinstance(stamp, str) or not stamp:
            return [Send(live_error("end_speaking needs a non-empty string stamp"))]
        self.machine.next_state(MIC, Event.END_SPEAKING)  # refused outside a segment
        if stamp != self.capture.stamp:
            return [Send(live_error("Audio assembly failed: stamp does not match start_speaking",
                                    None))]
        pcm = self._end_capture()
        if not pcm:
            return [Send(live_error("Audio assembly failed: no audio received", None))]
        assembled = self.clock()
        self.machine.fire(TURN, Event.END_SPEAKING)
        self.turns_started += 1
        self.turn = Turn(self.turns_started, "", assembled, tts=self.tts_enabled)
        return [Send(frames.metrics(wav_assemble_time=assembled - received, input_type="audio")),
                Send(frames.metrics(stt="sim_stt")),
                Transcribe(self.turn.id, pcm)]

    def _text_input(self, frame: dict) -> list[Effect]:
        self.machine.next_state(TURN, Event.TEXT_INPUT)  # busy while a turn runs
        text = frame.get("text")
        if not isinstance(text, str):
            text = frame.get("message")
        if not isinstance(text, str) or not text.strip():
            return [Send(live_error("message must be non-empty text"))]
        started = self.clock()
        return [Send(frames.metrics(input_type="text")), *self._start_turn(text.strip(), started)]

    def _interrupt(self, frame: dict) -> list[Effect]:
        turn, before = self.turn, self.turn_state
        self.machine.fire(TURN, Event.INTERRUPT)
        if before not in REPLYING or turn is None:
            # idle: nothing to stop (seed 000 only raises a flag the next turn resets);
            # during speech-to-text: the turn opens with user_msg and stops right after it
            return []
        self.turn = None
        return [self._save_live_turn(turn, interrupted=True), Send(frames.stop_play()),
                CancelTurn(turn.id)]

    _LIVE_HANDLERS = {
        "start_speaking": _start_speaking,
        "speaking_part": _speaking_part,
        "end_speaking": _end_speaking,
        "text_input": _text_input,
        "interrupt": _interrupt,
    }

    # turn lifecycle -------------------------------------------------------------------------
    def _start_turn(self, user_text: str, started: float) -> list[Effect]:
        self.machine.fire(TURN, Event.TEXT_INPUT)
        self.turns_started += 1
        _, directives = sim_llm.parse(user_text)
        self.turn = Turn(self.turns_started, user_text, started,
                         tts=self.tts_enabled and directives.tts)
        return [Send(frames.user_msg(user_text, self._ms())), StartTurn(self.turn.id, user_text)]

    def _current(self, turn_id: int) -> Turn | None:
        turn = self.turn
        if self.turn_state in RUNNING and turn is not None and turn.id == turn_id:
            return turn
        return None  # a late event of a finished or interrupted turn: dropped

    def transcribed(self, turn_id: int, text: str) -> list[Effect]:
        """Speech-to-text is done: the turn goes on as a text turn (seed 000 `_process_audio`)."""
        turn = self._current(turn_id)
        if turn is None:
            return []
        after = self.machine.fire(TURN, Event.TRANSCRIBED)
        turn.user_text = text
        _, directives = sim_llm.parse(text)
        turn.tts = self.tts_enabled and directives.tts
        user_msg = Send(frames.user_msg(text, self._ms()))
        if after is State.IDLE:  # interrupted before the model said anything
            self.turn = None
            return [self._save_live_turn(turn, interrupted=True), user_msg,
                    Send(frames.stop_play())]
        return [user_msg, StartTurn(turn.id, text)]

    def transcribe_failed(self, turn_id: int, message: str) -> list[Effect]:
        if self._current(turn_id) is None:
            return []
        self.machine.fire(TURN, Event.TRANSCRIBE_FAILED)
        self.turn = None
        return [Send(frames.processing_failed(message))]

    def llm_delta(self, turn_id: int, delta: str) -> list[Effect]:
        chat = self._chat_current(turn_id)
        if chat is not None:
            return self._chat_delta(chat, delta) if delta else []
        turn = self._current(turn_id)
        if turn is None or not delta:
            return []
        self.machine.fire(TURN, Event.LLM_DELTA)
        if turn.first_delta_at is None:
            turn.first_delta_at = self.clock()
        turn.text += delta
        effects: list[Effect] = [Send(frames.bot_delta(delta))]
        if turn.tts:
            turn.unspoken += delta
            if not SENTENCE_ENDINGS.isdisjoint(delta):  # only a delta with an ending can end one
                for sentence in self._complete_sentences(turn):
                    effects += self._speak(turn, sentence)
        return effects

    def llm_done(self, turn_id: int) -> list[Effect]:
        chat = self._chat_current(turn_id)
        if chat is not None:
            return self._chat_done(chat)
        turn = self._current(turn_id)
        if turn is None:
            return []
        self.machine.fire(TURN, Event.LLM_DONE)
        effects: list[Effect] = []
        if turn.tts and turn.unspoken:
            effects += self._speak(turn, turn.unspoken)
            turn.unspoken = ""
        turn.llm_done_at = self.clock()
        if turn.speaking is not None:
            return effects  # the closing frames follow the last sentence's audio
        return effects + self._close(turn)

    def llm_failed(self, turn_id: int, message: str) -> list[Effect]:
        chat = self._chat_current(turn_id)
        if chat is not None:
            return self._chat_failed(chat, message)
        turn = self._current(turn_id)
        if turn is None:
            return []
        self.machine.fire(TURN, Event.LLM_FAILED)
        self.turn = None
        return [Send(frames.processing_failed(message)),
                CancelTurn(turn.id)]  # stops its speech too

    def _close(self, turn: Turn) -> list[Effect]:
        """The closing frames of a complete turn, once its reply and all its audio are out
        (SPEAKING -> IDLE, the table's state-triggered ALL_SPOKEN)."""
        self.machine.fire(TURN, Event.ALL_SPOKEN)
        done = turn.llm_done_at if turn.llm_done_at is not None else self.clock()
        first = turn.first_delta_at if turn.first_delta_at is not None else done
        effects: list[Effect] = [
            self._save_live_turn(turn, interrupted=False),
            Send(frames.metrics(llm_ttft=first - turn.started,
                                llm_total_time=done - turn.started))]
        if turn.audio_chunks:
            effects.append(Send(frames.metrics(
                tts_total_time=turn.tts_seconds,
                tts_first_frame_time=(turn.first_audio_at or done) - turn.started,
                tts="sim_tts", chat_model=sim_llm.SimLLM.model)))
        else:
            effects.append(Send(frames.bot_msg(turn.text, self._ms())))
        effects.append(Send(frames.end()))
        effects.append(Send(frames.metrics(wav_to_tts_total_time=self.clock() - turn.started)))
        self.turn = None
        return effects

    def _save_live_turn(self, turn: Turn, interrupted: bool) -> SaveTurn:
        """Seed 000 keeps live turns, interrupted ones marked (`_save_interrupted_message`)."""
        text = turn.text + (INTERRUPTED_SUFFIX if interrupted else "")
        return SaveTurn(self.live_session_id, self.username, (
            (self.username, "user", [{"type": "plain", "text": turn.user_text}], False),
            ("bot", "assistant", [{"type": "plain", "text": text}], interrupted)))

    # speech -----------------------------------------------------------------------------------
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
        if turn is None:
            return []  # a late answer for an interrupted or failed turn
        self.machine.next_state(TURN, Event.SPOKEN)
        if turn.speaking is None:
            return []  # an answer for no sentence asked: nothing to send
        self.machine.fire(TURN, Event.SPOKEN)
        after = self.clock()
        turn.tts_seconds += after - turn.speak_started
        effects: list[Effect] = []
        if turn.first_audio_at is None:
            turn.first_audio_at = after
            effects.append(Send(frames.metrics(speak_to_first_frame=after - turn.started)))
        turn.audio_chunks += 1
        effects.append(Send(frames.bot_text_chunk(turn.speaking)))
        effects.append(Send(frames.response(audio)))
        turn.speaking = None
        if turn.to_speak:
            effects += self._speak(turn, turn.to_speak.pop(0))
        elif self.turn_state is State.SPEAKING:
            effects += self._close(turn)
        return effects

    def speak_failed(self, turn_id: int, message: str) -> list[Effect]:
        """Text-to-speech failed: the turn ends with a processing error (its LLM stops)."""
        turn = self._current(turn_id)
        if turn is None:
            return []
        self.machine.fire(TURN, Event.SPEAK_FAILED)
        self.turn = None
        return [Send(frames.processing_failed(message)), CancelTurn(turn.id)]

    # the end ----------------------------------------------------------------------------------
    def disconnected(self) -> list[Effect]:
        """The socket is gone: stop running turns, keep what they said, drop buffered audio.
        Every lane goes CLOSED (a second call changes nothing)."""
        effects: list[Effect] = []
        turn, state = self.turn, self.turn_state
        if state in RUNNING and turn is not None:
            if state in REPLYING:  # during speech-to-text there is no user text to keep
                effects.append(self._save_live_turn(turn, interrupted=True))
            effects.append(CancelTurn(turn.id))
        if self.chat_turn is not None:
            effects += [self._save_chat_reply(self.chat_turn, interrupted=True),
                        CancelTurn(self.chat_turn.id)]
        for lane in Lane:
            self.machine.fire(lane, Event.DISCONNECTED)
        self.turn = self.capture = self.chat_turn = None
        return effects

    def _ms(self) -> int:
        return int(self.clock() * 1000)
