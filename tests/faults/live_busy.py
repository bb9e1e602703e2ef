"""Faults in busy handling and in the isolation of live connections: the busy error for each
input kind and each phase of a turn, the moment right after `end`, sessions of one user on
several sockets, a connection dropped mid-turn (LIVE-BUSY-*, LIVE-CONN-003, LIVE-CONN-004)."""

from __future__ import annotations

import asyncio

from simulator.app import Simulator
from simulator.live import frames, ws
from simulator.live.engine import RUNNING, CancelTurn, LiveSession, Send
from simulator.live.frames import BUSY
from simulator.live.states import Lane, ProtocolError, State

from . import Fault, kit


def live_handler(kind: str):
    """Decorator: the engine's handler of client frames of type `kind` becomes
    `fn(original, session, frame)` (the engine dispatches through a table, not by name)."""
    def install(fn):
        original = LiveSession._LIVE_HANDLERS[kind]
        LiveSession._LIVE_HANDLERS[kind] = lambda self, frame: fn(original, self, frame)
        return fn
    return install


def _taken_anyway(original, session, frame):
    """Run the handler as if the session were idle: the turn it starts replaces the running
    one, whose late events the engine then drops."""
    session.machine.states[Lane.TURN] = State.IDLE
    return original(session, frame)


def no_busy_check_for(kind: str, when=lambda state: True):
    """`kind` skips the busy check while the running turn's state matches `when`."""
    def patch() -> None:
        @live_handler(kind)
        def handle(original, session, frame):
            if session.turn_state in RUNNING and when(session.turn_state):
                return _taken_anyway(original, session, frame)
            return original(session, frame)
    return patch


def no_busy_check_when(when):
    """Both busy inputs skip the check while the running turn's state matches `when`."""
    def patch() -> None:
        no_busy_check_for("text_input", when)()
        no_busy_check_for("end_speaking", when)()
    return patch


def queued(answer: bool):
    """A busy input is queued and run once the turn ends, after the busy error (`answer`) or
    silently."""
    def patch() -> None:
        for kind in ("text_input", "end_speaking"):
            def install(kind=kind):
                @live_handler(kind)
                def handle(original, session, frame):
                    if session.turn_state in RUNNING:
                        session.__dict__.setdefault("queued", []).append((original, frame))
                        if not answer:
                            return []
                    return original(session, frame)
            install()
        replay_queued()
    return patch


def replay_queued() -> None:
    """After a turn's closing frames, the first queued input is handled."""
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        effects = original(self, turn)
        queued = self.__dict__.get("queued") or []
        if queued:
            handle, frame = queued.pop(0)
            effects += handle(self, frame)
        return effects


def busy_frame(**changes):
    """Every busy error of `kinds` goes out changed."""
    def patch(kinds=("text_input", "end_speaking")) -> None:
        for kind in kinds:
            def install(kind=kind):
                @live_handler(kind)
                def handle(original, session, frame):
                    try:
                        return original(session, frame)
                    except ProtocolError as refused:
                        if refused.frame != BUSY:
                            raise
                        return [Send({**refused.frame, **changes})]
            install()
    return patch


def audio_busy_as_assembly_error() -> None:
    """end_speaking while busy answers with the audio path's own INVALID_MESSAGE_FORMAT."""
    busy_frame(code=frames.INVALID)(kinds=("end_speaking",))


def busy_lingers_after_end() -> None:
    """`is_processing` is cleared by a cleanup that runs 0.4 s after `end`."""
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        effects = original(self, turn)
        self.__dict__["busy_until"] = self.clock() + 0.4
        return effects

    for kind in ("text_input", "end_speaking"):
        def install(kind=kind):
            @live_handler(kind)
            def handle(original, session, frame):
                if session.clock() < session.__dict__.get("busy_until", 0):
                    return [Send(dict(BUSY))]
                return original(session, frame)
        install()


