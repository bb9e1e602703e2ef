"""Configured resources behave as collections and survive a restart (real sockets, SQLite)."""

from __future__ import annotations

import pytest

from simulator.config import SimConfig

from .conftest import start_sim, stop_sim

# path, a valid create body, the id field, a replacement (PUT) or patch (PATCH), list key
FAMILIES = [
    ("/api/v1/bots", {"id": "qq-1", "type": "aiocqhttp", "config": {"ws": "x"}}, "id",
     ("PUT", {"type": "telegram", "config": {}}), "bots"),
    ("/api/v1/personas", {"persona_id": "helper", "system_prompt": "Be kind."}, "persona_id",
     ("PUT", {"persona_id": "helper", "system_prompt": "Be brief."}), None),
    ("/api/v1/providers", {"id": "p1", "config": {"model": "m"}}, "id",
     ("PUT", {"config": {"model": "n"}}), None),
    ("/api/v1/cron/jobs", {"name": "daily", "cron_expression": "0 9 * * *"}, "job_id",
     ("PATCH", {"note": "morning"}), None),
    ("/api/v1/mcp/servers", {"name": "fs", "transport": "stdio", "command": "mcp-fs"}, "name",
     ("PUT", {"name": "fs", "transport": "sse"}), None),
]


async def jwt_headers(sim) -> dict:
    return {"Authorization": f"Bearer {await sim.admin_jwt()}"}


def listed(body, list_key):
    data = body["data"]
    return data[list_key] if list_key else data


@pytest.mark.parametrize("path, create, id_field, change, list_key", FAMILIES)
async def test_create_read_update_delete(sim, path, create, id_field, change, list_key):
    headers = await jwt_headers(sim)
    status, made = await sim.call("POST", path, json=create, headers=headers)
    assert status == 200, made
    rid = made["data"][id_field]
    assert create.get(id_field) in (None, rid)
    status, dup = await sim.call("POST", path, json={**create, id_field: rid}, headers=headers)
    assert status == 409, dup  # the id is taken
    _, listing = await sim.call("GET", path, headers=headers)
    assert [item[id_field] for item in listed(listing, list_key)].count(rid) == 1
    method, patch = change
    status, changed = await sim.call(method, f"{path}/{rid}", json=patch, headers=headers)
    assert status == 200 and changed["data"][id_field] == rid, changed
    for key, value in patch.items():
        assert changed["data"][key] == value
    if method == "PATCH":  # a merge keeps what it did not name
        assert all(changed["data"][k] == v for k, v in create.items() if k not in patch)
    status, _ = await sim.call("DELETE", f"{path}/{rid}", headers=headers)
    assert status == 200
    status, gone = await sim.call("DELETE", f"{path}/{rid}", headers=headers)
    assert status == 404 and gone["status"] == "error"
    _, listing = await sim.call("GET", path, headers=headers)
    assert rid not in [item[id_field] for item in listed(listing, list_key)]


async def test_invalid_body_changes_nothing(sim):
    headers = await jwt_headers(sim)
    status, body = await sim.call("POST", "/api/v1/personas", headers=headers,
                                  json={"persona_id": "x"})  # system_prompt is required
    assert status == 400 and "system_prompt" in body["message"]
    _, listing = await sim.call("GET", "/api/v1/personas", headers=headers)
    assert listing["data"] == []
    status, _ = await sim.call("GET", "/api/v1/personas/nobody", headers=headers)
    assert status == 404


async def test_bots_feed_the_im_bot_list_and_survive_a_restart(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    headers = await jwt_headers(first)
    for bot_id in ("b-1", "b-2"):
        status, _ = await first.call("POST", "/api/v1/bots", headers=headers, json={
            "id": bot_id, "type": "aiocqhttp", "config": {}})
        assert status == 200
    await stop_sim(first)
    second = await start_sim(SimConfig(data_dir=tmp_path / "data"))
    try:
        headers = await jwt_headers(second)
        _, bots = await second.call("GET", "/api/v1/im/bots", headers=headers)
        assert bots["data"]["bot_ids"] == ["b-1", "b-2"]
        status, bot = await second.call("GET", "/api/v1/bots/b-2", headers=headers)
        assert status == 200 and bot["data"]["type"] == "aiocqhttp"
    finally:
        await stop_sim(second)


async def test_an_id_is_kept_exactly_as_the_client_sent_it(sim):
    """Full-depth fuzzing found it: an id ending in a form feed was stored stripped, so the
    client's own id then read as 404 on the /by-id variant."""
    headers = await jwt_headers(sim)
    rid = "qq-\\ \x0c"
    status, made = await sim.call("POST", "/api/v1/bots", headers=headers,
                                  json={"id": rid, "type": "aiocqhttp", "config": {}})
    assert status == 200 and made["data"]["id"] == rid, made
    status, read = await sim.call("GET", "/api/v1/bots/by-id", headers=headers,
                                  params={"bot_id": rid})
    assert status == 200 and read["data"]["id"] == rid, read
    status, blank = await sim.call("POST", "/api/v1/bots", headers=headers,
                                   json={"id": " \t", "type": "aiocqhttp", "config": {}})
    assert status == 200 and blank["data"]["id"].strip(), blank  # blank: a new id
