"""Chat sessions, threads, projects, conversations, session rules and v1 files (real sockets,
SQLite): round trips, ownership, persistence across a restart, bad input changing nothing."""

from __future__ import annotations

import json

import aiohttp
import pytest

from simulator.config import SimConfig
from simulator.contract import operations
from simulator.http.kernel.envelope import ApiError
from simulator.http.kernel.router import Ctx

from .conftest import start_sim, stop_sim

UMO = "aiocqhttp:GroupMessage:12345"


async def jwt(sim) -> dict:
    return {"Authorization": f"Bearer {await sim.admin_jwt()}"}


async def key(sim, *scopes) -> dict:
    return {"X-API-Key": (await sim.new_key(list(scopes)))["api_key"]}


async def stream(sim, path: str, body: dict | None, headers: dict) -> list[dict]:
    async with sim.http.post(sim.url + path, json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        text = await resp.text()
    return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]


async def new_session(sim, headers: dict, query: str = "") -> str:
    status, body = await sim.call("GET", "/api/v1/chat/sessions/new" + query, headers=headers)
    assert status == 200, body
    return body["data"]["session_id"]


async def chat(sim, headers: dict, sid: str, text: str, **extra) -> list[dict]:
    return await stream(sim, "/api/v1/chat", {"message": text, "session_id": sid, **extra},
                        headers)


async def history(sim, headers: dict, sid: str, query: str = "") -> list[dict]:
    status, body = await sim.call("GET", f"/api/v1/chat/sessions/{sid}{query}", headers=headers)
    assert status == 200, body
    return body["data"]["history"]


def texts(entries: list[dict]) -> list[tuple[str, str]]:
    return [(e["content"]["type"], "".join(p.get("text", "") for p in e["content"]["message"]))
            for e in entries]


# --- chat sessions ----------------------------------------------------------------------------
async def test_session_lifecycle(sim):
    h = await jwt(sim)
    status, made = await sim.call("GET", "/api/v1/chat/sessions/new?platform_id=webchat",
                                  headers=h)
    assert status == 200 and made["data"]["creator"] == "admin" \
        and made["data"]["platform_id"] == "webchat"
    sid = made["data"]["session_id"]
    assert await history(sim, h, sid) == []
    events = await chat(sim, h, sid, "hi")
    assert events[-2]["type"] == "message_saved"
    assert texts(await history(sim, h, sid)) == [
        ("user", "hi"), ("bot", "You said: hi. I am the AstrBot simulator.")]
    status, renamed = await sim.call("PATCH", f"/api/v1/chat/sessions/{sid}", headers=h,
                                     json={"display_name": "Greetings"})
    assert status == 200 and renamed["data"]["display_name"] == "Greetings"
    _, listing = await sim.call("GET", "/api/v1/chat/sessions", headers=h)
    assert [(s["session_id"], s["display_name"])
            for s in listing["data"]["sessions"]] == [(sid, "Greetings")]
    for _ in range(2):  # stop is idempotent
        status, stopped = await sim.call("POST", f"/api/v1/chat/sessions/{sid}/stop", headers=h)
        assert status == 200 and stopped["data"]["stopped_count"] == 0
    status, _ = await sim.call("DELETE", f"/api/v1/chat/sessions/{sid}", headers=h)
    assert status == 200 and sim.sim.store.messages(sid) == []
    for method in ("GET", "DELETE", "PATCH"):
        status, gone = await sim.call(method, f"/api/v1/chat/sessions/{sid}", headers=h,
                                      json={} if method == "PATCH" else None)
        assert status == 404 and gone["status"] == "error", (method, gone)