def first_input_after_turn_dropped() -> None:
    """A stale per-turn flag swallows the first text or voice input after each `end`."""
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        self.__dict__["swallow"] = True
        return original(self, turn)

    for kind in ("text_input", "end_speaking"):
        def install(kind=kind):
            @live_handler(kind)
            def handle(original, session, frame):
                if session.__dict__.pop("swallow", False) and session.turn_state is State.IDLE:
                    if kind == "end_speaking" and session.mic_state is State.LISTENING:
                        session._end_capture()
                    return []
                return original(session, frame)
        install()


# connections -------------------------------------------------------------------------------

def reconnect_resumes_stuck_session() -> None:
    """A connection dropped mid-turn is parked for its user to resume, without resetting its
    turn: the user's next connection gets a session that stays busy."""
    parked: dict[tuple, LiveSession] = {}

    @kit.wrap(Simulator, "new_live_session")
    def new(original, self, username, mode):
        found = parked.pop((username, mode), None)
        if found is None:
            return original(self, username, mode)
        found.__dict__["resumed"] = True
        return found

    @kit.wrap(LiveSession, "disconnected")
    def disconnected(original, self):
        if self.turn_state in RUNNING and not self.__dict__.get("resumed"):
            parked[(self.username, self.mode)] = self
            return [CancelTurn(self.turn.id)]
        return original(self)


def busy_per_user() -> None:
    """The busy flag is kept per username (the webchat session key), not per connection."""
    sessions: list[LiveSession] = []

    @kit.wrap(Simulator, "new_live_session")
    def new(original, self, username, mode):
        session = original(self, username, mode)
        sessions.append(session)
        return session

    @kit.wrap(LiveSession, "disconnected")
    def disconnected(original, self):
        if self in sessions:
            sessions.remove(self)
        return original(self)

    for kind in ("text_input", "end_speaking"):
        def install(kind=kind):
            @live_handler(kind)
            def handle(original, session, frame):
                if any(s is not session and s.username == session.username
                       and s.turn_state in RUNNING for s in sessions):
                    return [Send(dict(BUSY))]
                return original(session, frame)
        install()


def frames_to_every_socket_of_the_user() -> None:
    """Live frames go to every open socket of the user (a hub keyed by username)."""
    sockets: dict[int, tuple[LiveSession, object]] = {}

    @kit.wrap(ws, "run_session")
    async def run_session(original, socket, request, sim, session):
        if isinstance(session, LiveSession) and session.mode == "live":
            sockets[id(session)] = (session, socket)
        try:
            return await original(socket, request, sim, session)
        finally:
            sockets.pop(id(session), None)

    def fan_out(session, method, effects):
        for other, socket in list(sockets.values()):
            if other is not session and other.username == session.username:
                for frame in kit.sent(effects):
                    asyncio.get_running_loop().create_task(
                        socket.send_str(ws.frame_json(frame)))
        return effects

    kit.frames(fan_out)


