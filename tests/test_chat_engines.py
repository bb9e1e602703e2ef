"""Chat mode of the Live engine and the /api/v1/chat/ws engine, driven directly; IM delivery
to bound sockets through the HTTP API."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from simulator.history import MemoryHistory
from simulator.live.chat_ws import ChatSocket
from simulator.live.engine import CancelTurn, Send, StartTurn, Subscribe

from .engine_driver import Driven, driven


def frames(effects) -> list[dict]:
    return [e.frame for e in effects if isinstance(e, Send)]


def chat(session: Driven, **frame) -> list:
    return session.receive_text(json.dumps({"ct": "chat", **frame}))


def test_bind_is_idempotent_and_subscribes_once():
    session = driven("alice", mode="chat")
    first = chat(session, t="bind", session_id="s1")
    sub = next(e for e in first if isinstance(e, Subscribe))
    again = chat(session, t="bind", session_id="s1")
    assert not any(isinstance(e, Subscribe) for e in again)
    assert frames(again)[0]["message_id"] == frames(first)[0]["message_id"] \
        == sub.subscription_id and sub.subscription_id.startswith("ws_sub_")
    assert frames(chat(session, t="bind"))[0]["code"] == "INVALID_MESSAGE_FORMAT"


def test_send_streams_saves_and_ends():
    history = MemoryHistory()
    session = driven("alice", mode="chat", history=history)
    effects = chat(session, t="send", session_id="s1", message_id="m1",
                   message=[{"type": "plain", "text": "hi"}, {"type": "reply"}])
    assert frames(effects)[0]["type"] == "user_message_saved"
    start = next(e for e in effects if isinstance(e, StartTurn))
    busy = frames(chat(session, t="send", message=[{"type": "plain", "text": "again"}]))
    assert busy == [{"ct": "chat", "t": "error", "data": "Session is busy",
                     "code": "PROCESSING_ERROR"}]
    out = frames(session.llm_delta(start.turn, "Hel")) + frames(session.llm_delta(start.turn,
                                                                                  "lo"))
    out += frames(session.llm_done(start.turn))
    assert [f["type"] for f in out] == ["plain", "plain", "agent_stats", "complete",
                                        "message_saved", "end"]
    assert out[3]["data"] == "Hello" and all(f["ct"] == "chat" for f in out)
    assert [r["role"] for r in history.rows] == ["user", "assistant"]
    assert history.rows[0]["content"] == [{"type": "plain", "text": "hi"}]  # reply dropped


def test_send_errors():
    session = driven("alice", mode="chat")
    assert frames(chat(session, t="send", message=5))[0]["data"] == "message must be list"
    empty = frames(chat(session, t="send", message=[{"type": "reply", "message_id": "x"}]))
    assert empty[0]["data"] == "Message content is empty"
    assert frames(chat(session, t="dance"))[0]["data"] == "Unsupported message type: dance"


def test_interrupt_stops_the_reply_and_keeps_the_partial_text():
    history = MemoryHistory()
    session = driven("alice", mode="chat", history=history)
    start = next(e for e in chat(session, t="send", message=[{"type": "plain", "text": "go"}])
                 if isinstance(e, StartTurn))
    session.llm_delta(start.turn, "Part")
    effects = chat(session, t="interrupt")
    assert frames(effects) == [{"ct": "chat", "t": "error", "data": "INTERRUPTED",
                                "code": "INTERRUPTED"}]
    assert CancelTurn(start.turn) in effects
    assert session.llm_delta(start.turn, "late") == [] and session.llm_done(start.turn) == []
    assert history.rows[-1]["interrupted"] and history.rows[-1]["content"][0]["text"] == "Part"


def test_unified_socket_routes_each_frame_by_ct():
    session = driven("alice", mode=None)
    assert frames(chat(session, t="bind", session_id="s"))[0]["type"] == "session_bound"
    live = frames(session.receive_text('{"t": "text_input", "text": "hi"}'))
    assert [f["t"] for f in live] == ["metrics", "user_msg"]


def test_pushed_message_reaches_only_bound_sessions():
    session = driven("alice", mode="chat")
    assert session.pushed("s1", "hello") == []
    chat(session, t="bind", session_id="s1")
    out = frames(session.pushed("s1", "hello"))
    assert [f["type"] for f in out] == ["plain", "complete"] and out[0]["data"] == "hello"


def test_chat_ws_checks_in_order_and_queues_sends():
    history = MemoryHistory(owners={"taken": "bob"})
    sock = ChatSocket("owner", history=history)
    assert frames(sock.receive_text('{"t": "ping"}')) == [{"type": "pong"}]
    cases = [({"t": "send"}, "INVALID_MESSAGE"), ({"message": "x"}, "BAD_USER"),
             ({"message": "x", "username": " "}, "BAD_USER"),
             ({"message": "x", "username": "al", "session_id": "taken"}, "SESSION_ERROR"),
             ({"message": "x", "username": "al", "config_id": "nope"}, "CONFIG_ERROR"),
             ({"message": "  ", "username": "al"}, "INVALID_MESSAGE"),
             ({"t": "interrupt"}, "INVALID_MESSAGE")]
    for frame, code in cases:
        assert frames(sock.receive_text(json.dumps(frame)))[0]["code"] == code, frame
    assert frames(sock.receive_text("[1]"))[0]["data"] == "message must be an object"
    deep = frames(sock.receive_text("[" * 100_000 + "]" * 100_000))
    assert deep[0]["code"] == "INVALID_MESSAGE" and "nested too deeply" in deep[0]["data"]
    first = sock.receive_text(json.dumps({"message": "one", "username": "al",
                                          "session_id": "s", "message_id": 5}))
    assert frames(first)[0] == {"type": "session_id", "data": None, "session_id": "s",
                                "message_id": "5"}
    turn = next(e for e in first if isinstance(e, StartTurn)).turn
    assert sock.receive_text(json.dumps({"message": 123, "username": "al"})) == []  # queued
    done = sock.llm_done(turn)
    assert [f["type"] for f in frames(done)] == ["agent_stats", "complete", "message_saved",
                                                 "end", "session_id"]
    second = next(e for e in done if isinstance(e, StartTurn))
    assert second.text == "123"


async def test_im_push_reaches_a_bound_socket_over_the_network(sim):
    key = (await sim.new_key(["chat", "im"]))["api_key"]
    url = sim.ws_url(f"/api/v1/live/ws?api_key={key}&username=alice&ct=chat")
    async with sim.http.ws_connect(url) as ws:
        await ws.send_json({"ct": "chat", "t": "bind", "session_id": "room-1"})
        bound = await asyncio.wait_for(ws.receive_json(), 5)
        assert bound["type"] == "session_bound"
        for path in ("/api/v1/im/messages", "/api/v1/im/message"):
            status, body = await sim.call("POST", path, headers={"X-API-Key": key},
                                          json={"umo": "webchat:FriendMessage:room-1",
                                                "message": f"via {path}"})
            assert (status, body) == (200, {"status": "ok", "data": {}})
            got = [await asyncio.wait_for(ws.receive_json(), 5) for _ in range(2)]
            assert [g["type"] for g in got] == ["plain", "complete"]
            assert got[0]["data"] == f"via {path}"
    assert [m["content"][0]["text"] for m in sim.sim.store.messages("room-1")] == [
        "via /api/v1/im/messages", "via /api/v1/im/message"]


async def test_im_errors(sim):
    key = (await sim.new_key(["im"]))["api_key"]
    headers = {"X-API-Key": key}
    for body, fragment in [({"umo": "nope", "message": "x"}, "Invalid umo"),
                           ({"umo": "webchat:Bogus:s", "message": "x"}, "Invalid umo"),
                           ({"umo": "qq:FriendMessage:s", "message": "x"}, "not running"),
                           ({"umo": "webchat:FriendMessage:s", "message": "  "}, "empty"),
                           ({"umo": "webchat:FriendMessage:s",
                             "message": [{"type": "image"}]}, "attachment_id"),
                           ({"umo": "webchat:FriendMessage:s", "message": "x", "type": 1},
                            "Additional properties")]:
        status, answer = await sim.call("POST", "/api/v1/im/messages", headers=headers,
                                        json=body)
        assert status == 400 and fragment in answer["message"], (body, answer)


async def test_chat_ws_refuses_without_chat_scope(sim):
    key = (await sim.new_key(["im"]))["api_key"]
    async with aiohttp.ClientSession() as http, http.ws_connect(
            sim.ws_url("/api/v1/chat/ws"), headers={"X-API-Key": key}) as ws:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        assert frame == {"type": "error", "code": "UNAUTHORIZED",
                         "data": "Insufficient API key scope"}
        closed = await asyncio.wait_for(ws.receive(), 5)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 1008
