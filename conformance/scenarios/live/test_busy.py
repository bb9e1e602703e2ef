"""A second input while a turn runs gets the busy error and leaves the turn alone (seed 000:
`end_speaking` and `text_input` answer `{"t":"error","data":"Session is busy",
"code":"PROCESSING_ERROR"}` while `session.is_processing`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from conformance.clients.http import TargetTimeout
from conformance.clients.live import Turn, ends_turn
from conformance.clients.transcript import Transcript
from conformance.invariants import BUSY_TEXT, turn_is_open
from conformance.outcomes import SuiteError
from conformance.scenario import (
    live_key,
    open_live,
    require_placed,
    run,
    send_audio,
    start_slow_turn,
)


@dataclass
class BusyRace:
    turn: Turn  # the running turn, from its start to its terminal frame and what trailed
    sent_index: int  # index in turn.frames of the first frame after the second input
    transcript: Transcript

    def after_send(self) -> list[dict]:
        return self.turn.frames[self.sent_index:] + self.turn.trailing

    def busy_errors(self) -> list[dict]:
        return [f for f in self.after_send() if f.get("t") == "error"]


def busy_race(target, creds, second_input: str) -> BusyRace:
    transcript = Transcript(f"{second_input} while a slow turn runs")

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            opening = await start_slow_turn(client, target)
            sent = time.monotonic()
            if second_input == "text_input":
                await client.send({"t": "text_input", "text": "A second question"})
            else:
                await send_audio(client, "A second question", stamp="seg_busy")
            rest = await client.turn(trailing_grace=1.0)
            ended = rest.ended_at - sent
            turn = Turn(opening + rest.frames, rest.trailing)
            race = BusyRace(turn, len(opening), transcript)
            require_placed(bool(race.busy_errors()), ended)
            return race

    return run(go(), target)


@pytest.fixture(scope="module")
def text_race(target, creds) -> BusyRace:
    return busy_race(target, creds, "text_input")


@pytest.fixture(scope="module")
def audio_race(target, creds) -> BusyRace:
    return busy_race(target, creds, "end_speaking")


def assert_busy_answer(race: BusyRace):
    errors = race.busy_errors()
    if not errors:
        race.transcript.mark_sent(("text_input", "end_speaking"),
                                  "no busy error answered this input while the turn ran")
    assert errors, ("no busy error: after the second input the target sent "
                    f"{[f.get('t') for f in race.after_send()]}")
    assert errors[0].get("data") == BUSY_TEXT and errors[0].get("code") == "PROCESSING_ERROR", \
        f"expected the busy error, got {errors[0]}"


@pytest.mark.requirement("LIVE-BUSY-001")
def test_text_input_while_busy_gets_the_busy_error(text_race):
    assert_busy_answer(text_race)


@pytest.mark.requirement("LIVE-BUSY-002")
def test_end_speaking_while_busy_gets_the_busy_error(audio_race):
    assert_busy_answer(audio_race)


@pytest.mark.requirement("LIVE-BUSY-003")
@pytest.mark.parametrize("race_name", ["text_race", "audio_race"])
def test_the_running_turn_goes_on_and_the_input_is_not_queued(request, race_name):
    race = request.getfixturevalue(race_name)
    assert race.turn.terminal == "end", \
        f"the running turn ended with {race.turn.terminal!r}, not end"
    later = [f.get("t") for f in race.after_send() if f.get("t") in ("user_msg",)]
    assert not later, ("the rejected input started a turn of its own later (it was queued, "
                       "not refused)")


# Every phase of a turn ---------------------------------------------------------------------
# The race above places its second input after the first content frame. A target can still
# take an input as a turn in another phase: during speech-to-text, before the first delta,
# between deltas, or after the last delta while the last sentences are still being spoken.
# This race sends a second input at once and again after deltas and audio chunks, and judges
# what came before the running turn's terminal frame: no input may have started a turn there.
# (An input that reaches the target after its `end` may start a turn: that is after the
# terminal frame, so it is not judged here.)
MAX_SECOND_INPUTS = 24
SENTENCE_ENDS = ".!?。！？"
SECOND_TEXT = "Are you still busy"
SECOND_VOICE = "Is this a second voice turn"


@dataclass
class PhaseRace:
    frames: list[dict]  # from the first input to the running turn's terminal frame, and after
    sent: list[str]  # what each second input was sent after ("at once", "bot_delta_chunk #4")
    transcript: Transcript
    running: str  # "text" or "voice"
    second: str  # "text_input" or "end_speaking"

    def before_terminal(self) -> list[dict]:
        terminal = next((i for i, f in enumerate(self.frames) if ends_turn(f)), len(self.frames))
        return self.frames[:terminal + 1]

    def taken(self) -> list[dict]:
        """user_msg frames of second inputs before the running turn's terminal frame."""
        said = _words(SECOND_TEXT if self.second == "text_input" else SECOND_VOICE)
        return [f for f in self.before_terminal() if f.get("t") == "user_msg"
                and _words(_text(f)) == said]


def _text(frame: dict):
    data = frame.get("data")
    return data.get("text") if isinstance(data, dict) else None


