"""Authentication and scopes on the v1 HTTP API (seed 004 info and security, seed 003)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from conformance.clients.http import request
from conformance.clients.transcript import Transcript
from conformance.openapi import envelope_problem
from conformance.outcomes import Unimplemented

# GET /api/v1/im/bots: scope `im` in seed 004, and listed in the legacy document (seed 002)
IM_OP = "/api/v1/im/bots"
BOT_OP = "/api/v1/bots"  # scope `bot`
PROVIDER_OP = "/api/v1/providers"  # scope `provider`
UNKNOWN_KEY = "abk_conformance_unknown_key_0000000000"


def call(target, evidence, title, path, headers=None, method="GET", json_body=None, query=""):
    transcript = Transcript(title)
    evidence.append(transcript)
    return request(method, target.http_url(path) + query, timeout=target.timeout,
                   transcript=transcript, headers=headers, json_body=json_body)


def assert_error(result, status: int, message: str | None = None):
    """The status code and, when given, the envelope's message (its shape: V1-ENV-002)."""
    assert result.status == status, f"HTTP {result.status}, expected {status}: {result.text[:300]}"
    if message is not None:
        got = result.envelope_message()
        assert got == message, f"message {got!r}, expected {message!r}"


def assert_allowed(result):
    """Accepted means served: 200 and the success envelope, not merely "not 401/403"."""
    assert result.status not in (401, 403), \
        f"refused with HTTP {result.status}: {result.text[:300]}"
    body = result.json if isinstance(result.json, dict) else {}
    assert result.status == 200 and body.get("status") == "ok", \
        f"not served: HTTP {result.status} {result.text[:300]}"


@pytest.mark.requirement("V1-AUTH-001")
def test_setup_status_is_public(target, evidence):
    result = call(target, evidence, "setup-status without credentials",
                  "/api/v1/auth/setup-status")
    assert result.status == 200, f"HTTP {result.status}: {result.text[:300]}"
    body = result.json if isinstance(result.json, dict) else {}
    assert body.get("status") == "ok", f"status is not ok: {result.text[:300]}"
    data = body.get("data")
    assert isinstance(data, dict) and isinstance(data.get("setup_required"), bool), \
        f"data.setup_required is not a boolean: {data!r}"


@pytest.mark.requirement("V1-ENV-001")
def test_success_envelope_matches_the_schema(target, creds, evidence):
    # with the JWT when there is one: this judges the body, whether setup-status is public is
    # V1-AUTH-001's (the scope matrix checks the success body of every other read)
    headers = {"Authorization": f"Bearer {creds.jwt}"} if creds.jwt else {}
    result = call(target, evidence, "setup-status body against SuccessEnvelope",
                  "/api/v1/auth/setup-status", headers=headers)
    assert result.status == 200, f"HTTP {result.status}: {result.text[:300]}"
    problem = envelope_problem(result.json, "SuccessEnvelope")
    assert problem is None, f"not the SuccessEnvelope of seed 004: {problem}"


@pytest.mark.requirement("V1-ENV-002")
@pytest.mark.parametrize("case", ["no credential", "unknown key", "unknown key as Bearer",
                                  "chat-only key on an im operation",
                                  "all-scope key on a dashboard-only operation"])
def test_auth_errors_use_the_error_envelope(target, creds, evidence, case):
    path, headers = IM_OP, {}
    if case == "unknown key":
        headers = {"X-API-Key": UNKNOWN_KEY}
    elif case == "unknown key as Bearer":
        headers = {"Authorization": f"Bearer {UNKNOWN_KEY}"}
    elif case == "chat-only key on an im operation":
        headers = {"X-API-Key": creds.key("chat")}
    elif case == "all-scope key on a dashboard-only operation":
        path, headers = "/api/v1/api-keys", {"X-API-Key": creds.key("all")}
    result = call(target, evidence, case, path, headers=headers)
    if result.status not in (401, 403):
        return  # not refused: the status is V1-AUTH-002..009's to judge, this rule the body
    problem = envelope_problem(result.json, "ErrorEnvelope")
    assert problem is None, f"not the ErrorEnvelope of seed 004: {problem}"


@pytest.mark.requirement("V1-AUTH-002")
def test_no_credential_is_401(target, evidence):
    assert_error(call(target, evidence, "no credential", IM_OP), 401)


@pytest.mark.requirement("V1-AUTH-003")
def test_unknown_key_is_401(target, evidence):
    result = call(target, evidence, "unknown key", IM_OP,
                  headers={"X-API-Key": UNKNOWN_KEY})
    assert_error(result, 401)


@pytest.mark.requirement("V1-AUTH-004")
@pytest.mark.parametrize("carrier", ["X-API-Key", "Authorization: Bearer", "?api_key="])
def test_missing_scope_is_403(target, creds, evidence, carrier):
    """The scope is checked whichever way the key travels. A target that does not take a key
    as Bearer or in the query sees no key there and answers 401: that is V1-AUTH-005 and
    V1-AUTH-006's to judge, here only a key let through, or a 403 worded wrong, fails."""
    key, headers, query = creds.key("chat"), {}, ""
    if carrier == "X-API-Key":
        headers = {"X-API-Key": key}
    elif carrier == "Authorization: Bearer":
        headers = {"Authorization": f"Bearer {key}"}
    else:
        query = f"?api_key={key}"
    result = call(target, evidence, f"chat-only key as {carrier} on an im operation", IM_OP,
                  headers=headers, query=query)
    if carrier != "X-API-Key" and result.status == 401:
        return  # the carrier is not read: no key was presented (V1-AUTH-005, V1-AUTH-006)
    assert_error(result, 403, "Insufficient API key scope")


