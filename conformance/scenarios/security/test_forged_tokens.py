"""Forged dashboard JWTs (RFC 7519 section 7.2: a JWT is valid only if its signature verifies
with the target's key and its algorithm is the one the target uses): unsigned (`alg: none`),
the run's JWT with its signature changed, its payload changed under the old signature, and
garbage. Each must be refused on one read of every seed-004 tag family and on every JWT
WebSocket path (close 1008, as for any invalid token)."""

from __future__ import annotations

import base64
import json

import pytest

from conformance.clients.http import TargetTimeout
from conformance.clients.transcript import Transcript
from conformance.outcomes import SuiteError, Unimplemented, Violation
from conformance.scenario import JWT_PATHS, open_jwt, run
from conformance.scenarios.security.common import bearer, probe_reads, refusal_problem


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forged(kind: str, real: str) -> str:
    """A token built from the run's own JWT `real` that must not verify."""
    try:
        header, payload, signature = real.split(".")
        claims = json.loads(_unb64url(payload))
    except ValueError as exc:
        raise SuiteError(f"the run's JWT is not a JWS compact token ({exc}): cannot forge from "
                         "it") from exc
    if kind == "garbage":
        return "conformance.not-a.jwt"
    if kind == "alg-none":
        return _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + payload + "."
    if kind == "signature-changed":
        middle = len(signature) // 2  # not the last character: its low bits may be padding
        flipped = "A" if signature[middle] != "A" else "B"
        return f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1:]}"
    if kind == "payload-changed":  # the same claims, exp an hour later, the old signature
        changed = {**claims, "exp": int(claims.get("exp", 0) or 0) + 3600,
                   "conformance": "tampered"}
        return f"{header}.{_b64url(json.dumps(changed).encode())}.{signature}"
    raise SuiteError(f"unknown forgery {kind!r}")


FORGERIES = {"alg-none": "the run's claims unsigned (alg none)",
             "signature-changed": "the run's JWT with one signature character changed",
             "payload-changed": "the run's JWT with its payload changed, old signature",
             "garbage": "a string that is not a JWT"}


def socket_problem(target, path: str, token: str, transcript: Transcript) -> str | None:
    async def go():
        client = await open_jwt(target, path, token, transcript)
        try:
            _, code, reason = await client.expect_close(timeout=min(target.timeout, 3.0))
            return None if code == 1008 else f"closed with {code} ({reason!r}), not 1008"
        except TargetTimeout:
            return "the socket was accepted and stayed open"
        finally:
            await client.close()

    try:
        return run(go(), target)
    except Unimplemented:
        return None  # the path is absent: JWT-AUTH-* report it
    except Violation as exc:
        if "handshake" in str(exc):
            return None  # refused at the handshake, if not as documented
        raise


@pytest.mark.requirement("SEC-TOKEN-001")
@pytest.mark.parametrize("kind", list(FORGERIES))
def test_a_forged_jwt_is_refused(target, creds, evidence, kind):
    token = forged(kind, creds.require_jwt())
    log = Transcript(f"forged JWT: {FORGERIES[kind]}, on every family and JWT socket")
    evidence.append(log)
    creds.redactor.add(token)
    problems = [p for read, result in probe_reads(target, log, bearer(token))
                if (p := refusal_problem(read, result))]
    problems += [f"{path}: {p}" for path in JWT_PATHS
                 if (p := socket_problem(target, path, token, log))]
    assert not problems, f"{FORGERIES[kind]} was accepted:\n" + "\n".join(problems)
