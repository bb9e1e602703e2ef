"""The simulator's Open API: chat over SSE, sessions, configs, attachments (real sockets)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from simulator.http.domain.attachments import safe_name


async def sse_events(sim, key: str, body: dict) -> tuple[int, str, list]:
    async with sim.http.post(sim.url + "/api/v1/chat", json=body,
                             headers={"X-API-Key": key}) as resp:
        text = await resp.text()
        events = [json.loads(line[6:]) for line in text.split("\n")
                  if line.startswith("data: ")]
        return resp.status, resp.headers["Content-Type"], events


async def test_chat_streams_in_order_and_saves(sim):
    key = (await sim.new_key(["chat"]))["api_key"]
    status, ctype, events = await sse_events(sim, key, {"message": "hi", "username": "al"})
    assert status == 200 and ctype.startswith("text/event-stream")
    types = [e["type"] for e in events]
    assert types[:2] == ["session_id", "user_message_saved"] and types[-4:] == [
        "agent_stats", "complete", "message_saved", "end"]
    plains = [e["data"] for e in events if e["type"] == "plain"]
    assert "".join(plains) == events[-3]["data"] == "You said: hi. I am the AstrBot simulator."
    session = events[0]["session_id"]
    stored = sim.sim.store.messages(session)
    assert [m["role"] for m in stored] == ["user", "assistant"]


async def test_chat_not_streaming_sends_one_plain(sim):
    key = (await sim.new_key(["chat"]))["api_key"]
    _, _, events = await sse_events(sim, key, {"message": "hi", "username": "al",
                                               "enable_streaming": False})
    plains = [e for e in events if e["type"] == "plain"]
    assert len(plains) == 1 and plains[0]["streaming"] is False


@pytest.mark.parametrize("body, status, fragment", [
    ({"message": "hi"}, 400, "Missing key: username"),
    ({"message": "hi", "username": "  "}, 400, "username is empty"),
    ({"message": [{"type": "reply", "message_id": "1"}], "username": "al"}, 400, "empty"),
    ({"message": [{"type": "image", "attachment_id": "nope"}], "username": "al"}, 400, "empty"),
    ({"message": "hi", "username": "al", "config_id": "x"}, 404, "config_id not found"),
    ({"username": "al"}, 400, "message"),
])
async def test_chat_errors_are_envelopes_not_streams(sim, body, status, fragment):
    key = (await sim.new_key(["chat"]))["api_key"]
    got, answer = await sim.call("POST", "/api/v1/chat", json=body, headers={"X-API-Key": key})
    assert got == status and answer["status"] == "error" and fragment in answer["message"]


async def test_sessions_belong_to_their_user_and_paginate(sim):
    key = (await sim.new_key(["chat"]))["api_key"]
    for i in range(3):
        await sse_events(sim, key, {"message": "hi", "username": "al", "session_id": f"s{i}"})
    status, body = await sim.call("POST", "/api/v1/chat", headers={"X-API-Key": key},
                                  json={"message": "hi", "username": "bob", "session_id": "s1"})
    assert status == 403 and "another username" in body["message"]
    headers = {"X-API-Key": key}
    _, page = await sim.call("GET", "/api/v1/chat/sessions?username=al&page=2&page_size=2",
                             headers=headers)
    assert (page["data"]["total"], page["data"]["page"], len(page["data"]["sessions"])) \
        == (3, 2, 1)
    _, none = await sim.call("GET", "/api/v1/chat/sessions?username=zed", headers=headers)
    assert none["data"]["sessions"] == [] and none["data"]["total"] == 0
    status, bad = await sim.call("GET", "/api/v1/chat/sessions?username=al&page=x",
                                 headers=headers)
    assert status == 400 and "page" in bad["message"] and "integer" in bad["message"]
    status, bad = await sim.call("GET", "/api/v1/chat/sessions?username=al&page_size=201",
                                 headers=headers)
    assert status == 400 and "page_size" in bad["message"]  # seed 004 PageSize maximum 200
    status, _ = await sim.call("GET", "/api/v1/chat/sessions", headers=headers)
    assert status == 400


async def test_configs_need_the_config_scope(sim):
    chat_key = (await sim.new_key(["chat"]))["api_key"]
    config_key = (await sim.new_key(["config"]))["api_key"]
    status, _ = await sim.call("GET", "/api/v1/configs", headers={"X-API-Key": chat_key})
    assert status == 403
    status, body = await sim.call("GET", "/api/v1/configs", headers={"X-API-Key": config_key})
    assert status == 200 and body["data"]["configs"][0]["is_default"] is True
    status, body = await sim.call("GET", "/api/v1/chat/configs",
                                  headers={"X-API-Key": config_key})
    assert status == 200 and body["data"]["info_list"][0]["id"] == "default"


async def test_upload_keeps_files_inside_the_data_dir(sim):
    key = (await sim.new_key(["file"]))["api_key"]
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG...", filename="../../evil.png", content_type="image/png")
    status, body = await sim.call("POST", "/api/v1/file", data=form, headers={"X-API-Key": key})
    assert status == 200 and body["data"]["filename"] == "evil.png" \
        and body["data"]["type"] == "image"
    stored = list((sim.sim.config.data_dir / "attachments").iterdir())
    assert len(stored) == 1 and stored[0].name.endswith("_evil.png")
    async with sim.http.get(sim.url + "/api/v1/file",
                            params={"attachment_id": body["data"]["attachment_id"]},
                            headers={"X-API-Key": key}) as resp:
        assert resp.status == 200 and await resp.read() == b"\x89PNG..."
        assert resp.headers["Content-Type"] == "image/png"
    status, missing = await sim.call("GET", "/api/v1/file?attachment_id=nope",
                                     headers={"X-API-Key": key})
    assert (status, missing["message"]) == (404, "Attachment not found")
    status, _ = await sim.call("POST", "/api/v1/file", data=b"x", headers={"X-API-Key": key})
    assert status == 400


@pytest.mark.parametrize("raw, kept", [("../../x.txt", "x.txt"), ("a\\b\\c.txt", "c.txt"),
                                       ("..%2F..%2Fy.txt", "y.txt"),
                                       ("/etc/passwd", "passwd"), ("n\x00ul.txt", "nul.txt")])
def test_safe_name(raw, kept):
    assert safe_name(raw) == kept


@pytest.mark.parametrize("raw", ["", ".", "..", "a/.."])
def test_safe_name_replaces_empty_names(raw):
    assert len(safe_name(raw)) == 32
