"""The sans-I/O Live engine, driven directly: turn order as a Hypothesis property, busy,
interrupt, audio turns, speech that takes time (`Transcribe` / `Speak` answered later) and
malformed input. No sockets, no sleeps: microseconds per case."""

from __future__ import annotations

import base64
import io
import itertools
import json
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from conformance.invariants import live_violations
from simulator.backends import speech
from simulator.backends.llm import parse as parse_directives
from simulator.backends.llm import reply_for, split_deltas
from simulator.live.engine import (
    RUNNING,
    CancelTurn,
    LiveSession,
    Send,
    Speak,
    StartTurn,
    Transcribe,
)
from simulator.live.states import TRANSITIONS, Event, Lane, ProtocolError, Refusal, State

from .engine_driver import Driven

CONTENT = {"user_msg", "bot_delta_chunk", "bot_text_chunk", "response", "bot_msg"}


def fake_clock():
    ticks = itertools.count()
    return lambda: 1_700_000_000 + next(ticks) / 1000


def new_session(history=None, **kwargs) -> Driven:
    """A session driven as the adapter drives it (refusals as frames, history written)."""
    return Driven(LiveSession(username="alice", clock=fake_clock(), **kwargs), history)


def frames(effects) -> list[dict]:
    return [e.frame for e in effects if isinstance(e, Send)]


def spoken_at_once(session: LiveSession, effects) -> list[dict]:
    """The frames of `effects`, every `Speak` answered at once (as the `instant` profile)."""
    out, pending = [], list(effects)
    while pending:
        effect = pending.pop(0)
        if isinstance(effect, Send):
            out.append(effect.frame)
        elif isinstance(effect, Speak):
            pending[:0] = session.spoken(effect.turn, speech.synthesize(effect.text))
    return out


def run_turn(session: LiveSession, text: str) -> list[dict]:
    """text_input, then the deltas the simulator's LLM would stream, then done."""
    effects = session.receive_text(json.dumps({"t": "text_input", "text": text}))
    out = frames(effects)
    start = next(e for e in effects if isinstance(e, StartTurn))
    clean, directives = parse_directives(start.text)
    for delta in split_deltas(reply_for(clean, directives), directives.chunk):
        out += spoken_at_once(session, session.llm_delta(start.turn, delta))
    return out + spoken_at_once(session, session.llm_done(start.turn))


def order_violations(turn: list[dict]) -> list[str]:
    """The seed order of one completed text turn (what the suite checks on the wire)."""
    problems = []
    types = [f["t"] for f in turn]
    if types[:2] != ["metrics", "user_msg"] or turn[0]["data"].get("input_type") != "text":
        problems.append(f"bad opening {types[:2]}")
    if types.count("end") != 1:
        problems.append("not exactly one end")
    else:
        after = types[types.index("end") + 1:]
        if any(t != "metrics" for t in after):
            problems.append(f"after end: {after}")
    deltas = "".join(f["data"]["text"] for f in turn if f["t"] == "bot_delta_chunk")
    chunks = "".join(f["data"]["text"] for f in turn if f["t"] == "bot_text_chunk")
    has_audio = "response" in types
    if has_audio and chunks != deltas:
        problems.append("bot_text_chunk texts differ from the deltas")
    if has_audio == ("bot_msg" in types):
        problems.append("bot_msg must appear exactly when no audio was streamed")
    for i, t in enumerate(types):
        if t == "bot_text_chunk" and next(
                (x for x in types[i + 1:] if x in ("response", "bot_text_chunk", "end")),
                None) != "response":
            problems.append(f"bot_text_chunk #{i} not followed by its response")
    return problems


reply_texts = st.text(
    alphabet=st.sampled_from(list("abc xyz,.!?。！\n")), min_size=0, max_size=80)


@settings(max_examples=300, deadline=None)
@given(reply=reply_texts, chunk=st.integers(1, 5), tts=st.booleans())
def test_any_reply_streams_in_seed_order(reply, chunk, tts):
    session = new_session(tts_enabled=tts)
    turn = run_turn(session, f"hi [[sim:reply={reply}]] [[sim:chunk={chunk}]]")
    assert order_violations(turn) == []
    if tts and reply.strip():
        for f in turn:
            if f["t"] == "response":
                with wave.open(io.BytesIO(base64.b64decode(f["data"]))) as wav:
                    assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) \
                        == (16000, 1, 2)


