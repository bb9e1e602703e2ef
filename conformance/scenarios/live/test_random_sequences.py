"""Random client sequences against the target, with the frame-order invariants as the oracle
(LIVE-ORDER-001). Hypothesis draws the sequences, derandomized so a run can be replayed; a few
known-hard interleavings are always included."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conformance.clients.live import TargetClosed, TargetTimeout, ends_turn
from conformance.clients.transcript import Transcript
from conformance.invariants import BUSY_TEXT, live_violations, turn_is_open
from conformance.scenario import live_key, open_live, run, send_audio

ACTIONS = ("short", "slow", "interrupt", "junk", "voice")
EXAMPLES = {"quick": 4, "full": 40}
REACT = 0.05  # seconds to listen after each action


async def act(client, target, action: str) -> None:
    if action == "short":
        await client.send({"t": "text_input", "text": "Just a quick question"})
    elif action == "slow":
        await client.send({"t": "text_input", "text": target.slow_text})
    elif action == "interrupt":
        await client.send({"t": "interrupt"})
    elif action == "junk":
        await client.send_raw('{"t": "no_such_frame"}')
    elif action == "voice":
        await send_audio(client, "A short voice question")


async def drain(client, actions: list[str], frames: list[dict]) -> None:
    """Read until every input is answered and no turn is left open, each wait bounded by the
    run's timeout (a voice input is answered only once speech-to-text is done, which takes a
    deployed server longer than any fixed quiet window), then a short quiet."""
    while turn_is_open(frames) or unanswered(actions, frames):
        try:
            frames.append(await client.recv(waiting_for="the open turn to end"
                                            if turn_is_open(frames) else "an input's answer"))
        except TargetTimeout:
            return  # judged below: the turn never ended, or an input was never answered
        if ends_turn(frames[-1]):
            frames.extend(await client.quiet(0.2))
    frames.extend(await client.quiet(0.3))


INPUTS = ("short", "slow", "voice")


def unanswered(actions: list[str], frames: list[dict]) -> list[str]:
    """Liveness: every text or voice input is answered, by its turn or by the busy error."""
    inputs = sum(a in INPUTS for a in actions)
    answers = sum(f.get("t") == "user_msg" or f.get("data") == BUSY_TEXT for f in frames)
    return [f"{inputs - answers} of {inputs} inputs were never answered"] \
        if answers < inputs else []


def play(target, creds, actions: list[str]) -> tuple[list[str], Transcript]:
    """Run one sequence; return the broken rules."""
    transcript = Transcript("random sequence: " + " ".join(actions))

    async def go():
        frames: list[dict] = []
        done: list[str] = []
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            try:
                for action in actions:
                    done.append(action)
                    await act(client, target, action)
                    frames.extend(await client.quiet(REACT))
                await drain(client, actions, frames)
            except TargetClosed as closed:
                if "junk" in done:  # closing on junk is judged by LIVE-INPUT-*, not here
                    return live_violations(frames)
                return [str(closed)] + live_violations(frames)
        return live_violations(frames, complete=True) + unanswered(actions, frames)

    return run(go(), target, waits=4 + 2 * len(actions)), transcript


@pytest.mark.requirement("LIVE-ORDER-001")
def test_random_client_sequences_keep_the_turn_structure(target, creds, depth, evidence):
    failures: list[str] = []

    @settings(max_examples=EXAMPLES[depth], derandomize=True, database=None, deadline=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=5))
    @example(["slow", "interrupt", "short"])
    @example(["slow", "short", "interrupt", "interrupt"])
    @example(["slow", "voice", "junk"])
    @example(["voice", "interrupt", "short"])
    def sequence(actions):
        problems, transcript = play(target, creds, actions)
        if problems:
            evidence.append(transcript)
            failures.append(f"{' '.join(actions)}: " + "; ".join(problems))

    sequence()
    assert not failures, "turn structure broken:\n" + "\n".join(failures)
