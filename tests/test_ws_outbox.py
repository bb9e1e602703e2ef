"""Bounded per-connection resources of the WebSocket paths (issue 15), over real sockets with
small limits set through the options: a client that stops reading is closed with 1008 "client
is not reading", an idle client with 1001, queued /api/v1/chat/ws sends are bounded (a refused
one leaves no session row), and a chat socket binds a bounded number of sessions.

Every wait is bounded; nothing is asserted on time (memory figures: bench/nonreading_bench.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import struct

import pytest
import websockets

from simulator import cli
from simulator.config import SimConfig
from simulator.live.outbox import NOT_READING

from .conftest import start_sim, stop_sim

KEY = "abk_ws_outbox_test_key_000001"
WAIT = 20.0  # seconds: the bound of every single receive
LONG_TURN = json.dumps({"t": "text_input", "text": "[[sim:sentences=50]] tell me a long story"})


@pytest.fixture
async def small(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data", api_key=KEY, ws_outbox_bytes=64 * 1024,
                       ws_idle_timeout=0, ws_max_queued=3)
    running = await start_sim(config)
    yield running
    await stop_sim(running)


def masked(payload: str, opcode: int = 0x1) -> bytes:
    data, mask = payload.encode("utf-8"), os.urandom(4)
    n = len(data)
    head = struct.pack("!BB", 0x80 | opcode, 0x80 | n) if n < 126 \
        else struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def open_raw(url_path: str, port: int, rcvbuf: int = 4096):
    """A raw client whose socket has a tiny receive buffer: when it does not read, the server
    soon has nowhere to put its frames."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)),
                           WAIT)
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {url_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    return reader, writer


async def read_until_close(reader) -> tuple[int, str, int]:
    """Read frames to the close frame: (close code, reason, text frames before it)."""
    texts = 0
    while True:
        head = await asyncio.wait_for(reader.readexactly(2), WAIT)
        size = head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await reader.readexactly(8))[0]
        data = await asyncio.wait_for(reader.readexactly(size), WAIT)
        opcode = head[0] & 0x0F
        assert opcode in (0x1, 0x8), f"unexpected opcode {opcode}"
        if opcode == 0x8:
            return struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8"), texts
        json.loads(data.decode("utf-8"))  # every frame before the close is UTF-8 JSON
        texts += 1


async def test_a_client_that_stops_reading_is_closed_with_1008(small, caplog):
    caplog.set_level(logging.INFO, logger="astrbot_sim.live")
    path = f"/api/v1/live/ws?api_key={KEY}&username=lazy&ct=live"
    reader, writer = await open_raw(path, small.server.port)

    def closed_for_not_reading() -> bool:
        return any(NOT_READING in r.getMessage() for r in caplog.records)

    for _ in range(600):  # long turns (busy errors while one runs) until the server gives up
        if closed_for_not_reading():
            break
        writer.write(masked(LONG_TURN))
        await asyncio.sleep(0.05)
    assert closed_for_not_reading(), "the server kept queueing for a client that never reads"
    code, reason, texts = await read_until_close(reader)
    assert (code, reason) == (1008, NOT_READING)
    assert texts > 0
    writer.close()
    # the simulator still serves others
    async with websockets.connect(small.ws_url(path.replace("lazy", "eager")),
                                  open_timeout=WAIT) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": "hello"}))
        while json.loads(await asyncio.wait_for(ws.recv(), WAIT)).get("t") != "end":
            pass


async def test_an_idle_client_is_closed_with_1001(tmp_path):
    running = await start_sim(SimConfig(data_dir=tmp_path / "data", api_key=KEY,
                                        ws_idle_timeout=0.3))
    try:
        url = running.ws_url(f"/api/v1/live/ws?api_key={KEY}&username=idle")
        async with websockets.connect(url, open_timeout=WAIT, ping_interval=None) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert closed.value.rcvd.reason.startswith("idle timeout")
    finally:
        await stop_sim(running)


async def test_queued_chat_ws_sends_are_bounded_and_refused_ones_leave_no_row(small):
    url = small.ws_url(f"/api/v1/chat/ws?api_key={KEY}")
    sends = 30
    async with websockets.connect(url, open_timeout=WAIT, max_size=None) as ws:
        for i in range(sends):
            await ws.send(json.dumps({"t": "send", "username": "flood", "message": f"m{i}",
                                      "session_id": f"flood-{i}"}))
        accepted, ends, busy = set(), 0, 0
        while ends + busy < sends:
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            if frame.get("type") == "session_id":
                accepted.add(frame["session_id"])
            elif frame.get("type") == "end":
                ends += 1
            elif frame.get("type") == "error":
                assert frame["code"] == "PROCESSING_ERROR", frame
                assert "busy" in frame["data"], frame
                busy += 1
    assert busy > 0 and ends == len(accepted) == sends - busy
    history = small.sim.history
    refused = [f"flood-{i}" for i in range(sends) if f"flood-{i}" not in accepted]
    assert len(refused) == busy
    assert all(history.owner(sid) is None for sid in refused)
    assert all(history.owner(sid) == "flood" for sid in accepted)


async def test_a_chat_socket_binds_a_bounded_number_of_sessions(small):
    url = small.ws_url(f"/api/v1/live/ws?api_key={KEY}&username=binder&ct=chat")
    async with websockets.connect(url, open_timeout=WAIT) as ws:
        answers = []
        for i in range(70):
            await ws.send(json.dumps({"ct": "chat", "t": "bind", "session_id": f"b-{i}"}))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
    bound = [a for a in answers if a.get("type") == "session_bound"]
    refused = [a for a in answers if a.get("t") == "error"]
    assert len(bound) == 64 and len(refused) == 6
    assert all(a["ct"] == "chat" and "Too many bound sessions" in a["data"] for a in refused)


@pytest.mark.parametrize("flag", ["--ws-idle-timeout", "--ws-outbox-bytes", "--ws-max-queued"])
def test_negative_ws_options_get_one_line_and_exit_2(flag, capsys):
    assert cli.main([flag, "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"astrbot-sim: {flag} must be 0 or more"]


def test_the_ws_options_are_in_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--ws-idle-timeout", "--ws-outbox-bytes", "--ws-max-queued"):
        assert flag in out
