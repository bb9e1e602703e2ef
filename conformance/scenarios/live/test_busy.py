"""A second input while a turn runs gets the busy error and leaves the turn alone (seed 000:
`end_speaking` and `text_input` answer `{"t":"error","data":"Session is busy",
"code":"PROCESSING_ERROR"}` while `session.is_processing`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from conformance.clients.live import Turn
from conformance.clients.transcript import Transcript
from conformance.invariants import BUSY_TEXT
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