async def test_api_keys_name_the_user_and_sessions_stay_private(sim):
    h = await key(sim, "chat")
    status, body = await sim.call("GET", "/api/v1/chat/sessions/new", headers=h)
    assert (status, body["message"]) == (400, "Missing key: username")
    status, body = await sim.call("GET", "/api/v1/chat/sessions/new?username=%20", headers=h)
    assert (status, body["message"]) == (400, "username is empty")
    sid = await new_session(sim, h, "?username=al")
    assert sim.sim.store.chat_session(sid)["creator"] == "al"
    assert await history(sim, h, sid, "?username=al") == []
    for headers, query in ((h, "?username=bob"), (await jwt(sim), "")):
        for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/stop")):
            status, body = await sim.call(method, f"/api/v1/chat/sessions/{sid}{path}{query}",
                                          headers=headers)
            assert (status, body["message"]) == (403, "Permission denied"), (method, path)
    assert sim.sim.store.chat_session(sid) is not None
    status, _ = await sim.call("GET", "/api/v1/conversations", headers=h)
    assert status == 403  # a chat key has no data scope


async def test_batch_delete_reports_what_it_could_not_delete(sim):
    h, other = await key(sim, "chat"), await jwt(sim)
    mine = [await new_session(sim, h, "?username=al") for _ in range(2)]
    theirs = await new_session(sim, other)
    status, body = await sim.call("POST", "/api/v1/chat/sessions/batch-delete?username=al",
                                  headers=h, json={"session_ids": [*mine, theirs, "nope"]})
    assert status == 200 and body["data"]["deleted_count"] == 2
    assert body["data"]["failed_items"] == [
        {"session_id": theirs, "reason": "permission denied"},
        {"session_id": "nope", "reason": "not found"}]
    assert [sim.sim.store.chat_session(s) for s in mine] == [None, None]
    assert sim.sim.store.chat_session(theirs) is not None
    status, _ = await sim.call("POST", "/api/v1/chat/sessions/batch-delete?username=al",
                               headers=h, json={"session_ids": []})
    assert status == 200  # none named: nothing deleted (the schema takes an empty list)


async def test_edit_then_regenerate_the_latest_turn(sim):
    h = await jwt(sim)
    sid = await new_session(sim, h)
    await chat(sim, h, sid, "first")
    await chat(sim, h, sid, "second")
    old_user, _, user, bot = await history(sim, h, sid)
    base = f"/api/v1/chat/sessions/{sid}/messages"
    edit = {"content": {"type": "user", "message": [{"type": "plain", "text": "changed"}]}}
    for msg_id, body, status in (
            (old_user["id"], edit, 409),  # only the latest user message
            (bot["id"], {"content": {"type": "bot", "message": []}}, 409),
            (user["id"], {"content": {"type": "bot", "message": []}}, 400),
            (user["id"], {"content": {"type": "user", "message": []}}, 400),
            (user["id"], {"content": {"type": "user"}}, 400),
            ("999999", edit, 404), ("x", edit, 404)):
        got, answer = await sim.call("PATCH", f"{base}/{msg_id}", headers=h, json=body)
        assert got == status and answer["status"] == "error", (msg_id, body, answer)
    assert len(await history(sim, h, sid)) == 4  # nothing changed
    status, edited = await sim.call("PATCH", f"{base}/{user['id']}", headers=h, json=edit)
    assert status == 200 and edited["data"]["needs_regenerate"] is True
    assert edited["data"]["deleted_message_ids"] == [bot["id"]]
    assert texts(await history(sim, h, sid))[-1] == ("user", "changed")
    events = await stream(sim, f"{base}/{user['id']}/regenerate", None, h)
    assert [e["type"] for e in events][0] == "session_id" and "user_message_saved" not in [
        e["type"] for e in events]
    assert events[-3]["data"] == "You said: changed. I am the AstrBot simulator."
    *_, new_bot = await history(sim, h, sid)
    events = await stream(sim, f"{base}/{new_bot['id']}/regenerate",
                          {"enable_streaming": False}, h)
    assert [e["type"] for e in events if e["type"] == "plain"] == ["plain"]
    entries = await history(sim, h, sid)
    assert len(entries) == 4 and entries[-1]["id"] not in (bot["id"], new_bot["id"])
    assert entries[-1]["llm_checkpoint_id"] == entries[-2]["llm_checkpoint_id"]
    status, _ = await sim.call("POST", f"{base}/{old_user['id'] + 1}/regenerate", headers=h)
    assert status == 409  # an older turn


