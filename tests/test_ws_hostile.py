"""The hostile corpus regression (issue 15): on every socket kind (/api/v1/live/ws with ct=live
and ct=chat, /api/v1/chat/ws, the unified JWT path) the suite's generated hostile frames
(conformance/hostile.py: wrong types for every field of every client frame, deep nesting, lone
surrogates, oversize, binary, unknown types, non-objects, empty, invalid UTF-8, seeded
mutations) break no socket: every answer is the mode's error frame, a turn, or a close with
1003/1007/1008/1009 (then a fresh connection), never HTTP bytes in the stream, a dropped or a
silent connection; and a good turn completes after them. The sample here is a few thousand
frames (every class, a seeded share of the mutations); bench/hostile_corpus.py fires the whole
corpus over several seeds against a simulator process.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest
import websockets

from conformance import hostile
from conformance.clients.raw_ws import RawWebSocket
from conformance.clients.transcript import Transcript
from simulator.config import SimConfig
from simulator.live import inbound, ws
from simulator.live.engine import LiveSession

from .conftest import start_sim, stop_sim
from .ws_hostile_fire import Kind, fire_all

KEY = "abk_ws_hostile_test_key_00001"
TIMEOUT = 10.0  # seconds: the bound of every single receive
BULK = (hostile.MUTATION, hostile.WRONG_PAIR)
BULK_SAMPLE = 400  # frames of the bulk classes per socket kind


def kinds(jwt: str) -> list[Kind]:
    live = f"/api/v1/live/ws?api_key={KEY}&username=hostile"
    return [Kind("live ct=live", live + "&ct=live", "live", "live"),
            Kind("live ct=chat", live + "&ct=chat", "chat", "chat"),
            Kind("/api/v1/chat/ws", "/api/v1/chat/ws", "openchat", "openchat",
                 headers=(("X-API-Key", KEY),)),
            Kind("/api/v1/unified-chat/ws", f"/api/v1/unified-chat/ws?token={jwt}", "chat",
                 "unified")]


def sample(corpus: str, seed: int) -> list[hostile.Hostile]:
    """Every frame of the small classes, and a seeded sample of the bulk ones."""
    frames = hostile.ws_frames(corpus, depth="full", seed=seed)
    small = [f for f in frames if f.cls not in BULK]
    bulk = [f for f in frames if f.cls in BULK]
    return small + random.Random(seed).sample(bulk, min(BULK_SAMPLE, len(bulk)))


@pytest.fixture
async def running(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data", api_key=KEY)
    sim = await start_sim(config)
    yield sim
    await stop_sim(sim)


@pytest.mark.parametrize("index", range(4), ids=["live", "chat", "openchat", "unified"])
async def test_the_hostile_corpus_breaks_no_socket(running, index):
    kind = kinds(await running.admin_jwt())[index]
    items = sample(kind.corpus, seed=15)
    record = await fire_all(running.ws_url(""), kind, items, TIMEOUT)
    assert not record.broken, (f"{len(record.broken)} of {record.sent} hostile frames on "
                               f"{kind.name} broke the socket: " + "; ".join(record.broken[:5]))
    assert record.sent == len(items) > 500
    assert record.http_5xx == 0
    assert record.good_turns >= 1
    assert record.errors > 0  # the frames were answered, not taken in silence


# the defects of issue 15, one by one ---------------------------------------------------------

async def raw(running, path: str, headers: dict | None = None) -> RawWebSocket:
    return await RawWebSocket.open(running.ws_url(path), timeout=TIMEOUT,
                                   transcript=Transcript("issue 15"), headers=headers)


async def frames_until(sock: RawWebSocket, stop) -> list[dict]:
    got = []
    while True:
        event = await sock.recv()
        assert event.kind == "text", event.shown()
        got.append(json.loads(event.data))
        if stop(got[-1]):
            return got


LIVE = f"/api/v1/live/ws?api_key={KEY}&username=alice"


@pytest.mark.parametrize("t", [[1], {}])
async def test_an_exception_in_a_handler_is_the_error_frame_not_http_bytes(running, t,
                                                                           monkeypatch):
    def broken(self, frame):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(LiveSession._LIVE_HANDLERS, "text_input", broken)
    sock = await raw(running, LIVE)
    try:
        await sock.send(json.dumps({"t": "text_input", "text": "hi"}))
        got = await frames_until(sock, lambda f: f.get("t") == "error")
        assert got[-1] == {"t": "error", "data": "Processing failed: internal error",
                           "code": "PROCESSING_ERROR"}
        await sock.send(json.dumps({"t": t}))  # the socket is still read and answered
        got = await frames_until(sock, lambda f: f.get("t") == "error")
        assert got[-1]["code"] == "INVALID_MESSAGE_FORMAT"
    finally:
        await sock.close()


async def test_an_exception_escaping_the_session_is_close_1011(running, monkeypatch):
    async def broken(socket, request, sim, session):
        raise RuntimeError("a bug in the adapter")

    monkeypatch.setattr(ws, "run_session", broken)
    sock = await raw(running, LIVE)
    try:
        event = await sock.recv()
        assert (event.kind, event.code, event.reason) == ("close", 1011, "internal error")
    finally:
        await sock.close()


@pytest.mark.parametrize("path,chat", [(LIVE + "&ct=live", False), (LIVE + "&ct=chat", True)])
async def test_deep_json_is_refused_and_the_socket_stays_usable(running, path, chat):
    sock = await raw(running, path)
    try:
        for levels in (65, 2_000, 100_000):
            await sock.send("[" * levels + "]" * levels)
            error = (await frames_until(sock, lambda f: f.get("t") == "error"))[-1]
            assert f"more than {inbound.MAX_DEPTH} levels" in error["data"]
            assert (error.get("ct") == "chat") is chat
        await sock.send("[" * 64 + "]" * 64)  # at the limit: decoded, refused as a non-object
        error = (await frames_until(sock, lambda f: f.get("t") == "error"))[-1]
        assert error["data"] == "Frame must be a JSON object"
    finally:
        await sock.close()


async def test_a_lone_surrogate_turn_completes_and_is_stored_as_u_fffd(running):
    sock = await raw(running, "/api/v1/chat/ws", {"X-API-Key": KEY})
    try:
        await sock.send(json.dumps({"t": "send", "username": "sue", "session_id": "s-sur",
                                    "message": "hi \ud800 there"}))  # sent as the escape
        got = await frames_until(sock, lambda f: f.get("type") == "end")
    finally:
        await sock.close()
    complete = next(f for f in got if f["type"] == "complete")
    assert "\ufffd" in complete["data"]
    stored = running.sim.store.messages("s-sur")
    assert stored[0]["content"] == [{"type": "plain", "text": "hi \ufffd there"}]


async def test_the_writer_survives_a_lone_surrogate_that_slipped_through(running,
                                                                         monkeypatch):
    """With the input scrub off, the echoed text reaches the frame writer: it sends U+FFFD
    instead of dying, and the turn ends (speech synthesis refuses the text: the turn's
    processing error)."""
    monkeypatch.setattr(inbound, "scrub", lambda value: value)
    sock = await raw(running, LIVE + "&ct=live")
    try:
        await sock.send(json.dumps({"t": "text_input", "text": "hi \ud800"}))
        got = await frames_until(sock, lambda f: f.get("t") == "end" or f.get("data") ==
                                 "Processing failed: internal error")
        assert any("\ufffd" in json.dumps(f, ensure_ascii=False) for f in got)
        await sock.send(json.dumps({"t": "text_input", "text": "and now?"}))  # not stuck
        assert (await frames_until(sock, lambda f: f.get("t") == "end"))[-1] == {"t": "end"}
    finally:
        await sock.close()


@pytest.mark.parametrize("payload", ["nope", "[1]", b"\x00\x01", "5" * (4 * 1024 * 1024 + 1)])
async def test_chat_mode_errors_for_unreadable_frames_carry_ct_chat(running, payload):
    async with websockets.connect(running.ws_url(LIVE + "&ct=chat"), open_timeout=TIMEOUT,
                                  max_size=None) as sock:
        await sock.send(payload)
        error = json.loads(await asyncio.wait_for(sock.recv(), TIMEOUT))
    assert error["ct"] == "chat" and error["t"] == "error"
    assert error["code"] == "INVALID_MESSAGE_FORMAT"


async def test_a_frame_over_the_transport_limit_ends_the_connection(running):
    """Over 16 MiB aiohttp stops reading at the frame header and drops the connection (its
    1009 close frame is usually lost to the reset, the client still sending); the server
    goes on serving."""
    sock = await raw(running, LIVE)
    try:
        await sock.send("x" * (ws.TRANSPORT_MAX_MSG + 1))
        event = await sock.recv()
        assert event.kind == "eof" or (event.kind, event.code) == ("close", 1009)
    finally:
        await sock.close()
    sock = await raw(running, LIVE)
    try:
        await sock.send(json.dumps({"t": "text_input", "text": "still there?"}))
        assert (await frames_until(sock, lambda f: f.get("t") == "end"))[-1] == {"t": "end"}
    finally:
        await sock.close()