@pytest.mark.requirement("V1-AUTH-005")
@pytest.mark.parametrize("carrier", ["X-API-Key", "Authorization: Bearer"])
def test_key_carriers_in_headers(target, creds, evidence, carrier):
    key = creds.key_for("im")
    headers = {"X-API-Key": key} if carrier == "X-API-Key" else {"Authorization": f"Bearer {key}"}
    assert_allowed(call(target, evidence, f"im key as {carrier}", IM_OP, headers=headers))


@pytest.mark.requirement("V1-AUTH-006")
def test_key_in_query(target, creds, evidence):
    assert_allowed(call(target, evidence, "im key as ?api_key=", IM_OP,
                        query=f"?api_key={creds.key_for('im')}"))


@pytest.mark.requirement("V1-AUTH-007")
@pytest.mark.parametrize("path", [BOT_OP, PROVIDER_OP])
def test_config_scope_grants_bot_and_provider(target, creds, evidence, path):
    assert_allowed(call(target, evidence, f"config-only key on {path}", path,
                        headers={"X-API-Key": creds.key("config")}))


@pytest.mark.requirement("V1-AUTH-008")
def test_revoked_key_is_401(target, creds, evidence):
    jwt = {"Authorization": f"Bearer {creds.require_jwt()}"}
    created = call(target, evidence, "create a throwaway key", "/api/v1/api-keys", headers=jwt,
                   method="POST", json_body={"name": "conformance-revoked", "scopes": ["im"]})
    assert created.status == 200 and isinstance(created.json, dict) \
        and isinstance(created.json.get("data"), dict), \
        f"creating a key failed: HTTP {created.status} {created.text[:300]}"
    key, key_id = created.json["data"].get("api_key"), created.json["data"].get("key_id")
    creds.remember_key(key)
    try:
        assert_allowed(call(target, evidence, "throwaway key before revoking", IM_OP,
                            headers={"X-API-Key": key}))
        revoked = call(target, evidence, "revoke it", f"/api/v1/api-keys/{key_id}/revoke",
                       headers=jwt, method="POST")
        assert revoked.status == 200, f"revoking failed: HTTP {revoked.status} {revoked.text}"
        for carrier, headers, query in (("X-API-Key", {"X-API-Key": key}, ""),
                                        ("Authorization: Bearer",
                                         {"Authorization": f"Bearer {key}"}, ""),
                                        ("?api_key=", {}, f"?api_key={key}")):
            assert_error(call(target, evidence, f"revoked key as {carrier}", IM_OP,
                              headers=headers, query=query), 401)
    finally:
        call(target, evidence, "delete it", f"/api/v1/api-keys/{key_id}", headers=jwt,
             method="DELETE")


@pytest.mark.requirement("V1-AUTH-009")
def test_api_keys_cannot_manage_keys(target, creds, evidence):
    as_key = call(target, evidence, "list keys with an all-scope API key", "/api/v1/api-keys",
                  headers={"X-API-Key": creds.key("all")})
    assert_error(as_key, 403)
    as_jwt = call(target, evidence, "list keys with the dashboard JWT", "/api/v1/api-keys",
                  headers={"Authorization": f"Bearer {creds.require_jwt()}"})
    assert as_jwt.status == 200, f"the JWT was refused: HTTP {as_jwt.status} {as_jwt.text[:300]}"


def server_clock_offset(result) -> timedelta:
    """The target's clock minus ours, from the `Date` header of an answer (zero without one)."""
    date = next((v for k, v in result.headers.items() if k.lower() == "date"), None)
    try:
        return parsedate_to_datetime(date) - datetime.now(UTC) if date else timedelta()
    except (TypeError, ValueError):
        return timedelta()


EXPIRES_IN = 3  # seconds, by the target's clock


@pytest.mark.requirement("V1-AUTH-010")
def test_expired_key_is_401(target, creds, evidence):
    jwt = {"Authorization": f"Bearer {creds.require_jwt()}"}
    clock = call(target, evidence, "the target's clock (Date header)",
                 "/api/v1/auth/setup-status")
    offset = server_clock_offset(clock)
    expires = datetime.now(UTC) + offset + timedelta(seconds=EXPIRES_IN)
    created = call(target, evidence, f"create a key expiring in {EXPIRES_IN} s",
                   "/api/v1/api-keys", headers=jwt, method="POST",
                   json_body={"name": "conformance-expiring", "scopes": ["im"],
                              "expires_at": expires.isoformat()})
    data = created.json.get("data") if isinstance(created.json, dict) else None
    assert created.status == 200 and isinstance(data, dict), \
        f"creating a key with expires_at failed: HTTP {created.status} {created.text[:300]}"
    key, key_id = data.get("api_key"), data.get("key_id")
    creds.remember_key(key)
    try:
        if not data.get("expires_at"):
            raise Unimplemented("the key was created without an expiry (its `expires_at` is "
                                f"{data.get('expires_at')!r}): expires_at is not supported")
        assert_allowed(call(target, evidence, "the key before it expires", IM_OP,
                            headers={"X-API-Key": key}))
        time.sleep(max(0.0, (expires - offset - datetime.now(UTC)).total_seconds()) + 1.5)
        assert_error(call(target, evidence, f"the key {EXPIRES_IN} s later, expired", IM_OP,
                          headers={"X-API-Key": key}), 401)
    finally:
        call(target, evidence, "delete it", f"/api/v1/api-keys/{key_id}", headers=jwt,
             method="DELETE")
