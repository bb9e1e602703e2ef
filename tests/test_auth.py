"""Simulator auth over real sockets: setup and login, every key carrier, the scope include
rule, JWT-only scopes, revoked/expired/deleted keys, hashed storage, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest

from simulator.config import SimConfig

from .conftest import ADMIN, start_sim, stop_sim

IM_OP = "/api/v1/im/bots"  # x-astrbot-scope: im


async def test_first_run_setup_then_login(sim):
    status, body = await sim.call("GET", "/api/v1/auth/setup-status")
    assert status == 200 and body["data"]["setup_required"] is True
    await sim.admin_jwt()
    status, body = await sim.call("GET", "/api/v1/auth/setup-status")
    assert body["data"]["setup_required"] is False
    status, body = await sim.call("POST", "/api/v1/auth/setup", json=ADMIN)
    assert status == 409 and body == {"status": "error", "message": "Setup is not required"}
    status, body = await sim.call("POST", "/api/v1/auth/login",
                                  json={"username": "admin", "password": "wrong-password"})
    assert status == 401 and body["status"] == "error"


@pytest.mark.parametrize("payload, fragment", [
    ({**ADMIN, "confirm_password": "different-1"}, "do not match"),
    ({**ADMIN, "password": "short", "confirm_password": "short"}, "at least 8"),
    ({**ADMIN, "username": "ab"}, "at least 3"),
    ({**ADMIN, "extra": 1}, "Additional properties"),
    ({"username": "admin"}, "required"),
])
async def test_setup_rejects_bad_input_and_changes_nothing(sim, payload, fragment):
    status, body = await sim.call("POST", "/api/v1/auth/setup", json=payload)
    assert status == 400 and body["status"] == "error" and fragment in body["message"]
    _, body = await sim.call("GET", "/api/v1/auth/setup-status")
    assert body["data"]["setup_required"] is True


async def test_malformed_and_oversized_bodies(sim):
    status, body = await sim.call("POST", "/api/v1/auth/login", data=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and body["message"].startswith("Invalid JSON body")
    huge = b'{"username": "' + b"x" * (sim.sim.config.max_frame_bytes + 10) + b'"}'
    status, body = await sim.call("POST", "/api/v1/auth/login", data=huge,
                                  headers={"Content-Type": "application/json"})
    assert status == 413 and body["status"] == "error"


@pytest.mark.parametrize("carrier", ["x-api-key", "bearer", "apikey", "query-api_key", "query-key"])
async def test_every_key_carrier(sim, carrier):
    key = (await sim.new_key(["im"]))["api_key"]
    headers, query = {}, ""
    if carrier == "x-api-key":
        headers = {"X-API-Key": key}
    elif carrier == "bearer":
        headers = {"Authorization": f"Bearer {key}"}
    elif carrier == "apikey":
        headers = {"Authorization": f"ApiKey {key}"}
    else:
        query = f"?{carrier.split('-')[1]}={key}"
    status, body = await sim.call("GET", IM_OP + query, headers=headers)
    assert status == 200, body
    assert body == {"status": "ok", "data": {"bot_ids": []}}


async def test_bearer_hides_other_carriers(sim):
    key = (await sim.new_key(["im"]))["api_key"]
    status, body = await sim.call("GET", IM_OP, headers={
        "Authorization": "Bearer abk_not_a_key", "X-API-Key": key})
    assert (status, body["message"]) == (401, "Invalid API key")


async def test_missing_unknown_and_insufficient(sim):
    status, body = await sim.call("GET", IM_OP)
    assert (status, body) == (401, {"status": "error", "message": "Missing API key"})
    status, body = await sim.call("GET", IM_OP, headers={"X-API-Key": "abk_unknown_key_123"})
    assert (status, body["message"]) == (401, "Invalid API key")
    chat_key = (await sim.new_key(["chat"]))["api_key"]
    status, body = await sim.call("GET", IM_OP, headers={"X-API-Key": chat_key})
    assert (status, body["message"]) == (403, "Insufficient API key scope")


async def test_config_includes_bot_and_provider_only(sim):
    created = await sim.new_key(["config"])
    assert created["scopes"] == ["config", "bot", "provider"]
    headers = {"X-API-Key": created["api_key"]}
    for path in ("/api/v1/bots", "/api/v1/providers"):
        status, _ = await sim.call("GET", path, headers=headers)
        assert status == 200, path
    status, body = await sim.call("GET", IM_OP, headers=headers)
    assert status == 403


async def test_include_rule_applies_at_check_time(sim):
    """A key stored with only ["config"] (not normalized) still passes bot operations."""
    jwt_token = await sim.admin_jwt()
    raw, _ = sim.sim.auth.create_key("raw-config", ["config"], created_by="admin")
    status, _ = await sim.call("GET", "/api/v1/bots", headers={"X-API-Key": raw})
    assert status == 200
    assert jwt_token


async def test_jwt_only_scopes_refuse_every_key(sim):
    key = (await sim.new_key())["api_key"]
    for path in ("/api/v1/api-keys", "/api/v1/knowledge-bases", "/api/v1/tools"):
        status, body = await sim.call("GET", path, headers={"X-API-Key": key})
        assert (status, body["message"]) == (403, "Insufficient API key scope"), path
        status, body = await sim.call("GET", path, headers={"X-API-Key": "abk_unknown_123"})
        assert status == 403, path  # refused before the key is even looked up
    jwt_token = await sim.admin_jwt()
    status, body = await sim.call("GET", "/api/v1/api-keys",
                                  headers={"Authorization": f"Bearer {jwt_token}"})
    assert status == 200 and isinstance(body["data"], list)


async def test_jwt_as_cookie_and_expired_jwt(sim):
    jwt_token = await sim.admin_jwt()
    status, _ = await sim.call("GET", "/api/v1/api-keys",
                               cookies={"astrbot_dashboard_jwt": jwt_token})
    assert status == 200
    expired = pyjwt.encode({"username": "admin", "exp": datetime.now(UTC) - timedelta(hours=1)},
                           sim.sim.auth.secret, algorithm="HS256")
    status, body = await sim.call("GET", "/api/v1/api-keys",
                                  headers={"Authorization": f"Bearer {expired}"})
    assert (status, body["message"]) == (401, "Token expired")


async def test_revoked_deleted_and_expired_keys(sim):
    jwt_token = await sim.admin_jwt()
    auth = {"Authorization": f"Bearer {jwt_token}"}
    revoked, deleted = await sim.new_key(["im"]), await sim.new_key(["im"])
    status, body = await sim.call("POST", f"/api/v1/api-keys/{revoked['key_id']}/revoke",
                                  headers=auth)
    assert status == 200 and body["data"]["is_revoked"] is True
    status, _ = await sim.call("DELETE", f"/api/v1/api-keys/{deleted['key_id']}", headers=auth)
    assert status == 200
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    # the API refuses a key born expired (tests/test_tokens.py): this one expired after creation
    raw, _ = sim.sim.auth.create_key("expired", ["im"], created_by="admin", expires_at=past)
    expired = {"api_key": raw}
    for key in (revoked, deleted, expired):
        status, body = await sim.call("GET", IM_OP, headers={"X-API-Key": key["api_key"]})
        assert (status, body["message"]) == (401, "Invalid API key")
    status, body = await sim.call("DELETE", f"/api/v1/api-keys/{deleted['key_id']}",
                                  headers=auth)
    assert (status, body["message"]) == (404, "API key not found")


@pytest.mark.parametrize("payload, fragment", [
    ({"name": "x", "scopes": []}, "At least one valid scope"),
    ({"name": "x", "scopes": ["system"]}, "is not one of"),
    ({"name": "x", "expires_in_days": 0}, "minimum"),
    ({"scopes": ["chat"]}, "'name' is a required property"),
])
async def test_key_creation_rejects_bad_input(sim, payload, fragment):
    jwt_token = await sim.admin_jwt()
    status, body = await sim.call("POST", "/api/v1/api-keys", json=payload,
                                  headers={"Authorization": f"Bearer {jwt_token}"})
    assert status == 400 and fragment in body["message"], body
    status, body = await sim.call("GET", "/api/v1/api-keys",
                                  headers={"Authorization": f"Bearer {jwt_token}"})
    assert body["data"] == []


async def test_keys_are_stored_hashed_and_survive_a_restart(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    key = (await first.new_key(["im"]))["api_key"]
    db_file = first.sim.store.path
    await stop_sim(first)
    raw_db = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    assert key.encode() not in raw_db, "the raw API key is stored in the database"
    second = await start_sim(SimConfig(data_dir=tmp_path / "data"))
    try:
        status, _ = await second.call("GET", IM_OP, headers={"X-API-Key": key})
        assert status == 200
        _, body = await second.call("GET", "/api/v1/auth/setup-status")
        assert body["data"]["setup_required"] is False
    finally:
        await stop_sim(second)


async def test_environment_precreates_admin_and_key(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data", admin_username="ops",
                       admin_password="Ops-passw0rd", api_key="abk_preconfigured_key_0001")
    running = await start_sim(config)
    try:
        status, _ = await running.call("GET", IM_OP,
                                       headers={"X-API-Key": "abk_preconfigured_key_0001"})
        assert status == 200
        status, body = await running.call("POST", "/api/v1/auth/login", json={
            "username": "ops", "password": "Ops-passw0rd"})
        assert status == 200 and body["data"]["username"] == "ops"
    finally:
        await stop_sim(running)


async def test_unknown_path_and_method_use_the_envelope(sim):
    status, body = await sim.call("GET", "/api/v1/no-such-thing")
    assert (status, body) == (404, {"status": "error", "message": "Not Found"})
    status, body = await sim.call("DELETE", "/api/v1/auth/setup-status")
    assert status == 405 and body["status"] == "error"
    async with sim.http.request("TRACE", sim.url + "/api/v1/bots") as resp:
        allowed = {m.strip() for m in resp.headers["Allow"].split(",")}
        assert resp.status == 405 and allowed >= {"GET", "POST"}


async def test_unimplemented_operation_still_checks_scope(sim, monkeypatch):
    monkeypatch.delitem(sim.sim.handlers, "getPersonaTree")
    key = (await sim.new_key(["chat"]))["api_key"]
    status, body = await sim.call("GET", "/api/v1/personas/tree", headers={"X-API-Key": key})
    assert status == 403
    key = (await sim.new_key(["persona"]))["api_key"]
    status, body = await sim.call("GET", "/api/v1/personas/tree", headers={"X-API-Key": key})
    assert status == 501 and body["status"] == "error"
