"""The Live engine's transition table (simulator/live/states.py): it is total, the machine
follows it, and the engine, driven into every state of every lane, either makes the table's
transition for each event or raises the table's ProtocolError and changes nothing. Plus the
adapter's part: a refused event reaches a real client as its documented error frame."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json

import pytest

from simulator.live.engine import LiveSession
from simulator.live.states import (
    LANE_EVENTS,
    TRANSITIONS,
    Event,
    Lane,
    Machine,
    ProtocolError,
    Refusal,
    State,
)

E, S = Event, State
PCM = base64.b64encode(b"\x01\x00\x02").decode()  # three bytes of audio


def test_the_table_is_total_and_closed():
    for lane, rows in TRANSITIONS.items():
        assert S.IDLE in rows and S.CLOSED in rows, lane
        for state, row in rows.items():
            assert set(row) == set(LANE_EVENTS[lane]), (lane, state)  # every event, once
            for event, to in row.items():
                assert isinstance(to, Refusal) or to in rows, (lane, state, event, to)
            assert row[E.DISCONNECTED] is S.CLOSED, (lane, state)
        closed = rows[S.CLOSED]
        assert [e for e, to in closed.items() if not isinstance(to, Refusal)] == [E.DISCONNECTED]


def test_every_state_is_reachable_from_idle():
    for lane, rows in TRANSITIONS.items():
        seen, todo = {S.IDLE}, [S.IDLE]
        while todo:
            for to in rows[todo.pop()].values():
                if isinstance(to, State) and to not in seen:
                    seen.add(to)
                    todo.append(to)
        assert seen == set(rows), (lane, set(rows) - seen)


def test_the_machine_follows_the_table_for_every_pair():
    for lane, rows in TRANSITIONS.items():
        for (state, row), lane_event in itertools.product(rows.items(), LANE_EVENTS[lane]):
            machine = Machine()
            machine.states[lane] = state
            to = row[lane_event]
            if isinstance(to, Refusal):
                with pytest.raises(ProtocolError) as refused:
                    machine.fire(lane, lane_event)
                assert refused.value.refusal is to and refused.value.frame == to.frame()
                assert machine.states[lane] is state
            else:
                assert machine.fire(lane, lane_event) is to and machine.states[lane] is to


# the engine, driven into each state of each lane -------------------------------------------

def clock():
    ticks = itertools.count()
    return lambda: 1_700_000_000 + next(ticks) / 1000


def send(session: LiveSession, **frame):
    return session.receive_text(json.dumps(frame))


def chat(session: LiveSession, **frame):
    return send(session, ct="chat", **frame)


def voice(session: LiveSession, stamp: str = "s1"):
    send(session, t="start_speaking", stamp=stamp)
    send(session, t="speaking_part", data=PCM)
    return send(session, t="end_speaking", stamp=stamp)


def text_turn(session: LiveSession, *deltas: str) -> None:
    send(session, t="text_input", text="hi")
    for delta in deltas:
        session.llm_delta(session.turn.id, delta)


SENTENCE = "A whole sentence."  # ends a sentence: its Speak is pending until `spoken`
REACH = {
    Lane.TURN: {
        S.IDLE: lambda s: None,
        S.TRANSCRIBING: voice,
        S.STOPPING: lambda s: (voice(s), send(s, t="interrupt")),
        S.WAITING_FOR_LLM: text_turn,
        S.STREAMING: lambda s: text_turn(s, SENTENCE),
        S.SPEAKING: lambda s: (text_turn(s, SENTENCE), s.llm_done(s.turn.id)),
        S.CLOSED: lambda s: s.disconnected(),
    },
    Lane.MIC: {
        S.IDLE: lambda s: None,
        S.LISTENING: lambda s: (send(s, t="start_speaking", stamp="s1"),
                                send(s, t="speaking_part", data=PCM)),
        S.CLOSED: lambda s: s.disconnected(),
    },
    Lane.CHAT: {
        S.IDLE: lambda s: chat(s, t="bind", session_id="room"),
        S.STREAMING: lambda s: (chat(s, t="bind", session_id="room"),
                                chat(s, t="send", message="hi")),
        S.CLOSED: lambda s: (chat(s, t="bind", session_id="room"), s.disconnected()),
    },
}


def _turn_id(s: LiveSession) -> int | None:
    running = s.chat_turn if s.chat_turn is not None else s.turn
    return running.id if running is not None else None


BACKEND = {  # back-end events: they name a running turn; without one they are late answers
    E.TRANSCRIBED: lambda s, turn: s.transcribed(turn, "heard you"),
    E.TRANSCRIBE_FAILED: lambda s, turn: s.transcribe_failed(turn, "stt down"),
    E.LLM_DELTA: lambda s, turn: s.llm_delta(turn, "More words."),
    E.LLM_DONE: lambda s, turn: s.llm_done(turn),
    E.LLM_FAILED: lambda s, turn: s.llm_failed(turn, "boom"),
    E.SPOKEN: lambda s, turn: s.spoken(turn, b"RIFF"),
    E.SPEAK_FAILED: lambda s, turn: s.speak_failed(turn, "tts down"),
}
CLIENT = {
    Lane.TURN: {E.TEXT_INPUT: lambda s: send(s, t="text_input", text="again"),
                E.END_SPEAKING: lambda s: send(s, t="end_speaking", stamp="s9"),
                E.INTERRUPT: lambda s: send(s, t="interrupt")},
    Lane.MIC: {E.START_SPEAKING: lambda s: send(s, t="start_speaking", stamp="s2"),
               E.SPEAKING_PART: lambda s: send(s, t="speaking_part", data=PCM),
               E.END_SPEAKING: lambda s: send(s, t="end_speaking", stamp="s1"),
               E.CAPTURE_TOO_LONG: lambda s: send(s, t="speaking_part", data=PCM)},
    Lane.CHAT: {E.BIND: lambda s: chat(s, t="bind", session_id="other"),
                E.SEND: lambda s: chat(s, t="send", message="again"),
                E.CHAT_INTERRUPT: lambda s: chat(s, t="interrupt"),
                E.PUSHED: lambda s: s.pushed("room", "pushed text")},
}
INTERNAL = {E.ALL_SPOKEN}  # fired by the engine itself (checked below, after SPOKEN)


def cases():
    for lane, states in REACH.items():
        for state, event in itertools.product(states, LANE_EVENTS[lane]):
            if event not in INTERNAL:
                yield pytest.param(lane, state, event, id=f"{lane.value}-{state.name}-{event.name}")


@pytest.mark.parametrize(("lane", "state", "event"), list(cases()))
def test_every_state_and_event_follows_the_table_or_is_refused(lane, state, event):
    session = LiveSession("alice", mode=None, clock=clock(),
                          max_audio_bytes=4 if event is E.CAPTURE_TOO_LONG else 1000)
    REACH[lane][state](session)
    assert session.machine.states[lane] is state
    if (lane, event) == (Lane.TURN, E.END_SPEAKING) and session.mic_state is S.IDLE:
        send(session, t="start_speaking", stamp="s9")  # an utterance to end: only the TURN
        send(session, t="speaking_part", data=PCM)  # lane decides
    moves: list[tuple] = []
    session.machine.observer = lambda *move: moves.append(move)
    if event is E.DISCONNECTED:
        fire = session.disconnected
    elif event in BACKEND:
        turn = _turn_id(session)
        if turn is None:  # nothing running: a late answer, dropped before the table
            assert BACKEND[event](session, 12345) == [] and moves == []
            return
        fire = lambda: BACKEND[event](session, turn)  # noqa: E731
    else:
        fire = lambda: CLIENT[lane][event](session)  # noqa: E731
    expected = TRANSITIONS[lane][state][event]
    before = dict(session.machine.states)
    if isinstance(expected, Refusal):
        moves.clear()
        with pytest.raises(ProtocolError) as refused:
            fire()
        assert refused.value.refusal is expected
        assert session.machine.states == before and not [m for m in moves if m[0] is lane]
        return
    fire()
    mine = [m for m in moves if m[0] is lane]
    assert mine and mine[0] == (lane, state, event, expected), mine
    for moved_lane, was, seen, now in moves:  # chained transitions (ALL_SPOKEN) too
        assert TRANSITIONS[moved_lane][was][seen] is now


def test_the_last_sentence_spoken_closes_the_turn_through_the_table():
    session = LiveSession("alice", clock=clock())
    REACH[Lane.TURN][S.SPEAKING](session)
    moves: list[tuple] = []
    session.machine.observer = lambda *move: moves.append(move)
    out = session.spoken(session.turn.id, b"RIFF")
    assert moves == [(Lane.TURN, S.SPEAKING, E.SPOKEN, S.SPEAKING),
                     (Lane.TURN, S.SPEAKING, E.ALL_SPOKEN, S.IDLE)]
    assert {"t": "end"} in [e.frame for e in out if hasattr(e, "frame")]
    assert session.turn is None and session.turn_state is S.IDLE


# the adapter --------------------------------------------------------------------------------

async def test_a_refused_event_reaches_the_client_as_its_error_frame(sim):
    """speaking_part outside a segment and a chat send during a reply, over a real socket:
    each gets its documented error frame and the connection goes on."""
    key = (await sim.new_key(["chat"]))["api_key"]
    async with sim.http.ws_connect(sim.ws_url(f"/api/v1/live/ws?api_key={key}"
                                              "&username=alice")) as ws:
        await ws.send_json({"t": "speaking_part", "data": PCM})
        assert await asyncio.wait_for(ws.receive_json(), 5) == {
            "t": "error", "data": "speaking_part before start_speaking",
            "code": "INVALID_MESSAGE_FORMAT"}
        await ws.send_json({"t": "text_input", "text": "[[sim:delay=200]] a slow one"})
        await ws.send_json({"t": "text_input", "text": "a second one"})
        seen = []
        while (frame := await asyncio.wait_for(ws.receive_json(), 10))["t"] != "end":
            seen.append(frame)
        assert {"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"} in seen