# --- threads ----------------------------------------------------------------------------------
async def test_threads_hang_off_bot_messages(sim):
    h = await jwt(sim)
    sid = await new_session(sim, h)
    await chat(sim, h, sid, "hello")
    user, bot = await history(sim, h, sid)
    make = {"session_id": sid, "parent_message_id": bot["id"], "selected_text": "simulator"}
    status, made = await sim.call("POST", "/api/v1/chat/threads", headers=h, json=make)
    assert status == 200 and made["data"]["parent_session_id"] == sid
    tid = made["data"]["thread_id"]
    _, again = await sim.call("POST", "/api/v1/chat/threads", headers=h,
                              json={**make, "parent_message_id": str(bot["id"])})
    assert again["data"]["thread_id"] == tid  # reused
    for change, status in (({"parent_message_id": user["id"]}, 400),
                           ({"parent_message_id": 999999}, 404),
                           ({"parent_message_id": "abc"}, 404),
                           ({"selected_text": "  "}, 400), ({"session_id": "nope"}, 404)):
        got, body = await sim.call("POST", "/api/v1/chat/threads", headers=h,
                                   json={**make, **change})
        assert got == status and body["status"] == "error", change
    events = await stream(sim, f"/api/v1/chat/threads/{tid}/messages",
                          {"message": "why [[sim:reply=because]]"}, h)
    assert events[0]["session_id"] == tid and events[-2]["type"] == "message_saved"
    status, got = await sim.call("GET", f"/api/v1/chat/threads/{tid}", headers=h)
    assert status == 200 and texts(got["data"]["history"]) == [
        ("user", "why [[sim:reply=because]]"), ("bot", "because")]
    _, session = await sim.call("GET", f"/api/v1/chat/sessions/{sid}", headers=h)
    assert [t["thread_id"] for t in session["data"]["threads"]] == [tid]
    status, _ = await sim.call("POST", f"/api/v1/chat/threads/{tid}/messages", headers=h,
                               json={"message": [{"type": "reply", "message_id": "1"}]})
    assert status == 400
    status, _ = await sim.call("DELETE", f"/api/v1/chat/threads/{tid}", headers=h)
    assert status == 200 and sim.sim.store.messages(tid) == []
    for method in ("GET", "DELETE"):
        status, _ = await sim.call(method, f"/api/v1/chat/threads/{tid}", headers=h)
        assert status == 404
    _, made = await sim.call("POST", "/api/v1/chat/threads", headers=h, json=make)
    await sim.call("DELETE", f"/api/v1/chat/sessions/{sid}", headers=h)
    status, _ = await sim.call("GET", f"/api/v1/chat/threads/{made['data']['thread_id']}",
                               headers=h)
    assert status == 404  # the session took its threads along