FAULTS = [
    Fault("busy-check-text-only", "`end_speaking` during a turn starts a voice turn that "
          "replaces the running one: the busy check was written in the text_input branch only",
          no_busy_check_for("end_speaking"), breaks=("LIVE-BUSY-002", "LIVE-BUSY-003"),
          may=("LIVE-ORDER-001",)),
    Fault("busy-check-audio-only", "`text_input` during a turn starts a turn that replaces the "
          "running one: the busy check exists only in the end_speaking branch (text_input was "
          "added later, seed 001)",
          no_busy_check_for("text_input"), breaks=("LIVE-BUSY-001", "LIVE-BUSY-003"),
          may=("LIVE-ORDER-001", "LIVE-INT-002", "LIVE-INT-004")),
    Fault("busy-then-queued", "the busy error goes out, yet the input is also queued and "
          "played as a turn of its own after `end` (a per-connection input queue, as real "
          "AstrBot reads frames one at a time)",
          queued(answer=True), breaks=("LIVE-BUSY-003",), may=("LIVE-ORDER-001",)),
    Fault("busy-queued-silently", "a busy input gets no answer and is queued, played after "
          "`end` (frames read one at a time, as real AstrBot 4.26.2 does)", queued(answer=False),
          breaks=("LIVE-BUSY-001", "LIVE-BUSY-002", "LIVE-BUSY-003"),
          may=("LIVE-ORDER-001",)),
    Fault("busy-code-session-busy", "the busy error carries code `SESSION_BUSY` instead of "
          "`PROCESSING_ERROR` (a more specific code felt right)",
          busy_frame(code="SESSION_BUSY"), breaks=("LIVE-BUSY-001", "LIVE-BUSY-002")),
    Fault("busy-text-lowercase", "the busy error text is `session is busy` (a style pass "
          "lower-cased error texts)",
          busy_frame(data="session is busy"), breaks=("LIVE-BUSY-001", "LIVE-BUSY-002"),
          # an error that is not the busy error is a processing error, which ends the turn
          # (seed 001 `error`): the running turn looks ended, then streams on
          may=("LIVE-ORDER-001", "LIVE-BUSY-003")),
    Fault("busy-audio-invalid-format", "`end_speaking` while busy gets the busy text with the "
          "audio path's own code INVALID_MESSAGE_FORMAT (the stamp errors' code, copied)",
          audio_busy_as_assembly_error, breaks=("LIVE-BUSY-002",)),
    Fault("not-busy-during-stt", "the session counts as processing only once speech-to-text "
          "is done (the flag is set where the LLM is called): an input during transcription "
          "starts a turn that replaces the voice turn",
          no_busy_check_when(lambda state: state in (State.TRANSCRIBING, State.STOPPING)),
          breaks=("LIVE-BUSY-001", "LIVE-BUSY-002"), may=("LIVE-ORDER-001", "LIVE-BUSY-003",
                                                          "LIVE-INT-002", "LIVE-INT-004")),
    Fault("not-busy-before-first-delta", "the session counts as processing from the first LLM "
          "delta on (the flag is set in the stream callback): an input sent before it starts "
          "a turn that replaces the first",
          no_busy_check_when(lambda state: state is State.WAITING_FOR_LLM),
          breaks=("LIVE-BUSY-001", "LIVE-BUSY-002"),
          may=("LIVE-ORDER-001", "LIVE-BUSY-003", "LIVE-INT-002", "LIVE-INT-004")),
    Fault("not-busy-while-tts-finishes", "the processing flag is cleared when the LLM stream "
          "ends, while the last sentences' speech is still being synthesized: an input then "
          "starts a turn that replaces the one still speaking",
          no_busy_check_when(lambda state: state is State.SPEAKING),
          breaks=("LIVE-BUSY-001", "LIVE-BUSY-002"), may=("LIVE-ORDER-001", "LIVE-BUSY-003")),
    Fault("busy-lingers-after-end", "the processing flag is cleared by a cleanup task that "
          "runs 0.4 s after `end`: an input sent right after `end` gets the busy error",
          busy_lingers_after_end, breaks=("LIVE-BUSY-004",),
          # the input-error check sends its blank text_input right after a turn
          may=("LIVE-ORDER-001", "LIVE-INT-005", "LIVE-INPUT-001")),
    Fault("first-input-after-turn-dropped", "a stale per-turn flag makes the first text or "
          "voice input after each `end` vanish without an answer",
          first_input_after_turn_dropped, breaks=("LIVE-BUSY-004",),
          # the checks of a blank text_input and of an idle interrupt each send their input
          # after a turn
          may=("LIVE-ORDER-001", "LIVE-INPUT-001", "LIVE-INT-003")),
    Fault("reconnect-resumes-stuck-session", "a connection dropped mid-turn is parked for its "
          "user to resume, its turn never reset: the user's next connection stays busy",
          reconnect_resumes_stuck_session, breaks=("LIVE-CONN-003",)),
    Fault("busy-per-user", "the busy flag is kept per username (the webchat session key) "
          "instead of per connection: a turn on one socket makes the user's other socket busy",
          busy_per_user, breaks=("LIVE-CONN-004",)),
    Fault("frames-to-every-user-socket", "a turn's frames go to every open live socket of the "
          "same user (a push hub keyed by username, as for IM delivery)",
          frames_to_every_socket_of_the_user, breaks=("LIVE-CONN-004",),
          may=("LIVE-ORDER-001",)),
]
