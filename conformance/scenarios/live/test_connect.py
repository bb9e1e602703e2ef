"""Connecting to /api/v1/live/ws: credentials, username and mode (seed 000 `live_ws`)."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenario import live_key, open_live, run


def connect_and_listen(target, title, seconds=0.5, **kwargs):
    """Open a connection and listen; return (frames, close code, close reason, transcript)."""
    transcript = Transcript(title)

    async def go():
        client = await open_live(target, title, transcript=transcript, **kwargs)
        try:
            frames, code, reason = await client.expect_close(timeout=target.timeout)
        finally:
            await client.close()
        return frames, code, reason

    return (*run(go(), target), transcript)


def assert_refused(result, code: str, reason: str | None = None):
    frames, close_code, close_reason, _ = result
    errors = [f for f in frames if f.get("type") == "error" or f.get("t") == "error"]
    assert errors, f"expected an error frame with code {code} before the close, got {frames}"
    assert errors[0].get("code") == code, f"error frame code is {errors[0].get('code')!r}, " \
        f"expected {code!r}: {errors[0]}"
    assert close_code == 1008, f"expected close code 1008, got {close_code} ({close_reason!r})"
    expected = reason if reason is not None else errors[0].get("data")
    assert close_reason == expected, f"close reason {close_reason!r}, expected {expected!r}"


@pytest.mark.requirement("LIVE-CONN-001")
def test_query_api_key_with_username_is_accepted(target, creds, evidence):
    transcript = Transcript("connect with ?api_key and username, then listen")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            return await client.quiet(0.5)

    frames = run(go(), target)
    closes = [e for e in transcript.entries if isinstance(e["data"], dict) and "close" in e["data"]]
    assert not closes, f"the target closed a correctly authenticated connection: {closes[0]}"
    errors = [f for f in frames if f.get("t") == "error" or f.get("type") == "error"]
    assert not errors, f"unexpected error frame on a valid connection: {errors[0]}"


@pytest.mark.requirement("LIVE-CONN-002")
def test_bearer_api_key_is_accepted(target, creds, evidence):
    transcript = Transcript("connect with Authorization: Bearer, then one text turn")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", headers={"Authorization": f"Bearer {live_key(creds)}"},
                                 transcript=transcript)
        async with client:
            await client.send({"t": "text_input", "text": "Hello over a Bearer key"})
            return await client.turn()

    turn = run(go(), target)
    assert "user_msg" in turn.types(), f"no user_msg: the turn was {turn.types()}"
    assert turn.terminal == "end", f"the turn ended with {turn.terminal!r}, not end"


@pytest.mark.requirement("LIVE-AUTH-001")
def test_missing_api_key_is_refused(target, evidence):
    result = connect_and_listen(target, "connect without an API key", key=None)
    evidence.append(result[-1])
    assert_refused(result, "UNAUTHORIZED")


@pytest.mark.requirement("LIVE-AUTH-002")
def test_unknown_api_key_is_refused(target, evidence):
    result = connect_and_listen(target, "connect with an unknown API key",
                                key="abk_conformance_unknown_key_0000000000")
    evidence.append(result[-1])
    assert_refused(result, "UNAUTHORIZED")


@pytest.mark.requirement("LIVE-AUTH-003")
def test_key_without_chat_scope_is_refused(target, creds, evidence):
    result = connect_and_listen(target, "connect with an im-only API key", key=creds.key("im"))
    evidence.append(result[-1])
    assert_refused(result, "UNAUTHORIZED")


@pytest.mark.requirement("LIVE-AUTH-004")
def test_missing_username_is_refused(target, creds, evidence):
    result = connect_and_listen(target, "connect without username", key=live_key(creds),
                                username=None)
    evidence.append(result[-1])
    assert_refused(result, "BAD_USER")


@pytest.mark.requirement("LIVE-AUTH-005")
def test_unknown_ct_is_refused(target, creds, evidence):
    result = connect_and_listen(target, "connect with ct=video", key=live_key(creds), ct="video")
    evidence.append(result[-1])
    assert_refused(result, "INVALID_MESSAGE", reason="Invalid ct")