def test_text_turn_exact_frames():
    turn = run_turn(new_session(), "  Hello there  ")
    types = [f["t"] for f in turn]
    assert types[:3] == ["metrics", "user_msg", "bot_delta_chunk"]
    assert turn[1]["data"]["text"] == "Hello there"
    assert isinstance(turn[1]["data"]["ts"], int)
    assert types[-2:] == ["end", "metrics"] and "wav_to_tts_total_time" in turn[-1]["data"]
    chunks = [f["data"]["text"] for f in turn if f["t"] == "bot_text_chunk"]
    assert chunks == ["You said: Hello there.", " I am the AstrBot simulator."]


def test_tts_off_answers_with_bot_msg():
    turn = run_turn(new_session(), "[[sim:tts=off]] hi")
    types = [f["t"] for f in turn]
    assert "response" not in types and types.count("bot_msg") == 1
    assert types.index("bot_msg") < types.index("end")


def test_busy_while_processing_leaves_the_turn_alone():
    session = new_session()
    start = next(e for e in session.receive_text('{"t":"text_input","text":"one"}')
                 if isinstance(e, StartTurn))
    assert frames(session.receive_text('{"t":"text_input","text":"two"}')) == [
        {"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}]
    assert frames(session.receive_text('{"t":"end_speaking","stamp":"s"}'))[0]["code"] \
        == "PROCESSING_ERROR"
    assert spoken_at_once(session, session.llm_delta(start.turn, "Still here."))[0] == {
        "t": "bot_delta_chunk", "data": {"text": "Still here."}}
    assert spoken_at_once(session, session.llm_done(start.turn))[-2] == {"t": "end"}


def test_interrupt_stops_the_turn_and_keeps_its_text():
    session = new_session()
    start = next(e for e in session.receive_text('{"t":"text_input","text":"go"}')
                 if isinstance(e, StartTurn))
    session.llm_delta(start.turn, "Partial")
    effects = session.receive_text('{"t":"interrupt"}')
    assert frames(effects) == [{"t": "stop_play"}]
    assert CancelTurn(start.turn) in effects
    assert session.llm_delta(start.turn, " late") == []  # a late delta is dropped
    assert session.llm_done(start.turn) == []
    last = session.history.rows[-1]
    assert last["interrupted"] and last["content"][0]["text"].startswith("Partial")
    assert session.receive_text('{"t":"interrupt"}') == []  # nothing to stop: silent
    assert frames(session.receive_text('{"t":"text_input","text":"again"}'))[1]["t"] \
        == "user_msg"


def test_audio_turn():
    session = new_session()
    pcm = b"\x01\x00" * 16000  # one second
    assert session.receive_text('{"t":"start_speaking","stamp":"s1"}') == []
    for part in (pcm[:10000], pcm[10000:]):
        payload = base64.b64encode(part).decode()
        assert session.receive_text(json.dumps({"t": "speaking_part", "data": payload})) == []
    effects = session.receive_text('{"t":"end_speaking","stamp":"s1"}')
    out = frames(effects)
    assert out[0]["t"] == "metrics" and out[0]["data"]["input_type"] == "audio"
    assert "wav_assemble_time" in out[0]["data"] and out[1]["data"] == {"stt": "sim_stt"}
    stt = effects[-1]
    assert isinstance(stt, Transcribe) and stt.pcm == pcm and len(out) == 2
    # speech-to-text runs: the session is processing, another input is busy
    assert frames(session.receive_text('{"t":"text_input","text":"x"}'))[0]["data"] \
        == "Session is busy"
    session.receive_text('{"t":"start_speaking","stamp":"s2"}')
    session.receive_text(json.dumps({"t": "speaking_part", "data": "AAAA"}))
    assert frames(session.receive_text('{"t":"end_speaking","stamp":"s2"}'))[0]["code"] \
        == "PROCESSING_ERROR"
    after = session.transcribed(stt.turn, speech.transcribe(stt.pcm))
    assert frames(after)[0]["t"] == "user_msg"
    assert frames(after)[0]["data"]["text"].startswith("Audio of 1.00 seconds")
    assert isinstance(after[-1], StartTurn) and after[-1].turn == stt.turn
    with pytest.raises(ProtocolError):  # a second answer: the turn no longer transcribes
        session.session.transcribed(stt.turn, "again")


def test_interrupt_during_speech_to_text_stops_right_after_user_msg():
    session = new_session()
    session.receive_text('{"t":"start_speaking","stamp":"s1"}')
    session.receive_text(json.dumps({"t": "speaking_part", "data": "AAAA"}))
    stt = session.receive_text('{"t":"end_speaking","stamp":"s1"}')[-1]
    assert session.receive_text('{"t":"interrupt"}') == []  # no user_msg yet to close
    out = session.transcribed(stt.turn, "hello")
    assert [f["t"] for f in frames(out)] == ["user_msg", "stop_play"]
    assert not any(isinstance(e, StartTurn) for e in out)
    assert session.history.rows[-1]["interrupted"]
    assert frames(session.receive_text('{"t":"text_input","text":"next"}'))[1]["t"] \
        == "user_msg"


def test_speech_to_text_failure_ends_the_turn():
    session = new_session()
    session.receive_text('{"t":"start_speaking","stamp":"s1"}')
    session.receive_text(json.dumps({"t": "speaking_part", "data": "AAAA"}))
    stt = session.receive_text('{"t":"end_speaking","stamp":"s1"}')[-1]
    assert frames(session.transcribe_failed(stt.turn, "boom")) == [
        {"t": "error", "data": "Processing failed: boom", "code": "PROCESSING_ERROR"}]
    assert frames(session.receive_text('{"t":"text_input","text":"next"}'))[1]["t"] \
        == "user_msg"


def test_audio_waits_for_speech_and_end_for_the_last_sentence():
    """Speak is asked one sentence at a time; deltas go on meanwhile; end follows the audio."""
    session = new_session()
    start = session.receive_text('{"t":"text_input","text":"x"}')[-1]
    first = session.llm_delta(start.turn, "One sentence here.")
    assert isinstance(first[-1], Speak) and first[-1].text == "One sentence here."
    second = session.llm_delta(start.turn, " And another one.")
    assert frames(second) == [{"t": "bot_delta_chunk", "data": {"text": " And another one."}}]
    assert not any(isinstance(e, Speak) for e in second)  # queued behind the first
    assert not any(isinstance(e, Speak) for e in session.llm_done(start.turn))
    with pytest.raises(ProtocolError):  # the reply is already complete (SPEAKING)
        session.session.llm_done(start.turn)
    audio = speech.synthesize("x")
    out = session.spoken(start.turn, audio)
    assert [f["t"] for f in frames(out)] == ["metrics", "bot_text_chunk", "response"]
    assert isinstance(out[-1], Speak) and out[-1].text == " And another one."
    last = frames(session.spoken(start.turn, audio))
    assert [f["t"] for f in last] == ["bot_text_chunk", "response", "metrics", "metrics",
                                      "end", "metrics"]
    assert session.spoken(start.turn, audio) == []


def test_speech_failure_ends_the_turn_and_stops_the_llm():
    session = new_session()
    start = session.receive_text('{"t":"text_input","text":"x"}')[-1]
    speak = session.llm_delta(start.turn, "A whole sentence.")[-1]
    out = session.speak_failed(speak.turn, "no voice")
    assert frames(out) == [{"t": "error", "data": "Processing failed: no voice",
                            "code": "PROCESSING_ERROR"}]
    assert CancelTurn(start.turn) in out
    assert session.llm_delta(start.turn, "late") == [] and session.spoken(start.turn, b"") == []


def test_interrupt_while_speaking_drops_the_pending_audio():
    session = new_session()
    start = session.receive_text('{"t":"text_input","text":"x"}')[-1]
    session.llm_delta(start.turn, "A whole sentence.")
    session.llm_done(start.turn)
    effects = session.receive_text('{"t":"interrupt"}')
    assert frames(effects) == [{"t": "stop_play"}] and CancelTurn(start.turn) in effects
    assert session.spoken(start.turn, speech.synthesize("x")) == []


def test_audio_errors():
    session = new_session()
    assert frames(session.receive_text('{"t":"end_speaking","stamp":"s1"}'))[0]["t"] == "error"
    session.receive_text('{"t":"start_speaking","stamp":"s1"}')
    assert "stamp" in frames(session.receive_text('{"t":"end_speaking","stamp":"s2"}'))[0]["data"]
    assert "no audio" in frames(session.receive_text('{"t":"end_speaking","stamp":"s1"}'))[0][
        "data"]
    session.receive_text('{"t":"start_speaking","stamp":"s3"}')
    bad = frames(session.receive_text('{"t":"speaking_part","data":"%%%"}'))
    assert bad[0]["code"] == "INVALID_MESSAGE_FORMAT"


def test_malformed_frames_get_error_frames():
    session = new_session()
    for raw in ("not json", "[1, 2]", '"text"', "{}", '{"t": "dance"}',
                '{"t":"text_input","text":"   "}', '{"t":"text_input","text":5}',
                '{"t": [1]}', '{"t": {"a": 1}}', '[' * 100_000 + ']' * 100_000,
                '{"t": ' * 50_000 + '1' + '}' * 50_000):
        out = frames(session.receive_text(raw))
        assert len(out) == 1 and out[0]["t"] == "error" \
            and out[0]["code"] == "INVALID_MESSAGE_FORMAT", raw
    assert frames(session.receive_bytes(b"\x00\x01"))[0]["t"] == "error"
    huge = json.dumps({"t": "text_input", "text": "x" * 100})
    assert frames(new_session(max_frame_chars=50).receive_text(huge))[0]["t"] == "error"
    assert order_violations(run_turn(session, "still usable")) == []


def test_llm_failure_is_an_error_frame():
    session = new_session()
    start = next(e for e in session.receive_text('{"t":"text_input","text":"x"}')
                 if isinstance(e, StartTurn))
    out = frames(session.llm_failed(start.turn, "boom"))
    assert out == [{"t": "error", "data": "Processing failed: boom", "code": "PROCESSING_ERROR"}]
    assert frames(session.receive_text('{"t":"text_input","text":"next"}'))[1]["t"] == "user_msg"


def test_disconnect_cancels_the_running_turn():
    session = new_session()
    start = next(e for e in session.receive_text('{"t":"text_input","text":"x"}')
                 if isinstance(e, StartTurn))
    session.receive_text('{"t":"start_speaking","stamp":"s"}')
    assert session.disconnected() == [CancelTurn(start.turn)]
    assert session.disconnected() == [] and session.capture is None


PCM = base64.b64encode(b"\x01\x00" * 800).decode()


BACKEND_CALLS = {  # each back-end event of the TURN lane, as the adapter reports it
    Event.TRANSCRIBED: lambda s, turn: s.transcribed(turn, "heard you"),
    Event.TRANSCRIBE_FAILED: lambda s, turn: s.transcribe_failed(turn, "stt down"),
    Event.LLM_DELTA: lambda s, turn: s.llm_delta(turn, "More."),
    Event.LLM_DONE: lambda s, turn: s.llm_done(turn),
    Event.LLM_FAILED: lambda s, turn: s.llm_failed(turn, "boom"),
    Event.SPOKEN: lambda s, turn: s.spoken(turn, b"RIFF"),
    Event.SPEAK_FAILED: lambda s, turn: s.speak_failed(turn, "tts down"),
}


class LiveProtocol(RuleBasedStateMachine):
    """Random client sequences and back-end events (deltas, the reply's end or failure, speech
    answered late or failing), the oracles being the frame-order rules of the suite and the
    transition table: every transition the engine makes is one of `TRANSITIONS`, and every
    back-end event the table refuses in the current state raises ProtocolError, changing
    nothing."""

    def __init__(self):
        super().__init__()
        self.session = new_session()
        self.moves: list[tuple] = []
        self.session.machine.observer = lambda *move: self.moves.append(move)
        self.log: list[dict] = []
        self.turn: int | None = None  # the running turn as the model sees it
        self.transcribing = False
        self.interrupted = False  # during speech-to-text
        self.speak: Speak | None = None  # the sentence being synthesized
        self.llm_done = False
        self.deltas: list[str] = []

    def _end_turn(self) -> None:
        self.turn, self.transcribing, self.speak, self.llm_done = None, False, None, False
        self.interrupted = False

    def _apply(self, effects) -> list[dict]:
        out = frames(effects)
        self.log += out
        for effect in effects:
            if isinstance(effect, StartTurn):
                assert self.turn is None or self.transcribing, "a turn started during another"
                self.turn, self.transcribing = effect.turn, False
                self.deltas = split_deltas(reply_for("x. Two sentences now. Three!",
                                                     parse_directives("x")[1]), 1)
            elif isinstance(effect, Transcribe):
                assert self.turn is None
                self.turn, self.transcribing = effect.turn, True
            elif isinstance(effect, Speak):
                assert effect.turn == self.turn and self.speak is None, "two Speak at once"
                self.speak = effect
            elif isinstance(effect, CancelTurn):
                assert effect.turn == self.turn
                self._end_turn()
        if any(f["t"] in ("end", "stop_play") for f in out) or any(
                f["t"] == "error" and f.get("data", "").startswith("Processing failed")
                for f in out):
            self._end_turn()
        return out

    @rule(text=st.text(min_size=1, max_size=20).filter(str.strip))
    def text_input(self, text):
        busy = self.turn is not None
        out = self._apply(self.session.receive_text(json.dumps({"t": "text_input", "text": text})))
        if busy:
            assert out == [{"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}]
        else:
            assert [f["t"] for f in out] == ["metrics", "user_msg"]

    @rule()
    def voice(self):
        busy = self.turn is not None
        for raw in ('{"t":"start_speaking","stamp":"v"}',
                    json.dumps({"t": "speaking_part", "data": PCM})):
            assert self._apply(self.session.receive_text(raw)) == []
        out = self._apply(self.session.receive_text('{"t":"end_speaking","stamp":"v"}'))
        if busy:
            assert out == [{"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}]
        else:
            assert [f["t"] for f in out] == ["metrics", "metrics"] and self.transcribing

    @precondition(lambda self: self.transcribing)
    @rule(fails=st.booleans())
    def speech_to_text(self, fails):
        if fails:
            out = self._apply(self.session.transcribe_failed(self.turn, "stt down"))
            assert [f["t"] for f in out] == ["error"] and self.turn is None
        elif self.interrupted:
            out = self._apply(self.session.transcribed(self.turn, "heard you"))
            assert [f["t"] for f in out] == ["user_msg", "stop_play"] and self.turn is None
        else:
            out = self._apply(self.session.transcribed(self.turn, "heard you"))
            assert [f["t"] for f in out] == ["user_msg"] and not self.transcribing

    @rule()
    def interrupt(self):
        running, transcribing = self.turn is not None, self.transcribing
        out = self._apply(self.session.receive_text('{"t":"interrupt"}'))
        assert out == ([{"t": "stop_play"}] if running and not transcribing else [])
        assert (self.turn is not None) == transcribing
        self.interrupted = self.interrupted or transcribing

    @rule(junk=st.sampled_from(["nope", "[]", "{}", '{"t":"x"}', '{"t":"text_input"}']))
    def junk(self, junk):
        out = self._apply(self.session.receive_text(junk))
        assert [f["t"] for f in out] == ["error"]

    def _streaming(self) -> bool:
        return self.turn is not None and not self.transcribing and not self.llm_done

    @precondition(lambda self: self._streaming() and self.deltas)
    @rule()
    def delta(self):
        out = self._apply(self.session.llm_delta(self.turn, self.deltas.pop(0)))
        assert out[0]["t"] == "bot_delta_chunk"

    @precondition(lambda self: self._streaming())
    @rule()
    def done(self):
        turn = self.turn
        out = self._apply(self.session.llm_done(turn))
        if self.speak is None:
            assert [f["t"] for f in out][-2:] == ["end", "metrics"] and self.turn is None
        else:
            assert "end" not in [f["t"] for f in out]
            self.llm_done = True
        if self.turn is None:
            assert self.session.llm_delta(turn, "late") == []  # a late event: dropped
        else:
            with pytest.raises(ProtocolError):  # SPEAKING: the reply is complete
                self.session.session.llm_delta(turn, "late")

    @precondition(lambda self: self._streaming())
    @rule()
    def llm_fails(self):
        out = self._apply(self.session.llm_failed(self.turn, "boom"))
        assert [f["t"] for f in out] == ["error"] and self.turn is None

    @precondition(lambda self: self.speak is not None)
    @rule(fails=st.booleans())
    def speech(self, fails):
        speak, self.speak = self.speak, None
        if fails:
            self._apply(self.session.speak_failed(speak.turn, "tts down"))
            assert self.turn is None
        else:
            out = self._apply(self.session.spoken(speak.turn, b"RIFF"))
            assert [f["t"] for f in out if f["t"] != "metrics"][:2] \
                == ["bot_text_chunk", "response"]

    @precondition(lambda self: self.turn is not None)
    @rule(event=st.sampled_from(sorted(BACKEND_CALLS, key=lambda e: e.value)))
    def refused_backend_event(self, event):
        """A back-end event the table refuses now: ProtocolError, and nothing changes."""
        state = self.session.turn_state
        if not isinstance(TRANSITIONS[Lane.TURN][state][event], Refusal):
            return  # an allowed one: the rules above play it, with its bookkeeping
        before = dict(self.session.machine.states)
        with pytest.raises(ProtocolError) as refused:
            BACKEND_CALLS[event](self.session.session, self.turn)
        assert refused.value.refusal is TRANSITIONS[Lane.TURN][state][event]
        assert self.session.machine.states == before

    @invariant()
    def transitions_follow_the_table(self):
        for lane, before, event, after in self.moves:
            assert TRANSITIONS[lane][before][event] is after, (lane, before, event, after)
        self.moves.clear()
        session = self.session
        assert (session.turn is not None) == (session.turn_state in RUNNING)
        assert (session.capture is not None) == (session.mic_state is State.LISTENING)
        assert (session.turn_state in (State.TRANSCRIBING, State.STOPPING)) == self.transcribing

    @invariant()
    def frames_follow_the_seed_order(self):
        assert live_violations(self.log) == []
        open_turn = False
        for f in self.log:
            t = f["t"]
            if t == "user_msg":
                open_turn = True
            elif t in ("end", "stop_play") or (t == "error" and f["data"].startswith(
                    "Processing failed")):
                open_turn = False
        assert open_turn == (self.turn is not None and not self.transcribing)


TestLiveProtocol = LiveProtocol.TestCase
TestLiveProtocol.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


@given(st.text(), st.sampled_from(["response", "end", "bot_text_chunk"]))
def test_frames_are_written_as_the_json_encoder_would(data, kind):
    from simulator.http.kernel.envelope import dumps
    from simulator.live.ws import frame_json
    frame = {"t": kind, "data": data}
    assert frame_json(frame) == dumps(frame) and json.loads(frame_json(frame)) == frame


def test_a_live_turn_is_kept_in_the_sqlite_store(tmp_path):
    """Both messages of a turn, its session created once, in a real SQLite file."""
    from simulator.history import StoreHistory
    from simulator.store import Store
    store = Store(tmp_path)
    session = new_session(history=StoreHistory(store))
    run_turn(session, "[[sim:reply=Hi there.]] hello")
    run_turn(session, "[[sim:reply=Again.]] twice")
    rows = store.messages(session.live_session_id)
    assert [(r["role"], r["content"][0]["text"]) for r in rows] == [
        ("user", "[[sim:reply=Hi there.]] hello"), ("assistant", "Hi there."),
        ("user", "[[sim:reply=Again.]] twice"), ("assistant", "Again.")]
    assert store.chat_session_creator(session.live_session_id) == "alice"
    store.close()