# --- projects ---------------------------------------------------------------------------------
async def test_projects_group_sessions(sim):
    h = await jwt(sim)
    status, untitled = await sim.call("POST", "/api/v1/chat/projects", headers=h,
                                      json={"emoji": "x"})  # seed 004 requires no title
    assert status == 200 and untitled["data"]["title"] == "Untitled project"
    await sim.call("DELETE", f"/api/v1/chat/projects/{untitled['data']['project_id']}",
                   headers=h)
    status, made = await sim.call("POST", "/api/v1/chat/projects", headers=h,
                                  json={"title": "Work", "description": "d"})
    assert status == 200 and made["data"]["emoji"] == "📁"
    pid = made["data"]["project_id"]
    status, patched = await sim.call("PATCH", f"/api/v1/chat/projects/{pid}", headers=h,
                                     json={"emoji": "🛠"})
    assert patched["data"]["title"] == "Work" and patched["data"]["emoji"] == "🛠"
    status, _ = await sim.call("PATCH", f"/api/v1/chat/projects/{pid}", headers=h,
                               json={"title": " "})
    assert status == 200  # a blank title keeps the one it had
    _, listing = await sim.call("GET", "/api/v1/chat/projects", headers=h)
    assert [(p["project_id"], p["title"]) for p in listing["data"]] == [(pid, "Work")]
    inside, outside = await new_session(sim, h), await new_session(sim, h)
    status, _ = await sim.call("POST", f"/api/v1/chat/projects/{pid}/sessions/{inside}",
                               headers=h)
    assert status == 200
    _, members = await sim.call("GET", f"/api/v1/chat/projects/{pid}/sessions", headers=h)
    assert [s["session_id"] for s in members["data"]] == [inside]
    _, listing = await sim.call("GET", "/api/v1/chat/sessions", headers=h)
    assert [s["session_id"] for s in listing["data"]["sessions"]] == [outside]  # research SESS-003
    _, session = await sim.call("GET", f"/api/v1/chat/sessions/{inside}", headers=h)
    assert session["data"]["project"]["project_id"] == pid
    other = await key(sim, "chat")
    status, _ = await sim.call("GET", f"/api/v1/chat/projects/{pid}?username=eve", headers=other)
    assert status == 403
    _, listing = await sim.call("GET", "/api/v1/chat/projects?username=eve", headers=other)
    assert listing["data"] == []
    for _ in range(2):
        status, _ = await sim.call("DELETE", f"/api/v1/chat/projects/sessions/{inside}",
                                   headers=h)
    assert status == 404  # the second removal: it is in no project any more
    await sim.call("POST", f"/api/v1/chat/projects/{pid}/sessions/{outside}", headers=h)
    status, _ = await sim.call("DELETE", f"/api/v1/chat/projects/{pid}", headers=h)
    assert status == 200
    for path in (f"/api/v1/chat/projects/{pid}", f"/api/v1/chat/projects/{pid}/sessions"):
        status, _ = await sim.call("GET", path, headers=h)
        assert status == 404
    _, listing = await sim.call("GET", "/api/v1/chat/sessions", headers=h)
    assert {s["session_id"] for s in listing["data"]["sessions"]} == {inside, outside}


# --- conversations ----------------------------------------------------------------------------
async def two_conversations(sim) -> tuple[dict, list[dict]]:
    h = await key(sim, "chat", "data")
    for user, text in (("al", "apples"), ("bo", "bananas")):
        await stream(sim, "/api/v1/chat", {"message": text, "username": user}, h)
    _, listing = await sim.call("GET", "/api/v1/conversations", headers=h)
    return h, listing["data"]["conversations"]


