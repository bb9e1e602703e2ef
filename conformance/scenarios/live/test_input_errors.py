"""Bad `text_input` gets the documented error and leaves the connection usable (seed 000)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.clients.live import TargetTimeout, Turn
from conformance.clients.transcript import Transcript
from conformance.scenario import live_key, open_live, run


@dataclass
class Outcome:
    first: dict  # the answer to the blank text_input
    after: list[dict]  # anything that followed it
    missing: list[dict]  # the answer to a text_input without a text field, and what followed
    turn: Turn  # the turn of the next, valid text_input
    transcript: Transcript


@pytest.fixture(scope="module")
def outcome(target, creds) -> Outcome:
    transcript = Transcript("blank text_input, then a valid one")

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            await client.send_raw('{"t": "text_input", "text": "   "}')
            first = await client.recv(waiting_for="the answer to a blank text_input")
            after = await client.quiet(0.3)
            await client.send({"t": "text_input", "text": "Are you still there?"})
            try:
                turn = await client.turn()
            except TargetTimeout as exc:  # judged by LIVE-INPUT-002 alone
                turn = Turn([{"t": None, "timeout": str(exc)}])
            # seed 000: neither `text` nor `message` is a string: the same error
            await client.send_raw('{"t": "text_input"}')
            missing = await client.quiet(1.0)
            return first, after, missing, turn

    return Outcome(*run(go(), target), transcript)


@pytest.mark.requirement("LIVE-INPUT-001")
def test_blank_text_input_gets_invalid_message_format(outcome):
    first = outcome.first
    assert first.get("t") == "error", f"a blank text_input was answered with {first}"
    assert first.get("code") == "INVALID_MESSAGE_FORMAT", \
        f"error code {first.get('code')!r}, expected INVALID_MESSAGE_FORMAT"
    started = [f.get("t") for f in outcome.after if f.get("t") in ("user_msg", "metrics")]
    assert not started, f"a turn started after the error: {started}"
    missing = outcome.missing
    assert missing and missing[0].get("t") == "error" \
        and missing[0].get("code") == "INVALID_MESSAGE_FORMAT", (
            "a text_input without a text field was answered with "
            f"{missing[:1] or 'nothing within 1 s'}, not an INVALID_MESSAGE_FORMAT error")
    started = [f.get("t") for f in missing if f.get("t") in ("user_msg", "metrics")]
    assert not started, f"a text_input without text started a turn: {started}"


@pytest.mark.requirement("LIVE-INPUT-002")
def test_connection_is_usable_after_an_input_error(outcome):
    turn = outcome.turn
    timeout = turn.frames[-1].get("timeout") if turn.frames else None
    assert not timeout, f"the next valid text_input got no complete turn: {timeout}"
    assert turn.terminal == "end", f"the next valid text_input ended with {turn.terminal!r}: " \
        f"{turn.types()}"
