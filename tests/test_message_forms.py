"""The simulator takes every message form seeds 001 and 004 declare: a string `message` in a
chat-mode `send` (seed 001: the message-part schema of POST /api/v1/chat), and the `text` and
`audio` parts of seed 004's MessagePart in POST /api/v1/chat and POST /api/v1/im/messages."""

from __future__ import annotations

import json

import aiohttp

from simulator.history import MemoryHistory
from simulator.live.engine import Send, StartTurn

from .engine_driver import driven
from .test_open_api import sse_events


def test_a_string_chat_message_is_plain_text():
    history = MemoryHistory()
    session = driven("alice", mode="chat", history=history)
    effects = session.receive_text(json.dumps({"ct": "chat", "t": "send", "session_id": "s1",
                                               "message": "Hello as a string"}))
    assert [e.frame["type"] for e in effects if isinstance(e, Send)] == ["user_message_saved"]
    assert next(e for e in effects if isinstance(e, StartTurn)).text == "Hello as a string"
    assert history.rows[0]["content"] == [{"type": "plain", "text": "Hello as a string"}]


async def test_a_text_part_is_text_and_an_audio_part_is_content(sim):
    key = (await sim.new_key(["chat", "file"]))["api_key"]
    status, _, events = await sse_events(sim, key, {"username": "al", "message": [
        {"type": "text", "text": "hi"}]})
    assert status == 200 and events[-1]["type"] == "end"
    assert "You said: hi" in next(e for e in events if e["type"] == "complete")["data"]
    form = aiohttp.FormData()
    form.add_field("file", b"RIFF....WAVE", filename="a.wav", content_type="audio/wav")
    async with sim.http.post(sim.url + "/api/v1/file", data=form,
                             headers={"X-API-Key": key}) as resp:
        attachment = (await resp.json())["data"]["attachment_id"]
    status, _, events = await sse_events(sim, key, {"username": "al", "message": [
        {"type": "audio", "attachment_id": attachment}]})
    assert status == 200 and events[-1]["type"] == "end"
    stored = sim.sim.store.messages(events[0]["session_id"])[0]
    assert "record" in json.dumps(stored), stored  # kept as the stored attachment's kind


async def test_im_takes_a_text_part_and_refuses_undeclared_fields(sim):
    key = (await sim.new_key(["im"]))["api_key"]
    url, headers = sim.url + "/api/v1/im/messages", {"X-API-Key": key}
    body = {"umo": "webchat:FriendMessage:s-im", "message": [{"type": "text", "text": "hi"}]}
    async with sim.http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with sim.http.post(url, json={**body, "type": "plain"}, headers=headers) as resp:
        assert resp.status == 400 and (await resp.json())["status"] == "error"
