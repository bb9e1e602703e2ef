"""Configuration families over real sockets: `/by-id` variants, system config, config routes,
bot types/registration/stats/tests, provider sources and their providers and models, MCP
tests and ModelScope sync, persona tree, cron runs, subagents, T2I templates, TOTP and account
changes; bad input changes nothing, and the state survives a restart."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote

import pytest

from simulator.http.handlers.auth import totp_code

from .conftest import ADMIN, start_sim, stop_sim

ESCAPES = ["..%2Fsimulator.db", "%2e%2e%2fsimulator.db", "..%5Csimulator.db", "a%2Fb",
           "%2e%2e", "x%00y"]


class Api:
    """Calls with the admin JWT that assert the status and return `data` (or the error)."""

    def __init__(self, sim, headers):
        self.sim, self.headers = sim, headers

    async def __call__(self, method, path, expect=200, **kwargs):
        status, body = await self.sim.call(method, path, headers=self.headers, **kwargs)
        assert status == expect, (method, path, status, body)
        if status >= 400:
            assert body["status"] == "error" and body["message"], body
            return body
        assert body["status"] == "ok", body
        return body["data"]


@pytest.fixture
async def api(sim):
    return Api(sim, {"Authorization": f"Bearer {await sim.admin_jwt()}"})


# -- /by-id variants share their collection ----------------------------------------------------
BY_ID = [  # collection path, by-id path, id param, create body, PUT by-id body (without id)
    ("/api/v1/bots", "/api/v1/bots/by-id", "bot_id",
     {"id": "tg", "type": "telegram", "config": {"telegram_token": "t"}},
     {"config": {"telegram_token": "u"}}),
    ("/api/v1/providers", "/api/v1/providers/by-id", "provider_id",
     {"id": "p1", "capability": "chat", "config": {"model": "gpt-4o"}},
     {"config": {"model": "gpt-4o-mini"}}),
    ("/api/v1/personas", "/api/v1/personas/by-id", "persona_id",
     {"persona_id": "helper", "system_prompt": "Be kind."}, {"system_prompt": "Be brief."}),
    ("/api/v1/mcp/servers", "/api/v1/mcp/servers/by-name", "server_name",
     {"name": "fs", "transport": "stdio", "command": "mcp-fs"}, {"config": {"timeout": 9}}),
]


@pytest.mark.parametrize("base, by_id, param, create, change", BY_ID)
async def test_by_id_variants(api, base, by_id, param, create, change):
    made = await api("POST", base, json=create)
    rid = next(v for k, v in made.items() if k in ("id", "persona_id", "name"))
    readable = "by-name" not in by_id  # MCP has no GET by name
    if readable:
        assert await api("GET", f"{by_id}?{param}={rid}") == made
    updated = await api("PUT", by_id, json={param: rid, **change})
    expected = change.get("config", change)
    if base.endswith("servers"):  # merged into the server document
        assert updated["timeout"] == 9 and updated["command"] == "mcp-fs"
    elif "config" in change:  # the config is replaced, the rest kept
        assert updated["config"] == expected and updated.get("type") == create.get("type")
    else:
        assert updated["system_prompt"] == "Be brief."
    if "enabled" in made:
        off = await api("PATCH", f"{base}/enabled", json={param: rid, "enabled": False})
        assert off["enabled"] is False
        on = await api("PATCH", f"{base}/{rid}/enabled", json={"enabled": True})
        assert on["enabled"] is True
        await api("PATCH", f"{base}/missing/enabled", 404, json={"enabled": True})
    await api("DELETE", f"{by_id}?{param}={rid}")
    await api("DELETE", f"{by_id}?{param}={rid}", 404)
    await api("PUT", by_id, 404, json={param: rid, **change})
    if readable:
        await api("GET", f"{by_id}?{param}=", 404)  # "" is a string naming nothing
        await api("GET", f"{by_id}?{param}={rid}", 404)


async def test_list_filters(api):
    await api("POST", "/api/v1/bots", json={"id": "a", "type": "telegram", "config": {}})
    await api("POST", "/api/v1/bots", json={"id": "b", "type": "discord", "config": {},
                                            "enabled": False})
    ids = lambda data: [item["id"] for item in data["bots"]]  # noqa: E731
    assert ids(await api("GET", "/api/v1/bots?enabled=true")) == ["a"]
    assert ids(await api("GET", "/api/v1/bots?type=discord")) == ["b"]
    await api("GET", "/api/v1/bots?enabled=maybe", 400)
    await api("POST", "/api/v1/providers", json={"id": "e", "capability": "embedding",
                                                 "config": {}})
    await api("POST", "/api/v1/providers", json={"id": "c", "capability": "chat", "config": {}})
    listed = await api("GET", "/api/v1/providers?capability=embedding")
    assert [p["id"] for p in listed] == ["e"]


# -- system config ------------------------------------------------------------------------------
async def test_system_config_replace_validate_and_persist(sim_config):
    first = await start_sim(sim_config)
    try:
        api = Api(first, {"Authorization": f"Bearer {await first.admin_jwt()}"})
        config = await api("GET", "/api/v1/system-config")
        schema = await api("GET", "/api/v1/system-config/schema")
        assert set(schema["properties"]) == set(config)
        assert schema["properties"]["provider_settings"]["properties"]["enable"]["type"] \
            == "boolean"
        await api("PUT", "/api/v1/system-config", 400,
                  json={"provider_settings": {"enable": "yes"}})
        await api("PUT", "/api/v1/system-config", 400, json={"log_level": "LOUD"})
        assert await api("GET", "/api/v1/system-config") == config  # unchanged
        await api("POST", "/api/v1/providers", json={"id": "main", "config": {}})
        saved = await api("PUT", "/api/v1/system-config", json={
            "timezone": "UTC", "provider_settings": {"default_provider_id": "main"},
            "custom_key": [1]})
        assert saved["timezone"] == "UTC" and saved["custom_key"] == [1]
        assert saved["provider_settings"]["enable"] is True  # filled from the defaults
        assert saved["log_level"] == config["log_level"]
    finally:
        await stop_sim(first)
    second = await start_sim(sim_config)
    try:
        api = Api(second, {"Authorization": f"Bearer {await second.admin_jwt()}"})
        assert (await api("GET", "/api/v1/system-config")) == saved
        runtime = await api("GET", "/api/v1/system-config/runtime")
        assert runtime["timezone"] == "UTC" and runtime["active_provider_id"] == "main"
        assert runtime["counts"]["providers"] == 1 and runtime["updated_at"]
        profile_schema = await api("GET", "/api/v1/config-profiles/schema")
        assert "provider_settings" in profile_schema["properties"]["config"]["properties"]
    finally:
        await stop_sim(second)


# -- config routes -----------------------------------------------------------------------------
async def test_config_routes(api):
    await api("POST", "/api/v1/config-profiles", json={"name": "Work"})
    profile = (await api("GET", "/api/v1/config-profiles"))[0]["id"]
    umo = "aiocqhttp:GroupMessage:42"
    route = await api("PUT", f"/api/v1/config-routes/{quote(umo, safe='')}",
                      json={"config_id": profile})
    assert route["routing"] == {umo: profile}
    await api("PUT", "/api/v1/config-routes/bad-umo", 400, json={"config_id": profile})
    await api("PUT", "/api/v1/config-routes/a:Nope:b", 400, json={"config_id": profile})
    await api("PUT", "/api/v1/config-routes/a:GroupMessage:b", 400, json={"config_id": "ghost"})
    await api("PUT", "/api/v1/config-routes", 400,
              json={"routing": {"x:FriendMessage:1": profile, "y:FriendMessage:2": "ghost"}})
    assert (await api("GET", "/api/v1/config-routes"))["routing"] == {umo: profile}
    replaced = await api("PUT", "/api/v1/config-routes", json={"routing": {
        "x:FriendMessage:1": profile, "y:*:*": profile, "z:FriendMessage:3": "default"}})
    assert replaced["routing"] == {"x:FriendMessage:1": profile, "y:*:*": profile}
    gone = await api("PUT", "/api/v1/config-routes/y:*:*", json={"config_id": "default"})
    assert gone["routing"] == {"x:FriendMessage:1": profile}
    await api("DELETE", "/api/v1/config-routes/x:FriendMessage:1")
    await api("DELETE", "/api/v1/config-routes/x:FriendMessage:1", 404)
    await api("PUT", "/api/v1/config-routes/q:FriendMessage:9", json={"config_id": profile})
    await api("DELETE", f"/api/v1/config-profiles/{profile}")  # its routes fall back
    assert (await api("GET", "/api/v1/config-routes"))["routing"] == {}


# -- bots: types, registration, tests, stats ------------------------------------------------------
async def test_bot_registration_creates_the_bot(api):
    types = {t["type"]: t for t in (await api("GET", "/api/v1/bot-types"))["bot_types"]}
    assert types["lark"]["registration"] == "device_code" and "telegram" in types
    await api("POST", "/api/v1/bot-types/nope/registration", 404, json={"action": "start"})
    await api("POST", "/api/v1/bot-types/telegram/registration", 400, json={"action": "start"})
    await api("POST", "/api/v1/bot-types/lark/registration", 400, json={"action": "poll"})
    await api("POST", "/api/v1/bot-types/lark/registration", 404,
              json={"action": "poll", "device_code": "unknown"})
    started = await api("POST", "/api/v1/bot-types/lark/registration", json={
        "action": "start", "platform_config": {"id": "feishu", "domain": "https://x"}})
    assert started["status"] == "pending" and started["bot_id"] == "feishu"
    poll = {"action": "poll", "device_code": started["device_code"]}
    assert (await api("POST", "/api/v1/bot-types/lark/registration", json=poll))["status"] \
        == "pending"
    await api("GET", "/api/v1/bots/feishu", 404)
    done = await api("POST", "/api/v1/bot-types/lark/registration",
                     json={"action": "poll", "registration_code": started["registration_code"]})
    assert done["status"] == "confirmed" and done["bot"]["config"]["domain"] == "https://x"
    bot = await api("GET", "/api/v1/bots/feishu")
    assert bot["type"] == "lark" and bot["config"]["app_id"].startswith("sim-app_id-")
    again = await api("POST", "/api/v1/bot-types/lark/registration", json=poll)
    assert again["status"] == "confirmed" and again["bot"] == bot  # idempotent
    await api("POST", "/api/v1/bot-types/lark/registration", 409,
              json={"action": "start", "platform_config": {"id": "feishu"}})


async def test_bot_tests_feed_the_stats(api):
    await api("POST", "/api/v1/bots", json={"id": "tg", "type": "telegram", "config": {}})
    await api("POST", "/api/v1/bots", json={"id": "qq", "type": "aiocqhttp", "config": {}})
    failed = await api("POST", "/api/v1/bots/tg/test")
    assert failed["ok"] is False and failed["missing_fields"] == ["telegram_token"]
    passed = await api("POST", "/api/v1/bots/test", json={"bot_id": "qq"})
    assert passed["ok"] is True and passed == await api("POST", "/api/v1/bots/qq/test")
    await api("POST", "/api/v1/bots/ghost/test", 404)
    await api("PATCH", "/api/v1/bots/enabled", json={"bot_id": "qq", "enabled": False})
    stats = await api("GET", "/api/v1/bots/stats")
    rows = {row["id"]: row for row in stats["bots"]}
    assert (rows["tg"]["status"], rows["tg"]["test_count"], rows["tg"]["error_count"]) \
        == ("error", 1, 1)
    assert (rows["qq"]["status"], rows["qq"]["test_count"]) == ("stopped", 2)
    assert stats["summary"] == {"total": 2, "running": 0, "stopped": 1, "error": 1}
    await api("DELETE", "/api/v1/bots/qq")
    await api("POST", "/api/v1/bots", json={"id": "qq", "type": "aiocqhttp", "config": {}})
    rows = {row["id"]: row for row in (await api("GET", "/api/v1/bots/stats"))["bots"]}
    assert rows["qq"]["test_count"] == 0  # counters went with the deleted bot


# -- providers and sources ------------------------------------------------------------------------
async def test_provider_sources_providers_and_models(api):
    await api("PUT", "/api/v1/provider-sources/oa", json={"config": {"type": "openai",
                                                                     "key": ["sk-1"]}})
    assert (await api("PUT", "/api/v1/provider-sources/oa", json={
        "id": "other", "config": {"type": "openai", "key": ["sk-1"]}}))["id"] == "oa"  # the path
    await api("PUT", "/api/v1/provider-sources/by-id", json={"source_id": "local",
                                                             "config": {"type": "ollama"}})
    assert [s["id"] for s in await api("GET", "/api/v1/provider-sources")] == ["oa", "local"]
    models = await api("GET", "/api/v1/provider-sources/oa/models?capability=embedding")
    assert [m["id"] for m in models["models"]] == ["text-embedding-3-small",
                                                   "text-embedding-3-large"]
    assert models == await api("GET", "/api/v1/provider-sources/models?source_id=oa"
                                      "&capability=embedding")
    await api("GET", "/api/v1/provider-sources/ghost/models", 404)
    chat = await api("POST", "/api/v1/provider-sources/oa/providers", json={
        "id": "gpt", "capability": "chat", "config": {"model": "gpt-4o"}})
    assert chat["provider_source_id"] == "oa" and chat["enabled"] is True
    odd = await api("POST", "/api/v1/provider-sources/oa/providers", json={
        "provider_source_id": "local", "config": {}})
    assert odd["provider_source_id"] == "oa"  # the source in the path wins
    await api("DELETE", f"/api/v1/providers/{odd['id']}")
    await api("POST", "/api/v1/provider-sources/ghost/providers", 404, json={"config": {}})
    await api("POST", "/api/v1/provider-sources/providers", json={
        "source_id": "oa", "config": {"id": "emb", "capability": "embedding",
                                      "model": "text-embedding-3-large"}})
    await api("POST", "/api/v1/provider-sources/providers", json={
        "source_id": "local", "config": {"id": "llama", "model": "llama3.1:8b"}})
    listed = await api("GET", "/api/v1/provider-sources/oa/providers?capability=embedding")
    assert [p["id"] for p in listed] == ["emb"]
    assert [p["id"] for p in await api("GET", "/api/v1/provider-sources/providers?source_id=oa")
            ] == ["gpt", "emb"]
    merged = await api("GET", "/api/v1/providers/gpt?merged=true")
    assert merged["config"] == {"type": "openai", "key": ["sk-1"], "model": "gpt-4o"}
    assert (await api("GET", "/api/v1/providers/by-id?provider_id=gpt"))["config"] \
        == {"model": "gpt-4o"}
    # tests: from the stored configuration, no network
    assert (await api("POST", "/api/v1/providers/gpt/test"))["ok"] is True
    assert (await api("POST", "/api/v1/providers/test", json={"provider_id": "llama"}))["ok"]
    await api("PUT", "/api/v1/provider-sources/oa", json={"config": {"type": "openai"}})
    no_key = await api("POST", "/api/v1/providers/gpt/test")
    assert (no_key["ok"], no_key["message"]) == (False, "No API key configured")
    await api("POST", "/api/v1/providers/ghost/test", 404)
    # embedding dimension: the model's, or what the (overlaid) config says
    dim = await api("POST", "/api/v1/providers/emb/embedding-dimension")
    assert dim["embedding_dimension"] == 3072
    dim = await api("POST", "/api/v1/providers/embedding-dimension", json={
        "provider_id": "emb", "provider_config": {"embedding_dimensions": 256}})
    assert dim["embedding_dimension"] == 256
    await api("POST", "/api/v1/providers/emb/embedding-dimension", 400,
              json={"embedding_dimensions": -1})
    await api("POST", "/api/v1/providers/gpt/embedding-dimension", 409)  # a chat provider
    # deleting a source deletes its providers
    gone = await api("DELETE", "/api/v1/provider-sources/by-id?source_id=oa")
    assert gone["deleted_providers"] == ["gpt", "emb"]
    assert [p["id"] for p in await api("GET", "/api/v1/providers")] == ["llama"]
    await api("GET", "/api/v1/provider-sources/oa", 404)
    schema = await api("GET", "/api/v1/providers/schema")
    assert "embedding" in schema["capabilities"] and "openai" in schema["source_types"]


# -- MCP ------------------------------------------------------------------------------------------
async def test_mcp_update_test_and_modelscope_sync(api):
    await api("POST", "/api/v1/mcp/servers", json={"name": "web", "transport": "sse",
                                                   "url": "https://mcp.example/sse"})
    before = (await api("GET", "/api/v1/mcp/servers"))[0]
    await api("PUT", "/api/v1/mcp/servers/by-name", 400,
              json={"server_name": "web", "config": {"transport": "carrier-pigeon"}})
    assert (await api("GET", "/api/v1/mcp/servers"))[0] == before
    tested = await api("POST", "/api/v1/mcp/servers/web/test")
    assert tested["ok"] is True and tested["tools"]
    assert tested == await api("POST", "/api/v1/mcp/servers/test", json={"server_name": "web"})
    await api("PUT", "/api/v1/mcp/servers/by-name", json={"server_name": "web",
                                                          "config": {"url": "ftp://x"}})
    assert (await api("POST", "/api/v1/mcp/servers/web/test"))["ok"] is False
    await api("POST", "/api/v1/mcp/servers/ghost/test", 404)
    draft = await api("POST", "/api/v1/mcp/servers/test", json={
        "server_name": "draft", "mcp_server_config": {"command": "npx"}})
    assert draft["ok"] is True and draft["transport"] == "stdio"
    assert (await api("POST", "/api/v1/mcp/providers/modelscope/sync"))["created"] == []
    assert (await api("POST", "/api/v1/mcp/providers/modelscope/sync",
                      json={"access_token": " "}))["created"] == []  # no account: no servers
    synced = await api("POST", "/api/v1/mcp/providers/modelscope/sync",
                       json={"access_token": "ms-token"})
    assert len(synced["created"]) == 3 and synced["updated"] == []
    await api("PATCH", f"/api/v1/mcp/servers/{synced['created'][0]}/enabled",
              json={"enabled": False})
    again = await api("POST", "/api/v1/mcp/providers/modelscope/sync",
                      json={"access_token": "ms-token"})
    assert again["created"] == [] and again["updated"] == synced["created"]
    assert [s["url"] for s in again["servers"]] == [s["url"] for s in synced["servers"]]
    assert again["servers"][0]["enabled"] is False  # the user's choice is kept
    assert len(await api("GET", "/api/v1/mcp/servers")) == 4


# -- personas tree -------------------------------------------------------------------------------
async def test_persona_tree_move_and_reorder(api):
    top = (await api("POST", "/api/v1/persona-folders", json={"name": "Top"}))["folder_id"]
    sub = (await api("POST", "/api/v1/persona-folders",
                     json={"name": "Sub", "parent_id": top}))["folder_id"]
    for pid in ("p1", "p2", "p3"):
        await api("POST", "/api/v1/personas", json={"persona_id": pid, "system_prompt": pid})
    moved = await api("POST", "/api/v1/personas/move", json={"persona_id": "p1",
                                                             "folder_id": sub})
    assert moved["folder_id"] == sub
    await api("POST", "/api/v1/personas/move", 404, json={"persona_id": "p2",
                                                          "folder_id": "ghost"})
    await api("POST", "/api/v1/personas/move", 404, json={"persona_id": "ghost"})
    await api("POST", "/api/v1/personas/move", 400, json={
        "type": "folder", "id": top, "persona_id": top, "folder_id": sub})  # a cycle
    await api("POST", "/api/v1/personas/reorder", 404, json={"items": [
        {"id": "p3", "type": "persona", "sort_order": 0}, {"id": "x", "type": "folder",
                                                            "sort_order": 1}]})
    await api("POST", "/api/v1/personas/reorder", json={"items": [
        {"id": "p3", "type": "persona", "sort_order": 0},
        {"id": "p2", "type": "persona", "sort_order": 1}]})
    tree = await api("GET", "/api/v1/personas/tree")
    assert [p["persona_id"] for p in tree["personas"]] == ["p3", "p2"]
    (node,) = tree["folders"]
    assert node["folder_id"] == top and node["children"][0]["folder_id"] == sub
    assert [p["persona_id"] for p in node["children"][0]["personas"]] == ["p1"]
    assert [p["persona_id"] for p in await api("GET", f"/api/v1/personas?folder_id={sub}")] \
        == ["p1"]
    await api("POST", "/api/v1/personas/move", json={"type": "folder", "persona_id": sub})
    assert len((await api("GET", "/api/v1/personas/tree"))["folders"]) == 2
    back = await api("POST", "/api/v1/personas/move", json={"persona_id": "p1"})
    assert "folder_id" not in back


# -- cron, subagents ----------------------------------------------------------------------------
async def test_cron_run_and_subagents(api):
    job = await api("POST", "/api/v1/cron/jobs", json={"name": "daily",
                                                       "cron_expression": "0 9 * * *"})
    await api("POST", f"/api/v1/cron/jobs/{job['job_id']}/run")
    run = await api("POST", f"/api/v1/cron/jobs/{job['job_id']}/run")
    assert run["run_count"] == 2 and run["last_run_status"] == "succeeded"
    assert (await api("GET", "/api/v1/cron/jobs"))[0]["run_count"] == 2
    await api("POST", "/api/v1/cron/jobs/ghost/run", 404)

    default = await api("GET", "/api/v1/subagents/config")
    assert default == {"main_enable": False, "remove_main_duplicate_tools": False, "agents": []}
    await api("POST", "/api/v1/mcp/servers", json={"name": "fs", "command": "mcp-fs"})
    tools = [t["name"] for t in (await api("GET", "/api/v1/subagents/available-tools"))["tools"]]
    assert "web_search" in tools and "fs_search" in tools
    for bad in ({"agents": [{"name": "a", "tools": ["no_such_tool"]}]},
                {"agents": [{"name": "a"}, {"name": "a"}]}, {"main_enable": "yes"},
                {"agents": [{"name": "a", "persona_id": "ghost"}]}, {"agents": [{}]}):
        await api("PUT", "/api/v1/subagents/config", 400, json=bad)
    assert await api("GET", "/api/v1/subagents/config") == default
    saved = await api("PUT", "/api/v1/subagents/config", json={
        "main_enable": True, "agents": [{"name": "researcher", "tools": ["web_search",
                                                                         "fs_search"]}]})
    assert saved["agents"][0]["tools"] == ["web_search", "fs_search"]
    assert await api("GET", "/api/v1/subagents/config") == saved


# -- T2I templates -------------------------------------------------------------------------------
async def test_t2i_templates(api, sim):
    assert await api("GET", "/api/v1/t2i/templates") == [
        {"name": "base", "is_default": True, "is_active": True}]
    base = await api("GET", "/api/v1/t2i/templates/base")
    made = await api("POST", "/api/v1/t2i/templates", json={"name": "card", "content": "<b/>"})
    assert made["is_default"] is False
    await api("POST", "/api/v1/t2i/templates", 409, json={"name": "card", "content": "x"})
    await api("POST", "/api/v1/t2i/templates", json={"name": "blank", "content": " "})
    await api("DELETE", "/api/v1/t2i/templates/blank")  # any string is content (issue 10)
    await api("POST", "/api/v1/t2i/templates", 400, json={"name": "active", "content": "x"})
    await api("PUT", "/api/v1/t2i/templates/card", json={"content": "<i/>"})
    assert (await api("GET", "/api/v1/t2i/templates/card"))["content"] == "<i/>"
    await api("PUT", "/api/v1/t2i/templates/active", json={"name": "card"})
    await api("PUT", "/api/v1/t2i/templates/active", 404, json={"name": "ghost"})
    assert await api("GET", "/api/v1/t2i/templates/active") == {"active_template": "card"}
    await api("DELETE", "/api/v1/t2i/templates/card", 409)  # active
    await api("DELETE", "/api/v1/t2i/templates/base", 409)  # built in
    await api("PUT", "/api/v1/t2i/templates/base", json={"content": "changed"})
    reset = await api("POST", "/api/v1/t2i/templates/default/reset")
    assert reset["content"] == base["content"] and reset["active_template"] == "base"
    await api("DELETE", "/api/v1/t2i/templates/card")
    await api("GET", "/api/v1/t2i/templates/card", 404)
    assert [t["name"] for t in await api("GET", "/api/v1/t2i/templates")] == ["base"]


@pytest.mark.parametrize("raw", ESCAPES)
async def test_t2i_names_cannot_escape(api, sim, raw):
    for method, body in (("GET", None), ("PUT", {"content": "x"}), ("DELETE", None)):
        status, answer = await sim.call(method, f"/api/v1/t2i/templates/{raw}",
                                        headers=api.headers, json=body)
        assert status in (400, 404) and answer["status"] == "error", (method, status, answer)
    plain = raw.replace("%2F", "/").replace("%2f", "/").replace("%5C", "\\").replace(
        "%2e", ".").replace("%00", "\x00")
    await api("POST", "/api/v1/t2i/templates", 400, json={"name": plain, "content": "x"})
    await api("PUT", "/api/v1/t2i/templates/active", 400, json={"name": plain})
    data_dir = sim.sim.config.data_dir
    assert sorted(p.name for p in data_dir.iterdir() if p.suffix == ".html") == []
    assert sim.sim.store.path.is_file()


# -- auth: TOTP and account -----------------------------------------------------------------------
def test_totp_matches_rfc_6238():
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp_code(secret, at=59) == "287082"  # RFC 6238 appendix B, last 6 digits
    assert totp_code(secret, at=1111111109) == "081804"


async def test_totp_setup_login_and_recovery(api, sim):
    await api("POST", "/api/v1/auth/totp/recovery", 409)  # not enabled yet
    issued = await api("POST", "/api/v1/auth/totp/setup")
    secret = issued["secret"]
    assert len(secret) == 32 and issued["otpauth_uri"].startswith("otpauth://totp/AstrBot")
    valid = {totp_code(secret, time.time() + drift) for drift in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    await api("POST", "/api/v1/auth/totp/setup", 400, json={"secret": secret, "code": wrong})
    await api("POST", "/api/v1/auth/totp/setup", 400, json={"secret": "not base32!"})
    login = {"username": ADMIN["username"], "password": ADMIN["password"]}
    assert (await sim.call("POST", "/api/v1/auth/login", json=login))[0] == 200  # still off
    enabled = await api("POST", "/api/v1/auth/totp/setup",
                        json={"secret": secret, "code": totp_code(secret)})
    recovery = enabled["recovery_code"]
    status, body = await sim.call("POST", "/api/v1/auth/login", json=login)
    assert status == 401 and body["data"] == {"totp_required": True}
    status, _ = await sim.call("POST", "/api/v1/auth/login", json={**login, "code": "12345"})
    assert status == 401
    status, _ = await sim.call("POST", "/api/v1/auth/login",
                               json={**login, "code": totp_code(secret)})
    assert status == 200
    # rotating needs the current code first
    await api("POST", "/api/v1/auth/totp/setup", 400)
    other = base64.b32encode(b"another-secret-20byt").decode()
    await api("POST", "/api/v1/auth/totp/setup", 400,
              json={"secret": other, "code": totp_code(other)})
    fresh = (await api("POST", "/api/v1/auth/totp/setup", json={"code": totp_code(secret)}))
    secret = fresh["secret"]
    enabled = await api("POST", "/api/v1/auth/totp/setup",
                        json={"secret": secret, "code": totp_code(secret)})
    recovery = enabled["recovery_code"]
    status, _ = await sim.call("POST", "/api/v1/auth/login",
                               json={**login, "code": totp_code(secret)})
    assert status == 200  # the rotated secret is the one that counts
    rotated = await api("POST", "/api/v1/auth/totp/recovery")
    assert rotated["recovery_code"] != recovery
    status, _ = await sim.call("POST", "/api/v1/auth/login", json={**login, "code": recovery})
    assert status == 401  # the old recovery code is void
    status, _ = await sim.call("POST", "/api/v1/auth/login",
                               json={**login, "code": rotated["recovery_code"]})
    assert status == 200  # a recovery code logs in and turns two-factor off
    assert (await sim.call("POST", "/api/v1/auth/login", json=login))[0] == 200


@pytest.mark.parametrize("body, status", [
    ({"password": "wrong-password", "new_password": "N3w-password!",
      "confirm_password": "N3w-password!"}, 400),
    ({"password": ADMIN["password"]}, 400),
    ({"password": ADMIN["password"], "new_password": "N3w-password!",
      "confirm_password": "different"}, 400),
    ({"password": ADMIN["password"], "new_password": "short", "confirm_password": "short"}, 400),
    ({"password": ADMIN["password"], "new_username": "ab"}, 400),
    ({"password": ADMIN["password"], "extra": 1}, 400),
])
async def test_account_update_rejects_bad_input(api, sim, body, status):
    await api("PATCH", "/api/v1/auth/account", status, json=body)
    login = {"username": ADMIN["username"], "password": ADMIN["password"]}
    assert (await sim.call("POST", "/api/v1/auth/login", json=login))[0] == 200


async def test_account_update_changes_the_login(sim_config):
    first = await start_sim(sim_config)
    try:
        api = Api(first, {"Authorization": f"Bearer {await first.admin_jwt()}"})
        changed = await api("PATCH", "/api/v1/auth/account", json={
            "password": ADMIN["password"], "new_username": "root",
            "new_password": "N3w-password!", "confirm_password": "N3w-password!"})
        assert changed["username"] == "root" and changed["password_changed"] is True
    finally:
        await stop_sim(first)
    second = await start_sim(sim_config)
    try:
        for username, password, expected in (("admin", ADMIN["password"], 401),
                                             ("root", ADMIN["password"], 401),
                                             ("root", "N3w-password!", 200)):
            status, _ = await second.call("POST", "/api/v1/auth/login", json={
                "username": username, "password": password})
            assert status == expected, (username, password)
        api = Api(second, {"Authorization": f"Bearer {changed['token']}"})
        renamed = await api("PATCH", "/api/v1/auth/account", json={
            "password": "N3w-password!", "new_username": "root2"})
        assert renamed["password_changed"] is False
        status, _ = await second.call("POST", "/api/v1/auth/login", json={
            "username": "root2", "password": "N3w-password!"})
        assert status == 200
    finally:
        await stop_sim(second)


async def test_api_keys_and_scopes(sim):
    key = (await sim.new_key(["bot"]))["api_key"]
    headers = {"X-API-Key": key}
    status, _ = await sim.call("GET", "/api/v1/bot-types", headers=headers)
    assert status == 200
    for method, path in (("GET", "/api/v1/system-config"), ("POST", "/api/v1/auth/totp/setup"),
                         ("POST", "/api/v1/cron/jobs/x/run")):
        status, body = await sim.call(method, path, headers=headers)
        assert status == 403 and body["status"] == "error"


# -- persistence -----------------------------------------------------------------------------------
async def test_configuration_survives_a_restart(sim_config):
    first = await start_sim(sim_config)
    try:
        api = Api(first, {"Authorization": f"Bearer {await first.admin_jwt()}"})
        work = (await api("POST", "/api/v1/config-profiles", json={"name": "Work"}))["id"]
        await api("PUT", "/api/v1/config-routes/a:FriendMessage:b", json={"config_id": work})
        await api("POST", "/api/v1/bots", json={"id": "qq", "type": "aiocqhttp", "config": {}})
        await api("POST", "/api/v1/bots/qq/test")
        await api("POST", "/api/v1/t2i/templates", json={"name": "card", "content": "<p/>"})
        await api("PUT", "/api/v1/t2i/templates/active", json={"name": "card"})
        await api("PUT", "/api/v1/subagents/config", json={"main_enable": True})
        folder = (await api("POST", "/api/v1/persona-folders", json={"name": "F"}))["folder_id"]
        await api("POST", "/api/v1/personas", json={"persona_id": "p", "system_prompt": "x"})
        await api("POST", "/api/v1/personas/move", json={"persona_id": "p", "folder_id": folder})
    finally:
        await stop_sim(first)
    second = await start_sim(sim_config)
    try:
        api = Api(second, {"Authorization": f"Bearer {await second.admin_jwt()}"})
        assert (await api("GET", "/api/v1/config-routes"))["routing"] == {
            "a:FriendMessage:b": work}
        assert (await api("GET", "/api/v1/bots/stats"))["bots"][0]["test_count"] == 1
        assert (await api("GET", "/api/v1/t2i/templates/active"))["active_template"] == "card"
        assert (await api("GET", "/api/v1/t2i/templates/card"))["content"] == "<p/>"
        assert (await api("GET", "/api/v1/subagents/config"))["main_enable"] is True
        tree = await api("GET", "/api/v1/personas/tree")
        assert tree["personas"] == [] and tree["folders"][0]["personas"][0]["persona_id"] == "p"
    finally:
        await stop_sim(second)
