"""Credentials that exist but are no longer valid (OWASP API2, ASVS 3.3.1): a key revoked or
deleted over the API (seed 004 revokeApiKey / deleteApiKey), a dashboard JWT logged out (seed
004 logout), and a key asked to be born expired. Each check makes its own credential, proves it
worked, then uses it on one read of every seed-004 tag family and on every WebSocket path of its
kind; it deletes what it made. The run's own keys and JWT are never revoked or logged out."""

from __future__ import annotations

import pytest

from conformance.clients.http import TargetTimeout
from conformance.clients.live import LiveClient
from conformance.clients.transcript import Transcript
from conformance.outcomes import SuiteError, Unimplemented, Violation
from conformance.scenario import JWT_PATHS, open_jwt, run
from conformance.scenarios.security.common import (
    bearer,
    call,
    drop_key,
    fresh_jwt,
    fresh_key,
    ok_data,
    probe_reads,
    refusal_problem,
    said,
    served,
)

KEY_PATHS = ("/api/v1/live/ws", "/api/v1/chat/ws")
SURFACES = ("http", *KEY_PATHS)
PROBE_READ = "/api/v1/im/bots"  # scope im: the fresh key is shown to work on it first


async def open_with_key(target, path: str, key: str, transcript: Transcript) -> LiveClient:
    if path == "/api/v1/live/ws":
        url = target.ws_url(path, api_key=key, username="conformance-sec-stale")
        return await LiveClient.open(url, timeout=target.timeout, transcript=transcript)
    return await LiveClient.open(target.ws_url(path), timeout=target.timeout,
                                 transcript=transcript, headers={"X-API-Key": key},
                                 mode="openchat")


def key_socket(target, path: str, key: str, transcript: Transcript, wait: float = 3.0):
    """(frames before the close, close code, reason), or None when the socket stayed open
    for `wait` seconds (a refusal closes at once)."""
    async def go():
        client = await open_with_key(target, path, key, transcript)
        try:
            return await client.expect_close(timeout=min(target.timeout, wait))
        except TargetTimeout:
            return None
        finally:
            await client.close()

    return run(go(), target)


def key_socket_problem(path: str, outcome) -> str | None:
    """Seed 000 / seed 004: an error frame `UNAUTHORIZED`, then close 1008."""
    if outcome is None:
        return f"{path}: the socket was accepted and stayed open"
    frames, code, reason = outcome
    errors = [f for f in frames if f.get("type") == "error" or f.get("t") == "error"]
    if not errors or errors[0].get("code") != "UNAUTHORIZED" or code != 1008:
        return (f"{path}: expected an UNAUTHORIZED error frame then close 1008, got frames "
                f"{frames[:3]} and close {code} ({reason!r})")
    return None


def stale_key(target, creds, evidence, surface: str, how: str) -> None:
    log = Transcript(f"a fresh key, shown to work, then {how}d, then used on {surface}")
    evidence.append(log)
    key = fresh_key(target, creds, log, f"{how}-{surface.strip('/').replace('/', '-')}")
    try:
        if surface == "http":
            before = call(target, log, "GET", PROBE_READ, headers={"X-API-Key": key.raw})
            if not served(before):
                raise SuiteError(f"the fresh key did not work before it was {how}d: "
                                 f"{said(before)}")
        else:
            try:
                if key_socket(target, surface, key.raw, log, wait=1.0) is not None:
                    raise SuiteError(f"the fresh key was refused on {surface} before it was "
                                     f"{how}d")
            except Unimplemented as exc:
                pytest.skip(f"{surface} is absent on this target (its own requirements say "
                            f"so): {exc}")
        if how == "revoke":
            done = call(target, log, "POST", f"/api/v1/api-keys/{key.key_id}/revoke",
                        headers=bearer(creds.require_jwt()))
        else:
            done = call(target, log, "DELETE", f"/api/v1/api-keys/{key.key_id}",
                        headers=bearer(creds.require_jwt()))
        if not served(done):
            raise SuiteError(f"could not {how} the fresh key: {said(done)}")
        if surface == "http":
            problems = [p for read, result in probe_reads(target, log, {"X-API-Key": key.raw})
                        if (p := refusal_problem(read, result))]
            assert not problems, f"a {how}d key was served:\n" + "\n".join(problems)
        else:
            try:
                outcome = key_socket(target, surface, key.raw, log)
            except (Unimplemented, Violation) as exc:
                if "handshake" not in str(exc):
                    raise
                log.note(f"refused at the handshake: {exc}")  # refused, if not as documented
                return
            problem = key_socket_problem(surface, outcome)
            assert problem is None, f"a {how}d key: {problem}"
    finally:
        drop_key(target, creds, log, key)


