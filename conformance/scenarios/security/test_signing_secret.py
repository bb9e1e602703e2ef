"""The server's own secrets are not in its answers (OWASP API3:2023, excessive data exposure):
the key that signs dashboard JWTs, and unsalted digests of the dashboard password, in the
configuration reads (system-config, its runtime view, the config profiles), read with a
`config`-scoped API key (whoever holds one could then mint admin JWTs) and with the JWT.

Found without guessing field names: a string of an answer is the signing key when, used as the
HS256 key, it reproduces the signature of the run's own JWT; a digest is the MD5, SHA-1 or
SHA-256 hex of the run's password. Messages name the answer and the kind, never the value."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest

from conformance.clients.transcript import Transcript
from conformance.outcomes import NotConfigured
from conformance.scenarios.security.common import bearer, call, ok_data

READS = ("/api/v1/system-config", "/api/v1/system-config/runtime", "/api/v1/config-profiles")
# JSON string tokens long enough to be a key (the body may be cut short in a log)
STRINGS = re.compile(r'"((?:[^"\\]|\\.){8,512})"')


def strings_of(text: str) -> set[str]:
    found = set()
    for match in STRINGS.finditer(text):
        try:
            found.add(json.loads(f'"{match.group(1)}"'))
        except ValueError:
            continue
    return found


def signs(real_jwt: str):
    """A predicate: does a string, as the HS256 key, reproduce `real_jwt`'s signature?"""
    try:
        header, payload, signature = real_jwt.split(".")
        alg = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("alg")
        wanted = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (ValueError, AttributeError):
        return lambda _: False
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(alg)
    if digest is None:
        return lambda _: False  # not an HMAC token: no shared secret to leak
    message = f"{header}.{payload}".encode()
    return lambda key: hmac.compare_digest(
        hmac.new(key.encode(), message, digest).digest(), wanted)


def password_digests(password: str | None) -> dict[str, str]:
    if not password:
        return {}
    raw = password.encode()
    return {hashlib.md5(raw).hexdigest(): "an MD5 digest of the dashboard password",  # noqa: S324
            hashlib.sha1(raw).hexdigest(): "a SHA-1 digest of the dashboard password",  # noqa: S324
            hashlib.sha256(raw).hexdigest(): "a SHA-256 digest of the dashboard password"}


def leaks(text: str, real_jwt: str, password: str | None) -> dict[str, str]:
    """value -> what it is, for each server secret found in `text`."""
    is_key = signs(real_jwt)
    found = {s: "the key that signs the dashboard JWTs" for s in strings_of(text) if is_key(s)}
    lowered = text.lower()
    found.update({digest: kind for digest, kind in password_digests(password).items()
                  if digest in lowered})
    return found


def profile_reads(target, log: Transcript, headers: dict) -> list[str]:
    """The config profiles the listing names (their content holds configuration too)."""
    data = ok_data(call(target, log, "GET", "/api/v1/config-profiles", headers=headers))
    items = data if isinstance(data, list) else (data or {}).get("profiles") \
        if isinstance(data, dict) else None
    ids = [str(i.get("id") or i.get("config_id")) for i in items or [] if isinstance(i, dict)]
    return [f"/api/v1/config-profiles/{i}" for i in ids[:3] if i != "None"]


@pytest.mark.requirement("SEC-SECRET-002")
@pytest.mark.parametrize("credential", ["config key", "dashboard JWT"])
def test_config_reads_carry_no_server_secret(target, creds, evidence, credential):
    real = creds.require_jwt()
    password = creds.login[1] if creds.login else None
    if credential == "config key":
        try:
            headers = {"X-API-Key": creds.key("config")}
        except NotConfigured:
            headers = {"X-API-Key": creds.key_for("config")}
    else:
        headers = bearer(real)
    log = Transcript(f"configuration reads with the {credential}")
    evidence.append(log)
    problems = []
    for path in (*READS, *profile_reads(target, log, headers)):
        result = call(target, log, "GET", path, headers=headers)
        found = leaks(result.text, real, password)
        creds.redactor.add(*found)  # masked in every report, like the run's own secrets
        problems += [f"GET {path} (HTTP {result.status}) carries {kind}"
                     for kind in sorted(set(found.values()))]
    assert not problems, f"read with the {credential}:\n" + "\n".join(problems)