async def test_conversations_derive_from_chats_and_can_be_edited(sim):
    h, convs = await two_conversations(sim)
    assert [c["history"][0]["content"] for c in convs] == ["bananas", "apples"]  # newest first
    al = convs[1]
    assert al["user_id"].startswith("webchat:FriendMessage:webchat!al!") \
        and al["umo_info"]["platform"] == "webchat"
    path = f"/api/v1/conversations/{al['cid']}"
    ref = {"user_id": al["user_id"]}
    status, got = await sim.call("GET", path, params=ref, headers=h)
    assert status == 200 and got["data"]["history"][1]["role"] == "assistant"
    for params, status in (({"user_id": "webchat:FriendMessage:x"}, 404), ({}, 400),
                           ({"user_id": ""}, 404)):
        got, _ = await sim.call("GET", path, params=params, headers=h)
        assert got == status, params
    status, got = await sim.call("PATCH", path, params=ref, headers=h,
                                 json={"title": "Fruit", "persona_id": "default"})
    assert status == 200 and (got["data"]["title"], got["data"]["persona_id"]) == (
        "Fruit", "default")
    status, _ = await sim.call("PATCH", path, params=ref, headers=h,
                               json={"persona_id": "ghost"})
    assert status == 404
    msgs = f"{path}/messages"
    status, _ = await sim.call("PUT", msgs, params=ref, headers=h,
                               json={"messages": [{"role": "wizard", "content": "x"}]})
    assert status == 400
    status, _ = await sim.call("PUT", msgs, params=ref, headers=h, json={})
    assert status == 400
    _, got = await sim.call("GET", path, params=ref, headers=h)
    assert len(got["data"]["history"]) == 2 and got["data"]["title"] == "Fruit"
    new = [{"role": "user", "content": "pears?"}, {"role": "assistant", "content": "yes"}]
    status, got = await sim.call("PUT", msgs, params=ref, headers=h, json={"history": new})
    assert status == 200 and got["data"]["history"] == new
    _, search = await sim.call("GET", "/api/v1/conversations?search=PEARS", headers=h)
    assert [c["cid"] for c in search["data"]["conversations"]] == [al["cid"]]
    status, _ = await sim.call("DELETE", path, params=ref, headers=h)
    assert status == 200
    status, _ = await sim.call("GET", path, params=ref, headers=h)
    assert status == 404
    _, listing = await sim.call("GET", "/api/v1/conversations", headers=h)
    assert [c["cid"] for c in listing["data"]["conversations"]] == [convs[0]["cid"]]


@pytest.mark.parametrize("query, expected", [
    ("", [1, 0]), ("?page_size=1&page=2", [0]), ("?platforms=webchat", [1, 0]),
    ("?exclude_platforms=webchat", []), ("?message_types=GroupMessage", []),
    ("?search=banana", [1]), ("?platform_id=qq", [])])
async def test_conversation_filters(sim, query, expected):
    h, convs = await two_conversations(sim)
    ordered = list(reversed(convs))  # oldest first: index 0 = al, 1 = bo
    status, body = await sim.call("GET", "/api/v1/conversations" + query, headers=h)
    assert status == 200
    assert [c["cid"] for c in body["data"]["conversations"]] == [ordered[i]["cid"]
                                                                 for i in expected]
    assert body["data"]["pagination"]["total"] == (2 if "page=2" in query else len(expected))


