"""The Live API session's states and its one transition table, in the manner of h11's
`_state.py`: everything that decides whether an event may happen now, and what the session is
doing after it, is here; `engine.py` does the work a transition stands for (the frames, the
effects) and holds the data of each state (the running `Turn`, the audio `Capture`, the
`ChatTurn`).

Like h11 (a client and a server machine side by side), a session is three small machines, one
per lane, because the protocol lets their activities overlap on one socket:

- TURN, the live turn: IDLE -> (TRANSCRIBING -> | STOPPING ->) WAITING_FOR_LLM -> STREAMING ->
  SPEAKING -> IDLE. TRANSCRIBING: speech-to-text of the user's audio; STOPPING: an interrupt
  came during it, the turn stops once the transcript is known; WAITING_FOR_LLM: `user_msg` is
  out, no delta yet; STREAMING: deltas stream (sentences may be synthesized meanwhile);
  SPEAKING: the reply is complete, its last sentences' audio is not out yet.
- MIC, the audio capture: IDLE <-> LISTENING (between `start_speaking` and `end_speaking`);
  a client may start capturing the next utterance while a turn runs.
- CHAT, a chat-mode reply (`ct: chat`): IDLE <-> STREAMING. A unified socket can run one next
  to a live turn.

Every lane ends in CLOSED when the socket goes. `TRANSITIONS[lane][state][event]` is total:
each event a lane sees has, in each of its states, either the new state or a `Refusal`. A
refused event raises `ProtocolError`, which carries the documented error frame; the adapter
sends it and the state does not change. An event whose content is bad (a blank text, a wrong
stamp) is not a transition at all: the engine answers it with an error frame and stays put.
`ALL_SPOKEN` is what h11 calls a state-triggered transition: the engine fires it as soon as a
SPEAKING turn has nothing left to synthesize.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from . import frames


class _Member(Enum):
    """Members hashed by identity (they are singletons): `Enum.__hash__` is Python code, and
    the table is looked up several times per frame."""

    __hash__ = object.__hash__


class Lane(_Member):
    TURN = "turn"
    MIC = "mic"
    CHAT = "chat"


class State(_Member):
    IDLE = "idle"
    LISTENING = "listening to audio"
    TRANSCRIBING = "transcribing the user's audio"
    STOPPING = "interrupted during speech-to-text, waiting for the transcript"
    WAITING_FOR_LLM = "waiting for the LLM's first delta"
    STREAMING = "streaming the reply"
    SPEAKING = "speaking the reply's last sentences"
    CLOSED = "closed"


class Event(_Member):
    # client frames
    TEXT_INPUT = "text_input"
    START_SPEAKING = "start_speaking"
    SPEAKING_PART = "speaking_part"
    END_SPEAKING = "end_speaking"
    INTERRUPT = "interrupt"
    BIND = "bind"
    SEND = "send"
    CHAT_INTERRUPT = "chat interrupt"
    # back-end answers and what the adapter reports
    TRANSCRIBED = "transcribed"
    TRANSCRIBE_FAILED = "transcribe_failed"
    LLM_DELTA = "llm_delta"
    LLM_DONE = "llm_done"
    LLM_FAILED = "llm_failed"
    SPOKEN = "spoken"
    SPEAK_FAILED = "speak_failed"
    PUSHED = "pushed"
    DISCONNECTED = "disconnected"
    # fired by the engine itself
    CAPTURE_TOO_LONG = "capture too long"
    ALL_SPOKEN = "all spoken"


@dataclass(frozen=True)
class Refusal:
    """Why an event cannot happen in a state, and the error frame the client gets for it."""

    reason: str
    frame: Callable[[], dict]


BUSY = Refusal("a turn is processing", frames.busy)
NOT_LISTENING = Refusal("no audio segment is open", lambda: frames.live_error(
    "speaking_part before start_speaking"))
NO_SEGMENT = Refusal("no audio segment is open", lambda: frames.live_error(
    "Audio assembly failed: stamp does not match start_speaking", None))
CHAT_BUSY = Refusal("a chat reply is streaming", frames.chat_busy)
OUT_OF_ORDER = Refusal("the running turn cannot take this event now (an adapter bug)",
                       lambda: frames.processing_failed("event out of order"))
CHAT_OUT_OF_ORDER = Refusal("no chat reply takes this event now (an adapter bug)",
                            lambda: frames.chat_error("Processing failed: event out of order",
                                                      frames.PROCESSING))
GONE = Refusal("the connection is closed", lambda: frames.live_error("Connection closed"))


class ProtocolError(Exception):
    """An event the table refuses in the current state. `frame` is the error frame the
    adapter sends for it; nothing else happened."""

    def __init__(self, lane: Lane, state: State, event: Event, refusal: Refusal):
        super().__init__(f"{event.value} refused in {lane.value} state {state.name}: "
                         f"{refusal.reason}")
        self.lane, self.state, self.event, self.refusal = lane, state, event, refusal
        self.frame = refusal.frame()


S, E = State, Event
TURN_EVENTS = (E.TEXT_INPUT, E.END_SPEAKING, E.INTERRUPT, E.TRANSCRIBED, E.TRANSCRIBE_FAILED,
               E.LLM_DELTA, E.LLM_DONE, E.LLM_FAILED, E.SPOKEN, E.SPEAK_FAILED, E.ALL_SPOKEN,
               E.DISCONNECTED)
MIC_EVENTS = (E.START_SPEAKING, E.SPEAKING_PART, E.END_SPEAKING, E.CAPTURE_TOO_LONG,
              E.DISCONNECTED)
CHAT_EVENTS = (E.BIND, E.SEND, E.CHAT_INTERRUPT, E.LLM_DELTA, E.LLM_DONE, E.LLM_FAILED,
               E.PUSHED, E.DISCONNECTED)


def _row(default: Refusal, **moves: State | Refusal) -> dict:
    """One state's row: the events named move (or are refused) as given, `default` for the
    rest of the lane's events; filled in to every event of the lane below."""
    return {"default": default, **{E[name]: to for name, to in moves.items()}}


