"""A plain `websockets` client that knows no `[[sim:...]]` directive sees busy and interrupt
exactly as seeds 000/001 describe, at every timing profile: turns are never atomic.

Each check ends with a marker frame the server answers deterministically (an unsupported
message type): every frame of the turn comes before its answer, so "no end" and "exactly one
busy error" are judged on the whole exchange, with no timed wait.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import websockets

from conformance import launcher
from simulator.backends import timing
from simulator.config import SimConfig

from .conftest import start_sim, stop_sim

KEY = "abk_plain_client_test_key_0001"
BUSY = {"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}
CHAT_BUSY = {"ct": "chat", "t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}
MARKER = {"t": "marker"}
CHAT_MARKER = {"ct": "chat", "t": "marker"}
WAIT = 20.0  # seconds: the bound of every single receive
LONG_TEXT = " ".join(f"word{i}" for i in range(150))  # echoed back: a reply of 150+ deltas
PCM = b"\x01\x00" * 16000  # one second of 16 kHz mono 16-bit audio


@pytest.fixture(params=sorted(timing.PROFILES))
async def plain(request, tmp_path):
    config = SimConfig(data_dir=tmp_path / "data", api_key=KEY,
                       timing=timing.resolve(request.param, env={}))
    running = await start_sim(config)
    yield running
    await stop_sim(running)


def live_url(sim, ct: str = "live") -> str:
    return sim.ws_url(f"/api/v1/live/ws?api_key={KEY}&username=alice&ct={ct}")


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def until(ws, stop) -> list[dict]:
    """Frames up to and including the first one `stop` accepts."""
    got = []
    while True:
        frame = await recv(ws)
        got.append(frame)
        if stop(frame):
            return got


def is_marker_answer(frame: dict) -> bool:
    return frame.get("t") == "error" and "marker" in str(frame.get("data"))


async def settle(ws, marker: dict = MARKER) -> list[dict]:
    """Send the marker and read everything up to its answer."""
    await ws.send(json.dumps(marker))
    return await until(ws, is_marker_answer)


def types(frames: list[dict]) -> list[str]:
    return [f.get("t") or f.get("type") for f in frames]


async def voice(ws, stamp: str) -> None:
    await ws.send(json.dumps({"t": "start_speaking", "stamp": stamp}))
    await ws.send(json.dumps({"t": "speaking_part", "data": base64.b64encode(PCM).decode()}))
    await ws.send(json.dumps({"t": "end_speaking", "stamp": stamp}))


async def test_back_to_back_text_input_gives_one_turn_and_one_busy_error(plain):
    async with websockets.connect(live_url(plain)) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": "first"}))
        await ws.send(json.dumps({"t": "text_input", "text": "second"}))
        frames = await until(ws, lambda f: f["t"] in ("end", "stop_play"))
        frames += await settle(ws)
    assert [f for f in frames if f["t"] == "error" and not is_marker_answer(f)] == [BUSY]
    users = [f["data"]["text"] for f in frames if f["t"] == "user_msg"]
    assert users == ["first"] and types(frames).count("end") == 1


async def test_text_input_then_interrupt_gives_stop_play_and_no_end(plain):
    async with websockets.connect(live_url(plain)) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": "hello there"}))
        await ws.send(json.dumps({"t": "interrupt"}))
        frames = await until(ws, lambda f: f["t"] in ("end", "stop_play"))
        frames += await settle(ws)
    assert "stop_play" in types(frames) and "end" not in types(frames), types(frames)


async def test_interrupt_after_the_first_delta_of_a_long_reply_gives_stop_play(plain):
    async with websockets.connect(live_url(plain)) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": LONG_TEXT}))
        await until(ws, lambda f: f["t"] == "bot_delta_chunk")
        await ws.send(json.dumps({"t": "interrupt"}))
        frames = await until(ws, lambda f: f["t"] in ("end", "stop_play"))
        frames += await settle(ws)
    assert "stop_play" in types(frames) and "end" not in types(frames), types(frames)


async def test_end_speaking_twice_is_busy(plain):
    async with websockets.connect(live_url(plain)) as ws:
        await voice(ws, "s1")
        await voice(ws, "s2")
        frames = await until(ws, lambda f: f["t"] in ("end", "stop_play"))
        frames += await settle(ws)
    assert [f for f in frames if f["t"] == "error" and not is_marker_answer(f)] == [BUSY]
    assert types(frames).count("user_msg") == 1 and types(frames).count("end") == 1


async def test_end_speaking_then_interrupt_gives_stop_play_and_no_end(plain):
    async with websockets.connect(live_url(plain)) as ws:
        await voice(ws, "s1")
        await ws.send(json.dumps({"t": "interrupt"}))
        frames = await until(ws, lambda f: f["t"] in ("end", "stop_play"))
        frames += await settle(ws)
    assert "stop_play" in types(frames) and "end" not in types(frames), types(frames)
    assert types(frames).index("user_msg") < types(frames).index("stop_play")


async def test_the_next_input_right_after_end_is_taken(plain):
    async with websockets.connect(live_url(plain)) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": "one"}))
        await until(ws, lambda f: f["t"] == "end")
        await ws.send(json.dumps({"t": "text_input", "text": "two"}))
        frames = await until(ws, lambda f: f["t"] in ("end", "stop_play"))
    assert BUSY not in frames
    assert [f["data"]["text"] for f in frames if f["t"] == "user_msg"] == ["two"]


def chat_send(text: str) -> str:
    return json.dumps({"ct": "chat", "t": "send", "message": [{"type": "plain", "text": text}]})


async def open_chat(sim, endpoint: str):
    if endpoint == "live":
        return websockets.connect(live_url(sim, "chat"))
    jwt = await sim.admin_jwt()
    return websockets.connect(sim.ws_url(f"/api/v1/unified-chat/ws?token={jwt}"))


@pytest.mark.parametrize("endpoint", ["live", "unified"])
async def test_chat_mode_send_twice_is_busy(plain, endpoint):
    async with await open_chat(plain, endpoint) as ws:
        await ws.send(chat_send("first"))
        await ws.send(chat_send("second"))
        frames = await until(ws, lambda f: f.get("type") == "end")
        frames += await settle(ws, CHAT_MARKER)
    assert [f for f in frames if f.get("t") == "error" and not is_marker_answer(f)] \
        == [CHAT_BUSY]
    assert types(frames).count("user_message_saved") == 1


@pytest.mark.parametrize("endpoint", ["live", "unified"])
async def test_chat_mode_send_then_interrupt_is_interrupted(plain, endpoint):
    async with await open_chat(plain, endpoint) as ws:
        await ws.send(chat_send("hello there"))
        await ws.send(json.dumps({"ct": "chat", "t": "interrupt"}))
        frames = await until(ws, lambda f: f.get("type") == "end" or f.get("t") == "error")
        frames += await settle(ws, CHAT_MARKER)
    assert {"ct": "chat", "t": "error", "data": "INTERRUPTED", "code": "INTERRUPTED"} in frames
    assert "end" not in types(frames) and "complete" not in types(frames), types(frames)


def test_astrbot_sim_defaults_to_realistic_and_is_never_atomic(tmp_path):
    """`astrbot-sim` as a user starts it (no timing option), driven by a plain client."""
    log = tmp_path / "sim.log"
    with launcher.simulator(timing_profile=None, env={"ASTRBOT_SIM_API_KEY": KEY},
                            log_path=log) as sim:
        url = sim.url.replace("http://", "ws://") + \
            f"/api/v1/live/ws?api_key={KEY}&username=bob"

        async def go():
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"t": "text_input", "text": LONG_TEXT}))
                await ws.send(json.dumps({"t": "text_input", "text": "second"}))
                frames = await until(ws, lambda f: f["t"] == "bot_delta_chunk")
                await ws.send(json.dumps({"t": "interrupt"}))
                frames += await until(ws, lambda f: f["t"] in ("end", "stop_play"))
                return frames + await settle(ws)

        frames = asyncio.run(go())
    assert "timing profile realistic" in log.read_text()
    assert BUSY in frames and "stop_play" in types(frames) and "end" not in types(frames)


def masked_text_frame(payload: str) -> bytes:
    """One client text frame (RFC 6455: clients mask), built by hand."""
    data = payload.encode()
    mask = b"\x01\x02\x03\x04"
    header = bytes((0x81, 0x80 | len(data))) if len(data) < 126 else \
        bytes((0x81, 0x80 | 126)) + len(data).to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def test_text_input_and_interrupt_in_one_write_give_stop_play(plain):
    """Both frames in one TCP write, on a raw socket: the interrupt is read inside the turn."""
    host, port = plain.server.host, plain.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write((f"GET /api/v1/live/ws?api_key={KEY}&username=alice HTTP/1.1\r\n"
                      f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(masked_text_frame(json.dumps({"t": "text_input", "text": "hello"}))
                     + masked_text_frame(json.dumps({"t": "interrupt"}))
                     + masked_text_frame(json.dumps(MARKER)))
        frames = []
        while not frames or not is_marker_answer(frames[-1]):
            first = await asyncio.wait_for(reader.readexactly(2), WAIT)
            size = first[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await reader.readexactly(8), "big")
            frames.append(json.loads(await asyncio.wait_for(reader.readexactly(size), WAIT)))
    finally:
        writer.close()
    assert types(frames)[:3] == ["metrics", "user_msg", "stop_play"], types(frames)
    assert "end" not in types(frames)