async def test_conversation_export_and_batch_delete(sim):
    h, convs = await two_conversations(sim)
    refs = [{"user_id": c["user_id"], "cid": c["cid"]} for c in convs]
    async with sim.http.post(sim.url + "/api/v1/conversations/export", headers=h,
                             json={"conversations": refs}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith(
            "application/jsonl")
        lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert [(r["cid"], r["content"][0]["content"]) for r in lines] == [
        (convs[0]["cid"], "bananas"), (convs[1]["cid"], "apples")]
    async with sim.http.post(sim.url + "/api/v1/conversations/export", headers=h, json={
            "conversation_ids": [convs[1]["cid"], "nope"], "format": "markdown"}) as resp:
        text = await resp.text()
        assert resp.status == 200 and resp.headers["X-Failed-Count"] == "1"
    assert "**user**: apples" in text and "bananas" not in text
    for body, status in (({}, 404), ({"conversation_ids": ["nope"]}, 404)):
        got, _ = await sim.call("POST", "/api/v1/conversations/export", headers=h, json=body)
        assert got == status
    status, done = await sim.call("POST", "/api/v1/conversations/batch-delete", headers=h, json={
        "conversations": [refs[0], {"user_id": "x:FriendMessage:y", "cid": refs[1]["cid"]}]})
    assert status == 200 and (done["data"]["deleted_count"], done["data"]["failed_count"]) == (
        1, 1)
    _, listing = await sim.call("GET", "/api/v1/conversations", headers=h)
    assert [c["cid"] for c in listing["data"]["conversations"]] == [refs[1]["cid"]]
    status, _ = await sim.call("POST", "/api/v1/conversations/batch-delete", headers=h,
                               json={"conversations": []})
    assert status == 200  # none named: nothing deleted


# --- sessions: UMOs and rules -----------------------------------------------------------------
async def test_session_rules_round_trip(sim):
    h = await key(sim, "data", "chat")
    await stream(sim, "/api/v1/chat", {"message": "hi", "username": "al"}, h)
    for body in ({"umo": "not-an-umo", "rule_key": "kb_config"}, {"umo": UMO, "rule_key": ""}):
        status, answer = await sim.call("POST", "/api/v1/sessions/rules", headers=h, json=body)
        assert status == 400 and answer["status"] == "error", body
    _, rules = await sim.call("GET", "/api/v1/sessions/rules", headers=h)
    assert rules["data"]["rules"] == []
    # a key outside the dashboard's own (seed 004: rule_key is any text) is kept and deleted
    status, _ = await sim.call("POST", "/api/v1/sessions/rules", headers=h,
                               json={"umo": UMO, "rule_key": "nonsense", "rule_value": {"a": 1}})
    assert status == 200
    status, _ = await sim.call("POST", "/api/v1/sessions/rules/delete", headers=h,
                               json={"umo": UMO, "rule_key": "nonsense"})
    assert status == 200
    status, _ = await sim.call("POST", "/api/v1/sessions/rules/delete", headers=h,
                               json={"scope": "all", "rule_key": "never-set"})
    assert status == 200  # nothing to delete is no error
    _, rules = await sim.call("GET", "/api/v1/sessions/rules", headers=h)
    assert rules["data"]["rules"] == []
    status, put = await sim.call("POST", "/api/v1/sessions/rules", headers=h, json={
        "umo": UMO, "rule_key": "session_service_config",
        "rule_value": {"custom_name": "Team", "llm_enabled": False}})
    assert status == 200 and put["data"]["rules"]["session_service_config"]["custom_name"] == \
        "Team"
    await sim.call("POST", "/api/v1/sessions/rules", headers=h, json={
        "umo": UMO, "rule_key": "kb_config", "rule_value": {"kb_ids": ["k"]}})
    _, rules = await sim.call("GET", "/api/v1/sessions/rules?search=team", headers=h)
    assert [(r["umo"], sorted(r["rules"])) for r in rules["data"]["rules"]] == [
        (UMO, ["kb_config", "session_service_config"])]
    _, umos = await sim.call("GET", "/api/v1/sessions/active-umos", headers=h)
    assert UMO in umos["data"]["umos"] and len(umos["data"]["umos"]) == 2
    _, groups = await sim.call("GET", "/api/v1/sessions?message_type=group", headers=h)
    (row,) = groups["data"]["sessions"]
    assert (row["umo"], row["custom_name"], row["llm_enabled"], row["tts_enabled"]) == (
        UMO, "Team", False, True)
    _, private = await sim.call("GET", "/api/v1/sessions?message_type=private", headers=h)
    assert [r["platform"] for r in private["data"]["sessions"]] == ["webchat"]
    delete = "/api/v1/sessions/rules/delete"
    status, _ = await sim.call("POST", delete, headers=h, json={"umo": UMO,
                                                                "rule_key": "kb_config"})
    assert status == 200
    status, _ = await sim.call("POST", delete, headers=h, json={"umo": UMO,
                                                                "rule_key": "kb_config"})
    assert status == 404
    status, done = await sim.call("POST", delete, headers=h, json={"scope": "group"})
    assert status == 200 and done["data"]["success_count"] == 1
    status, _ = await sim.call("POST", delete, headers=h, json={})
    assert status == 200  # nothing named: nothing deleted
    _, rules = await sim.call("GET", "/api/v1/sessions/rules", headers=h)
    assert rules["data"]["rules"] == []


def direct(sim, operation_id: str, body: dict) -> Ctx:
    """A Ctx for calling a handler without the router: the spec's allOf bodies of the batch
    session updates carry `additionalProperties: false` in their UmoListRequest branch, so
    schema validation refuses every body that names a provider or a service flag."""
    op = next(o for o in operations() if o.operation_id == operation_id)
    return Ctx(request=None, op=op, principal=None, body=body, sim=sim.sim, query={})


async def test_batch_provider_and_service_updates_persist(sim):
    h = await jwt(sim)
    status, _ = await sim.call("POST", "/api/v1/providers", headers=h,
                               json={"id": "gpt", "config": {"model": "m"}})
    assert status == 200
    umos = [UMO, "qq:FriendMessage:42"]
    provider = sim.sim.handlers["batchUpdateSessionProvider"]
    for body in ({"umos": umos, "provider_id": "ghost", "provider_type": "chat_completion"},
                 {"umos": ["bad"], "provider_id": "gpt", "provider_type": "chat_completion"},
                 {"scope": "custom_group", "group_id": "g0", "provider_id": "gpt",
                  "provider_type": "chat_completion"}):
        with pytest.raises(ApiError) as failed:
            await provider(direct(sim, "batchUpdateSessionProvider", body))
        assert failed.value.status in (400, 404)
    assert sim.sim.store.list_resources("session rule") == []  # nothing changed
    done = await provider(direct(sim, "batchUpdateSessionProvider", {
        "umos": umos, "provider_id": "gpt", "provider_type": "chat_completion"}))
    assert done["success_count"] == 2
    service = sim.sim.handlers["batchUpdateSessionService"]
    await service(direct(sim, "batchUpdateSessionService", {"scope": "all"}))  # no flag
    await service(direct(sim, "batchUpdateSessionService",
                         {"scope": "private", "tts_enabled": False}))
    _, listing = await sim.call("GET", "/api/v1/sessions", headers=h)
    rows = {r["umo"]: r for r in listing["data"]["sessions"]}
    assert rows[UMO]["chat_provider"] == "gpt" and rows[UMO]["tts_enabled"] is True
    assert rows["qq:FriendMessage:42"]["tts_enabled"] is False
    assert [p["id"] for p in listing["data"]["available_chat_providers"]] == ["gpt"]


# --- files ------------------------------------------------------------------------------------
async def upload(sim, headers: dict, data: bytes, name: str, ctype: str) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=ctype)
    return await sim.call("POST", "/api/v1/files", data=form, headers=headers)


