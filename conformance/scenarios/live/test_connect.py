"""Connecting to /api/v1/live/ws: credentials, username and mode (seed 000 `live_ws`)."""

from __future__ import annotations

import pytest

from conformance.clients.http import TargetTimeout, arequest
from conformance.clients.live import TargetClosed
from conformance.clients.transcript import Transcript
from conformance.outcomes import SuiteError
from conformance.scenario import live_key, open_live, run


def connect_and_listen(target, title, seconds=0.5, **kwargs):
    """Open a connection and listen; return (frames, close code, close reason, transcript)."""
    transcript = Transcript(title)

    async def go():
        client = await open_live(target, title, transcript=transcript, **kwargs)
        frames: list[dict] = []
        try:
            while True:
                frames.append(await client.recv(waiting_for="the target to close"))
        except TargetClosed as closed_by:
            return frames, closed_by.code, closed_by.reason
        except TargetTimeout:
            return frames, None, ""  # still open: the handshake was accepted
        finally:
            await client.close()

    return (*run(go(), target), transcript)


def assert_refused(result, code: str, reason: str | None = None):
    frames, close_code, close_reason, _ = result
    errors = [f for f in frames if f.get("type") == "error" or f.get("t") == "error"]
    assert errors or close_code is not None, (
        f"the connection was accepted: no error frame with code {code} and no close, only "
        f"{[f.get('t') or f.get('type') for f in frames] or 'silence'}")
    assert errors, f"expected an error frame with code {code} before the close, got {frames}"
    assert errors[0].get("code") == code, f"error frame code is {errors[0].get('code')!r}, " \
        f"expected {code!r}: {errors[0]}"
    assert close_code == 1008, f"expected close code 1008, got {close_code} ({close_reason!r})"
    expected = reason if reason is not None else errors[0].get("data")
    assert close_reason == expected, f"close reason {close_reason!r}, expected {expected!r}"


# A connection is kept open for client frames: it is still open, and takes one, after a pause
# a user may make before speaking (no keep-alive timeout of a deployed server is that short).
IDLE_SECONDS = 2.0


def closed(transcript: Transcript) -> list[dict]:
    return [e["data"] for e in transcript.entries
            if e["dir"] == "<<" and isinstance(e["data"], dict) and "close" in e["data"]]


@pytest.mark.requirement("LIVE-CONN-001")
def test_query_api_key_with_username_is_accepted(target, creds, evidence):
    transcript = Transcript("connect with ?api_key and username, then listen")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            frames = await client.quiet(IDLE_SECONDS)
            if not closed(transcript):  # still open: it takes a client frame
                await client.send({"t": "interrupt"})
                await client.quiet(0.3)
            return frames

    frames = run(go(), target)
    closes = closed(transcript)
    assert not closes, (f"the target closed a correctly authenticated connection that sent "
                        f"nothing for {IDLE_SECONDS} s: {closes[0]}")
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


@pytest.mark.requirement("LIVE-AUTH-006")
@pytest.mark.parametrize("how", ["revoke", "delete"])
def test_a_key_no_longer_valid_is_refused(target, creds, evidence, how):
    """The key connects once (so a target that caches what it looked up has it cached), is
    revoked or deleted over the API (seed 004 revokeApiKey / deleteApiKey), then must be
    refused like an unknown key."""
    jwt = {"Authorization": f"Bearer {creds.require_jwt()}"}
    log = Transcript(f"create a chat key, connect with it, {how} it over the API")
    evidence.append(log)

    async def api(method, path, body=None):
        return await arequest(method, target.http_url(path), timeout=target.timeout,
                              transcript=log, headers=jwt, json_body=body)

    async def prepare() -> tuple[str, str]:
        made = await api("POST", "/api/v1/api-keys",
                         {"name": f"conformance-live-{how}", "scopes": ["chat"]})
        data = made.json.get("data") if isinstance(made.json, dict) else None
        if made.status != 200 or not isinstance(data, dict) or "api_key" not in data:
            raise SuiteError(f"could not create a chat key: HTTP {made.status} "
                             f"{made.text[:200]}")
        key, key_id = data["api_key"], str(data.get("key_id"))
        creds.remember_key(key)
        client = await open_live(target, "", key=key, transcript=log)
        async with client:  # accepting it is LIVE-CONN-001's to judge
            await client.quiet(0.3)
        if how == "revoke":
            done = await api("POST", f"/api/v1/api-keys/{key_id}/revoke")
        else:
            done = await api("DELETE", f"/api/v1/api-keys/{key_id}")
        if done.status != 200:
            raise SuiteError(f"could not {how} the key: HTTP {done.status} {done.text[:200]}")
        return key, key_id

    key, key_id = run(prepare(), target)
    try:
        result = connect_and_listen(target, f"connect with the {how}d key", key=key)
        evidence.append(result[-1])
        assert_refused(result, "UNAUTHORIZED")
    finally:
        if how == "revoke":
            run(api("DELETE", f"/api/v1/api-keys/{key_id}"), target)