@pytest.mark.requirement("SEC-CRED-001")
@pytest.mark.parametrize("surface", SURFACES)
def test_a_revoked_key_is_refused_everywhere(target, creds, evidence, surface):
    stale_key(target, creds, evidence, surface, "revoke")


@pytest.mark.requirement("SEC-CRED-002")
@pytest.mark.parametrize("surface", SURFACES)
def test_a_deleted_key_is_refused_everywhere(target, creds, evidence, surface):
    stale_key(target, creds, evidence, surface, "delete")


def jwt_socket(target, path: str, token: str, transcript: Transcript):
    """The close code of a JWT socket, or None when it stayed open."""
    async def go():
        client = await open_jwt(target, path, token, transcript)
        try:
            _, code, _ = await client.expect_close(timeout=min(target.timeout, 3.0))
            return code
        except TargetTimeout:
            return None
        finally:
            await client.close()

    try:
        return run(go(), target)
    except Violation as exc:
        if "handshake" not in str(exc):
            raise
        transcript.note(f"refused at the handshake: {exc}")
        return 1008  # refused, if not as documented (JWT-AUTH-* judge the manner)


@pytest.mark.requirement("SEC-CRED-003")
def test_a_logged_out_jwt_is_refused_everywhere(target, creds, evidence):
    log = Transcript("a fresh dashboard JWT, shown to work, logged out, then used everywhere")
    evidence.append(log)
    token = fresh_jwt(target, creds, log)
    before = call(target, log, "GET", "/api/v1/api-keys", headers=bearer(token))
    if not served(before):
        raise SuiteError(f"the fresh JWT did not work before logging out: {said(before)}")
    out = call(target, log, "POST", "/api/v1/auth/logout", headers=bearer(token))
    if out.status == 404:
        raise Unimplemented(f"POST /api/v1/auth/logout: {said(out)}")
    if not served(out):
        raise SuiteError(f"logging the fresh JWT out failed: {said(out)}")
    problems = [p for read, result in probe_reads(target, log, bearer(token))
                if (p := refusal_problem(read, result))]
    for path in JWT_PATHS:
        try:
            code = jwt_socket(target, path, token, log)
        except Unimplemented:
            continue  # the path is absent: its own requirements say so
        if code != 1008:
            problems.append(f"{path}: " + ("the socket was accepted and stayed open"
                                           if code is None else f"closed with {code}, not 1008"))
    still = call(target, log, "GET", "/api/v1/api-keys", headers=bearer(creds.require_jwt()))
    if not served(still):
        log.note("the run's own JWT stopped working after another JWT logged out: the target "
                 "ends every session of the user on logout")
    assert not problems, "a logged-out JWT was still accepted:\n" + "\n".join(problems)


BORN_EXPIRED = {"expires_in_days 0": {"expires_in_days": 0},
                "expires_in_days -1": {"expires_in_days": -1},
                "expires_at in the past": {"expires_at": "2000-01-01T00:00:00+00:00"}}


@pytest.mark.requirement("SEC-CRED-004")
@pytest.mark.parametrize("case", list(BORN_EXPIRED))
def test_a_key_cannot_be_born_expired(target, creds, evidence, case):
    log = Transcript(f"create a key with {case}")
    evidence.append(log)
    jwt = bearer(creds.require_jwt())
    made = call(target, log, "POST", "/api/v1/api-keys", headers=jwt,
                body={"name": "conformance-sec-born-expired", "scopes": ["im"],
                      **BORN_EXPIRED[case]})
    data = ok_data(made)
    if isinstance(data, dict) and data.get("key_id"):
        creds.remember_key(data.get("api_key"))
        call(target, log, "DELETE", f"/api/v1/api-keys/{data['key_id']}", headers=jwt)
    created = "a key that never expires (the expiry asked for was dropped)" \
        if isinstance(data, dict) and not data.get("expires_at") else "the key"
    assert 400 <= made.status < 500 and not served(made), \
        f"a key with {case} was not refused with a 4xx answer: {said(made)}: it created " \
        f"{created}"
