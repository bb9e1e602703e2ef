"""Inputs schemathesis found crashing or slipping through the simulator (full depth), kept as
regressions: each must get a 4xx envelope or a normal answer, never a 500."""

from __future__ import annotations


async def test_a_lifetime_past_year_9999_is_a_key_valid_until_then(sim):
    """The contract bounds `expires_in_days` below only (minimum 1): a schema-valid lifetime
    too long for a date-time is taken, not refused (V1-FUZZ-004 at full depth) nor a 500."""
    jwt = await sim.admin_jwt()
    for expiry in ({"expires_in_days": 26221750870980465783105126400},
                   {"expires_at": "9999-12-31T23:00:00-05:00"}):  # past 9999 once in UTC
        status, body = await sim.call("POST", "/api/v1/api-keys", json={"name": "far", **expiry},
                                      headers={"Authorization": f"Bearer {jwt}"})
        assert status == 200, (expiry, body)
        assert body["data"]["expires_at"].startswith("9999-12-31T23:59:59")
        assert body["data"]["is_expired"] is False
        status, _ = await sim.call("GET", "/api/v1/chat/sessions?username=u",
                                   headers={"X-API-Key": body["data"]["api_key"]})
        assert status == 200, expiry  # the key works


async def test_a_page_beyond_any_offset_is_an_empty_page(sim):
    key = (await sim.new_key(["chat"]))["api_key"]
    status, body = await sim.call(
        "GET", "/api/v1/chat/sessions?username=al&page=527123583569868533792768&page_size=35",
        headers={"X-API-Key": key})
    assert status == 200 and body["data"]["sessions"] == []


async def test_a_whitespace_json_body_is_malformed_not_absent(sim):
    status, body = await sim.call("POST", "/api/v1/updates/core", data=b"\n",
                                  headers={"Authorization": f"Bearer {await sim.admin_jwt()}",
                                           "Content-Type": "application/json"})
    assert status == 400 and "Invalid JSON" in body["message"]


async def test_a_custom_group_rule_delete_without_its_group_is_a_404(sim):
    status, body = await sim.call("POST", "/api/v1/sessions/rules/delete",
                                  json={"scope": "custom_group"},
                                  headers={"Authorization": f"Bearer {await sim.admin_jwt()}"})
    assert status == 404 and body["message"] == "Session group None not found"
