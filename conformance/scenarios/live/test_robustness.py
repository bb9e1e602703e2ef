"""Malformed input gets an error frame and the connection stays usable (seed 001 `error`:
"Recoverable or terminal processing error"; the brief: bad input gets a clear error, never a
crash). Each case runs on a fresh connection so one failure cannot mask another."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenario import live_key, open_live, run

BAD_BASE64 = None  # marker: start_speaking, then a speaking_part whose data is not Base64

CASES = [
    pytest.param("a text frame that is not JSON", "hello there",
                 marks=pytest.mark.requirement("LIVE-INPUT-003"), id="not-json"),
    pytest.param("a binary frame", b"\x00\x01\x02binary",
                 marks=pytest.mark.requirement("LIVE-INPUT-004"), id="binary"),
    pytest.param("JSON that is not an object", "[1, 2, 3]",
                 marks=pytest.mark.requirement("LIVE-INPUT-005"), id="not-object"),
    pytest.param("an unknown frame type", '{"t": "dance"}',
                 marks=pytest.mark.requirement("LIVE-INPUT-006"), id="unknown-t"),
    pytest.param("speaking_part with invalid Base64", BAD_BASE64,
                 marks=pytest.mark.requirement("LIVE-INPUT-007"), id="bad-base64"),
]


@pytest.mark.parametrize("what, raw", CASES)
def test_malformed_input_gets_an_error_and_the_connection_survives(target, creds, evidence,
                                                                   what, raw):
    transcript = Transcript(f"{what}, then a valid text_input")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            if raw is BAD_BASE64:
                await client.send({"t": "start_speaking", "stamp": "seg_bad"})
                await client.send_raw('{"t": "speaking_part", "data": "%%% not base64 %%%"}')
            else:
                await client.send_raw(raw)
            answer = await client.quiet(1.0)
            await client.send({"t": "text_input", "text": "Still there?"})
            return answer, await client.turn()

    answer, turn = run(go(), target)
    errors = [f for f in answer if f.get("t") == "error"]
    assert errors, f"{what} got no error frame (answer: {answer or 'nothing'})"
    assert turn.terminal == "end", f"after {what} the next turn ended with {turn.terminal!r}"