_BUSY_TURN = dict(TEXT_INPUT=BUSY, END_SPEAKING=BUSY)
_ROWS: dict[Lane, dict[State, dict]] = {
    Lane.TURN: {
        S.IDLE: _row(OUT_OF_ORDER, TEXT_INPUT=S.WAITING_FOR_LLM, END_SPEAKING=S.TRANSCRIBING,
                     INTERRUPT=S.IDLE, DISCONNECTED=S.CLOSED),
        S.TRANSCRIBING: _row(OUT_OF_ORDER, **_BUSY_TURN, INTERRUPT=S.STOPPING,
                             TRANSCRIBED=S.WAITING_FOR_LLM, TRANSCRIBE_FAILED=S.IDLE,
                             DISCONNECTED=S.CLOSED),
        S.STOPPING: _row(OUT_OF_ORDER, **_BUSY_TURN, INTERRUPT=S.STOPPING, TRANSCRIBED=S.IDLE,
                         TRANSCRIBE_FAILED=S.IDLE, DISCONNECTED=S.CLOSED),
        S.WAITING_FOR_LLM: _row(OUT_OF_ORDER, **_BUSY_TURN, INTERRUPT=S.IDLE,
                                LLM_DELTA=S.STREAMING, LLM_DONE=S.SPEAKING, LLM_FAILED=S.IDLE,
                                DISCONNECTED=S.CLOSED),
        S.STREAMING: _row(OUT_OF_ORDER, **_BUSY_TURN, INTERRUPT=S.IDLE, LLM_DELTA=S.STREAMING,
                          LLM_DONE=S.SPEAKING, LLM_FAILED=S.IDLE, SPOKEN=S.STREAMING,
                          SPEAK_FAILED=S.IDLE, DISCONNECTED=S.CLOSED),
        S.SPEAKING: _row(OUT_OF_ORDER, **_BUSY_TURN, INTERRUPT=S.IDLE, SPOKEN=S.SPEAKING,
                         SPEAK_FAILED=S.IDLE, ALL_SPOKEN=S.IDLE, DISCONNECTED=S.CLOSED),
        S.CLOSED: _row(GONE, DISCONNECTED=S.CLOSED),
    },
    Lane.MIC: {
        S.IDLE: _row(GONE, START_SPEAKING=S.LISTENING, SPEAKING_PART=NOT_LISTENING,
                     END_SPEAKING=NO_SEGMENT, CAPTURE_TOO_LONG=NOT_LISTENING,
                     DISCONNECTED=S.CLOSED),
        S.LISTENING: _row(GONE, START_SPEAKING=S.LISTENING, SPEAKING_PART=S.LISTENING,
                          END_SPEAKING=S.IDLE, CAPTURE_TOO_LONG=S.IDLE, DISCONNECTED=S.CLOSED),
        S.CLOSED: _row(GONE, DISCONNECTED=S.CLOSED),
    },
    Lane.CHAT: {
        S.IDLE: _row(CHAT_OUT_OF_ORDER, BIND=S.IDLE, SEND=S.STREAMING, CHAT_INTERRUPT=S.IDLE,
                     PUSHED=S.IDLE, DISCONNECTED=S.CLOSED),
        S.STREAMING: _row(CHAT_OUT_OF_ORDER, BIND=S.STREAMING, SEND=CHAT_BUSY,
                          CHAT_INTERRUPT=S.IDLE, LLM_DELTA=S.STREAMING, LLM_DONE=S.IDLE,
                          LLM_FAILED=S.IDLE, PUSHED=S.STREAMING, DISCONNECTED=S.CLOSED),
        S.CLOSED: _row(GONE, DISCONNECTED=S.CLOSED),
    },
}
LANE_EVENTS = {Lane.TURN: TURN_EVENTS, Lane.MIC: MIC_EVENTS, Lane.CHAT: CHAT_EVENTS}

# The table: TRANSITIONS[lane][state][event] -> the new state, or the Refusal.
TRANSITIONS: dict[Lane, dict[State, dict[Event, State | Refusal]]] = {
    lane: {state: {event: row.get(event, row["default"]) for event in LANE_EVENTS[lane]}
           for state, row in rows.items()}
    for lane, rows in _ROWS.items()}


class Machine:
    """The session's state in each lane, moved only through `TRANSITIONS`. `observer`, when
    set, is told every transition made (tests use it to check each against the table)."""

    def __init__(self) -> None:
        self.states: dict[Lane, State] = {lane: State.IDLE for lane in Lane}
        self.observer: Callable[[Lane, State, Event, State], None] | None = None

    def next_state(self, lane: Lane, event: Event) -> State:
        """Where `event` would take `lane` now; raises ProtocolError if it is refused."""
        state = self.states[lane]
        to = TRANSITIONS[lane][state][event]
        if isinstance(to, Refusal):
            raise ProtocolError(lane, state, event, to)
        return to

    def fire(self, lane: Lane, event: Event) -> State:
        """Make the transition (or raise ProtocolError, changing nothing); the new state."""
        before, to = self.states[lane], self.next_state(lane, event)
        self.states[lane] = to
        if self.observer is not None:
            self.observer(lane, before, event, to)
        return to