async def fetch(sim, path: str, headers: dict, **params) -> tuple[int, bytes, str]:
    async with sim.http.get(sim.url + path, headers=headers, params=params) as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


async def test_files_upload_read_and_delete(sim):
    h = await key(sim, "file")
    status, made = await upload(sim, h, b"\x89PNG-bytes", "../../cat.png", "image/png")
    assert status == 200, made
    info = made["data"]
    assert (info["filename"], info["type"], info["size"]) == ("cat.png", "image", 10)
    aid = info["attachment_id"]
    status, meta = await sim.call("GET", f"/api/v1/files/{aid}", headers=h)
    assert status == 200 and meta["data"]["file_token"] == info["file_token"]
    for path, params in ((f"/api/v1/files/{aid}/content", {}),
                         ("/api/v1/files/content", {"filename": info["stored_name"]}),
                         (f"/api/v1/files/tokens/{info['file_token']}", {})):
        status, data, ctype = await fetch(sim, path, h, **params)
        assert (status, data, ctype) == (200, b"\x89PNG-bytes", "application/octet-stream")
    status, _ = await sim.call("DELETE", f"/api/v1/files/{aid}", headers=h)
    assert status == 200 and not list((sim.sim.config.data_dir / "attachments").iterdir())
    for path in (f"/api/v1/files/{aid}", f"/api/v1/files/{aid}/content",
                 f"/api/v1/files/tokens/{info['file_token']}"):
        status, _, _ = await fetch(sim, path, h)
        assert status == 404, path
    status, _ = await sim.call("DELETE", f"/api/v1/files/{aid}", headers=h)
    assert status == 404
    status, _ = await sim.call("POST", "/api/v1/files", data=b"x", headers=h)
    assert status == 400


