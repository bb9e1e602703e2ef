"""`interrupt` stops the running response at once: `stop_play`, then nothing more of that turn
(seed 001 `interrupt` and `stop_play`; seed 000 `_process_live_user_text`). Each race is placed
on a slow turn: before its first delta, between deltas, when idle, twice, during speech-to-text,
and with the next input sent the moment stop_play arrives."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from conformance.clients.live import Turn, ends_turn
from conformance.clients.transcript import Transcript
from conformance.invariants import BUSY_TEXT, CONTENT
from conformance.scenario import (
    live_key,
    open_live,
    require_placed,
    run,
    send_audio,
    start_slow_turn,
)

AFTER_STOP = (*CONTENT, "end")


@dataclass
class Interrupted:
    turn: Turn  # from the start of the turn to its terminal frame, plus what trailed
    next_turn: Turn | None  # a short turn sent after the interrupt
    transcript: Transcript

    def after_stop(self) -> list[str]:
        stop = self.turn.index("stop_play")
        frames = self.turn.frames + self.turn.trailing
        return [f.get("t") for f in frames[stop + 1:]] if stop is not None else []


async def next_input_turn(client) -> Turn:
    """The turn of the input sent after the interrupt, or the busy error it got instead."""
    frames = await client.until(lambda f: ends_turn(f) or f.get("data") == BUSY_TEXT,
                                waiting_for="the turn of the input sent after the interrupt")
    return Turn(frames, await client.quiet(0.3))


def interrupt_race(target, creds, point: str, times: int = 1,
                   next_at_once: bool = False) -> Interrupted:
    """With `next_at_once`, the next input goes out the moment stop_play arrives (as a client
    does when the user speaks over the reply), not after a quiet second."""
    transcript = Transcript(f"interrupt x{times} {point}"
                            + (", the next input at once" if next_at_once else ""))

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            if point == "before the first delta":
                opening = await start_slow_turn(client, target, until=("user_msg",))
            else:
                opening = await start_slow_turn(client, target)
            sent = time.monotonic()
            for _ in range(times):
                await client.send({"t": "interrupt"})
            rest = await client.turn(trailing_grace=0.0 if next_at_once else 1.0)
            # a turn that ends before saying anything was cut short by this interrupt, even
            # when it ended at once and with another frame than stop_play (judged below)
            silent = not any(f.get("t") in CONTENT for f in opening + rest.frames)
            require_placed(rest.terminal == "stop_play" or silent, rest.ended_at - sent)
            await client.send({"t": "text_input", "text": "Hello again"})
            next_turn = await next_input_turn(client)
            return Interrupted(Turn(opening + rest.frames, rest.trailing), next_turn, transcript)

    return run(go(), target)


@pytest.fixture(scope="module")
def before_first_delta(target, creds) -> Interrupted:
    return interrupt_race(target, creds, "before the first delta")


@pytest.fixture(scope="module")
def between_deltas(target, creds) -> Interrupted:
    return interrupt_race(target, creds, "between deltas")


@pytest.fixture(scope="module")
def twice(target, creds) -> Interrupted:
    return interrupt_race(target, creds, "between deltas", times=2)


@pytest.fixture(scope="module")
def next_at_once(target, creds) -> Interrupted:
    return interrupt_race(target, creds, "between deltas", next_at_once=True)


@pytest.fixture(scope="module")
def during_stt(target, creds) -> Interrupted:
    """An interrupt right after `end_speaking`, while speech-to-text runs (or, on a fast
    target, before the first delta). Whether it stops the voice turn is not judged (no model
    or TTS response runs yet); what follows it is: one terminal frame, nothing after a
    stop_play, and the next input taken."""
    transcript = Transcript("interrupt during speech-to-text")

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            await send_audio(client, target.slow_text, stamp="seg_interrupt")
            await client.send({"t": "interrupt"})
            rest = await client.turn(trailing_grace=1.0)
            await client.send({"t": "text_input", "text": "Hello again"})
            next_turn = await next_input_turn(client)
            return Interrupted(rest, next_turn, transcript)

    return run(go(), target)


RACES = ["before_first_delta", "between_deltas"]


@pytest.mark.requirement("LIVE-INT-001")
@pytest.mark.parametrize("race", RACES)
def test_interrupt_sends_stop_play(request, race):
    outcome: Interrupted = request.getfixturevalue(race)
    if outcome.turn.terminal != "stop_play":
        outcome.transcript.mark_sent(("interrupt",), "no stop_play answered this interrupt: "
                                     f"the turn ended with {outcome.turn.terminal!r}")
    assert outcome.turn.terminal == "stop_play", (
        f"interrupt {race.replace('_', ' ')}: the turn ended with {outcome.turn.terminal!r}, "
        f"no stop_play; frames {outcome.turn.types()}")


@pytest.mark.requirement("LIVE-INT-002")
@pytest.mark.parametrize("race", [*RACES, "twice", "during_stt"])
def test_nothing_of_the_turn_after_stop_play(request, race):
    outcome: Interrupted = request.getfixturevalue(race)
    if outcome.turn.index("stop_play") is None:
        pytest.skip("no stop_play to look after (judged by LIVE-INT-001)")
    late = [t for t in outcome.after_stop() if t in AFTER_STOP]
    assert not late, f"frames of the interrupted turn after stop_play: {late}"


@pytest.mark.requirement("LIVE-INT-003")
def test_interrupt_when_idle_is_ignored(target, creds, evidence):
    transcript = Transcript("interrupt after the turn ended")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            await client.send({"t": "text_input", "text": "Hi"})
            await client.turn()
            await client.send({"t": "interrupt"})
            answered = await client.quiet(0.7)
            await client.send({"t": "text_input", "text": "Hello again"})
            return answered, await next_input_turn(client)

    answered, after = run(go(), target)
    assert not answered, f"an interrupt with no running turn was answered with {answered}"
    assert after.terminal == "end", (
        "after an interrupt with no running turn, the next input got no complete turn: "
        f"{after.frames[:6]}")


@pytest.mark.requirement("LIVE-INT-004")
def test_a_second_interrupt_gives_no_second_stop_play(twice):
    frames = twice.turn.frames + twice.turn.trailing
    stops = [f for f in frames if f.get("t") == "stop_play"]
    if not stops:
        pytest.skip("no stop_play at all (judged by LIVE-INT-001)")
    assert len(stops) == 1, f"{len(stops)} stop_play frames for one interrupted turn"


@pytest.mark.requirement("LIVE-INT-005")
@pytest.mark.parametrize("race", [*RACES, "twice", "during_stt", "next_at_once"])
def test_a_new_turn_after_an_interrupt(request, race):
    outcome: Interrupted = request.getfixturevalue(race)
    assert outcome.next_turn.terminal == "end", (
        f"the input sent after the interrupt got no complete turn: {outcome.next_turn.frames[:6]}")
    users = outcome.next_turn.of("user_msg")
    assert users and (users[0].get("data") or {}).get("text") == "Hello again", \
        f"the next turn is not the new input's: {users}"