def _words(text) -> str:
    return " ".join("".join(c for c in str(text).lower() if c.isalnum() or c.isspace()).split())


def due(frame: dict, deltas: int) -> bool:
    """A second input follows the first delta, every delta that ends a sentence (between
    deltas, and after the last one while its sentence is still being spoken) and every audio
    chunk."""
    if frame.get("t") == "response":
        return True
    text = _text(frame) if frame.get("t") == "bot_delta_chunk" else None
    return isinstance(text, str) and (deltas == 1 or any(c in text for c in SENTENCE_ENDS))


def phase_race(target, creds, running: str, second: str) -> PhaseRace:
    transcript = Transcript(f"a {running} turn, {second} sent in every phase of it")

    async def second_input(client, n: int) -> None:
        if second == "text_input":
            await client.send({"t": "text_input", "text": SECOND_TEXT})
        else:
            await send_audio(client, SECOND_VOICE, stamp=f"seg_second_{n}")

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            if running == "text":
                await client.send({"t": "text_input", "text": target.slow_text})
            else:
                await send_audio(client, "Tell me about the sea, in a few sentences",
                                 stamp="seg_running")
            started = time.monotonic()
            await second_input(client, 0)
            sent, frames, deltas = ["at once"], [], 0
            while not (frames and ends_turn(frames[-1])):
                frame = await client.recv(waiting_for="the running turn's terminal frame")
                frames.append(frame)
                kind = frame.get("t")
                deltas += kind == "bot_delta_chunk"
                if due(frame, deltas) and len(sent) < MAX_SECOND_INPUTS:
                    sent.append(f"{kind} #{deltas if kind == 'bot_delta_chunk' else len(sent)}")
                    await second_input(client, len(sent))
            require_placed(any(f.get("data") == BUSY_TEXT for f in frames),
                           time.monotonic() - started)
            # answers of inputs still in flight; a turn one of them started after the end is
            # read to its end, so that no turn is left running when the socket closes
            after = await client.quiet(0.5)
            while turn_is_open(after):
                after.append(await client.recv(waiting_for="the end of a turn started after "
                                               "the running one"))
            return PhaseRace(frames + after, sent, transcript, running, second)

    return run(go(), target)


def assert_every_phase_busy(race: PhaseRace):
    before, taken = race.before_terminal(), race.taken()
    for entry in race.transcript.entries:
        if entry["dir"] == "<<" and any(entry["data"] is f for f in taken[:1]):
            entry["violation"] = "a second input was taken as a turn while the first one ran"
    assert not taken, (f"while a {race.running} turn ran, a second {race.second} started a "
                       f"turn of its own (user_msg {taken[0].get('data')}) instead of getting "
                       f"the busy error; second inputs were sent {', '.join(race.sent)}; the "
                       f"running turn's frames: {[f.get('t') for f in before]}")
    errors = [f for f in before if f.get("t") == "error"]
    assert errors and all(f.get("data") == BUSY_TEXT and f.get("code") == "PROCESSING_ERROR"
                          for f in errors), \
        f"second inputs sent {', '.join(race.sent)} got {errors or 'no error'} before the " \
        "running turn ended, not the busy error"


@pytest.mark.requirement("LIVE-BUSY-001")
@pytest.mark.parametrize("running", ["text", "voice"])
def test_text_input_is_busy_in_every_phase_of_a_turn(target, creds, evidence, running):
    race = phase_race(target, creds, running, "text_input")
    evidence.append(race.transcript)
    assert_every_phase_busy(race)


@pytest.mark.requirement("LIVE-BUSY-002")
@pytest.mark.parametrize("running", ["text", "voice"])
def test_end_speaking_is_busy_in_every_phase_of_a_turn(target, creds, evidence, running):
    race = phase_race(target, creds, running, "end_speaking")
    evidence.append(race.transcript)
    assert_every_phase_busy(race)


# Right after `end` -------------------------------------------------------------------------

@pytest.mark.requirement("LIVE-BUSY-004")
@pytest.mark.parametrize("second", ["text_input", "end_speaking"])
def test_the_input_sent_as_end_arrives_gets_its_turn(target, creds, evidence, second):
    transcript = Transcript(f"a short turn, then {second} as soon as its end arrives")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            await client.send({"t": "text_input", "text": "Just a quick question"})
            first = await client.turn(trailing_grace=0)
            if first.terminal != "end":
                raise SuiteError(f"the first turn ended with {first.terminal!r}, not end: "
                                 "nothing to send an input right after")
            if second == "text_input":
                await client.send({"t": "text_input", "text": "And a second one"})
            else:
                await send_audio(client, "And a second one", stamp="seg_after_end")
            try:
                return await client.turn()
            except TargetTimeout:
                return None

    turn = run(go(), target)
    assert turn is not None, (f"the {second} sent as the previous turn's end arrived got no "
                              f"answer within {target.timeout} s: it was dropped")
    busy = [f for f in turn.frames if f.get("data") == BUSY_TEXT]
    assert not busy, (f"the {second} sent as the previous turn's end arrived got the busy "
                      "error: the session was still busy after end")
    assert "user_msg" in turn.types() and turn.terminal == "end", \
        f"the {second} sent right after end got {turn.types()}, not a complete turn"