@pytest.mark.parametrize("name", ["../simulator.db", "..%2Fsimulator.db", "/etc/passwd",
                                  "a/b.txt", "a\\b.txt", "..", "", "x\x00.txt"])
async def test_file_names_cannot_leave_the_attachments_folder(sim, name):
    h = await key(sim, "file")
    status, body = await sim.call("GET", "/api/v1/files/content", params={"filename": name},
                                  headers=h)
    # a way out is a 400; a name that can never exist there (empty, a backslash) names nothing
    assert status == (404 if name in ("", "a\\b.txt") else 400) and body["status"] == "error"


async def test_unknown_file_name_is_404(sim):
    h = await key(sim, "file")
    await upload(sim, h, b"a", "a.txt", "text/plain")
    status, body = await sim.call("GET", "/api/v1/files/content",
                                  params={"filename": "a.txt"}, headers=h)
    assert status == 404 and body["status"] == "error"  # the stored name is <id>_a.txt


# --- persistence ------------------------------------------------------------------------------
async def test_everything_survives_a_restart(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    h = await jwt(first)
    sid = await new_session(first, h)
    await chat(first, h, sid, "keep me")
    _, bot = await history(first, h, sid)
    _, thread = await first.call("POST", "/api/v1/chat/threads", headers=h, json={
        "session_id": sid, "parent_message_id": bot["id"], "selected_text": "me"})
    _, project = await first.call("POST", "/api/v1/chat/projects", headers=h,
                                  json={"title": "P"})
    pid = project["data"]["project_id"]
    await first.call("POST", f"/api/v1/chat/projects/{pid}/sessions/{sid}", headers=h)
    await first.call("POST", "/api/v1/sessions/rules", headers=h, json={
        "umo": UMO, "rule_key": "kb_config", "rule_value": {"kb_ids": ["k"]}})
    _, made = await upload(first, h, b"data", "f.bin", "application/octet-stream")
    _, convs = await first.call("GET", "/api/v1/conversations", headers=h)
    cid = convs["data"]["conversations"][0]["cid"]
    await stop_sim(first)
    second = await start_sim(SimConfig(data_dir=tmp_path / "data"))
    try:
        h = await jwt(second)
        _, session = await second.call("GET", f"/api/v1/chat/sessions/{sid}", headers=h)
        assert texts(session["data"]["history"])[0] == ("user", "keep me")
        assert session["data"]["project"]["project_id"] == pid
        assert session["data"]["threads"][0]["thread_id"] == thread["data"]["thread_id"]
        _, rules = await second.call("GET", "/api/v1/sessions/rules", headers=h)
        assert rules["data"]["rules"][0]["rules"] == {"kb_config": {"kb_ids": ["k"]}}
        status, data, _ = await fetch(
            second, f"/api/v1/files/tokens/{made['data']['file_token']}", h)
        assert (status, data) == (200, b"data")
        _, convs = await second.call("GET", "/api/v1/conversations", headers=h)
        assert [c["cid"] for c in convs["data"]["conversations"]] == [cid]
    finally:
        await stop_sim(second)


async def test_downloads_name_the_original_file_safely(sim):
    h = await key(sim, "file")
    _, made = await upload(sim, h, b"q", 'naïve "q".txt', "text/plain")
    async with sim.http.get(sim.url + f"/api/v1/files/{made['data']['attachment_id']}/content",
                            headers=h) as resp:
        assert resp.status == 200 and await resp.read() == b"q"
        assert "filename*=UTF-8''na%C3%AFve%20%22q%22.txt" in resp.headers["Content-Disposition"]
    _, long = await upload(sim, h, b"l", "n" * 400 + ".png", "image/png")
    assert long["data"]["filename"].endswith("n.png") and len(long["data"]["filename"]) == 200
