"""Memory of the simulator under WebSocket clients that never read (issue 15).

Starts a simulator process (instant timing: turns as fast as it can make them, the worst case
for a client that does not read), opens N clients (default 20) on /api/v1/live/ws, each with a
tiny receive buffer, that send long turns (`[[sim:sentences=50]]`, every 0.25 s: busy errors
while one runs) and never read. It prints the server's RSS every second, then whether each
client was closed as documented: the server logs the 1008 "client is not reading" close, and
the client, reading from then on, gets that close frame. Goal: server peak RSS < 150 MB,
printed as met / MISSED, not asserted (machines are shared and noisy).

    python bench/nonreading_bench.py [--clients 20] [--seconds 90] [--outbox-bytes N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

from conformance import launcher
from conformance.outcomes import SuiteError

GOAL_MB = 150
LONG_TURN = json.dumps({"t": "text_input", "text": "[[sim:sentences=50]] a long story"})
NOT_READING = "client is not reading"
WAIT = 15.0  # seconds: the bound of every single socket wait


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def masked(payload: str) -> bytes:
    data, mask = payload.encode(), os.urandom(4)
    n = len(data)
    head = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 254, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def connect(port: int, path: str):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)),
                           WAIT)
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    if not head.startswith(b"HTTP/1.1 101"):
        raise SuiteError(f"handshake refused: {head[:80]!r}")
    return reader, writer


async def read_close(reader) -> str:
    """Read to the close frame: "1008 client is not reading", or what the stream did."""
    try:
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), WAIT)
            size = head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await reader.readexactly(8))[0]
            data = await asyncio.wait_for(reader.readexactly(size), WAIT)
            if head[0] & 0x0F == 0x8:
                return f"{struct.unpack('!H', data[:2])[0]} {data[2:].decode()}"
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
        return f"no close frame ({type(exc).__name__})"


async def client(i: int, port: int, key: str, log: Path, until: float) -> str:
    name = f"lazy-{i}"
    reader, writer = await connect(port, f"/api/v1/live/ws?api_key={key}&username={name}")
    marker = f"WebSocket of {name} with 1008"
    try:
        while time.monotonic() < until:
            if marker in log.read_text(errors="replace"):
                return await read_close(reader)  # now it reads: the close frame is last
            writer.write(masked(LONG_TURN))
            try:
                await asyncio.wait_for(writer.drain(), WAIT)
            except (ConnectionError, TimeoutError) as exc:
                return f"sending failed ({type(exc).__name__})"
            await asyncio.sleep(0.25)
        return "still open at the end"
    finally:
        writer.close()


async def run(args) -> int:
    key = "abk_bench_" + secrets.token_urlsafe(24)
    log = Path(tempfile.mkdtemp(prefix="nonreading-")) / "simulator.log"
    sim_args = ["--log-level", "INFO"]
    if args.outbox_bytes is not None:
        sim_args += ["--ws-outbox-bytes", str(args.outbox_bytes)]
    try:
        with launcher.simulator(sim_args, env={"ASTRBOT_SIM_API_KEY": key}, log_path=log,
                                timing_profile="instant") as sim:
            pid, port = sim.process.pid, int(sim.url.rsplit(":", 1)[1])
            idle = rss_mb(pid)
            print(f"simulator pid {pid}, RSS idle {idle:.1f} MB; {args.clients} clients that "
                  f"never read, up to {args.seconds} s", flush=True)
            until = time.monotonic() + args.seconds
            tasks = [asyncio.create_task(client(i, port, key, log, until))
                     for i in range(args.clients)]
            peak, started = idle, time.monotonic()
            while not all(t.done() for t in tasks):
                await asyncio.sleep(1.0)
                now = rss_mb(pid)
                peak = max(peak, now)
                open_ = sum(not t.done() for t in tasks)
                print(f"  t={time.monotonic() - started:5.1f} s  RSS {now:6.1f} MB  "
                      f"clients open {open_}", flush=True)
            outcomes = [t.result() if not t.exception() else repr(t.exception())
                        for t in tasks]
            await asyncio.sleep(2.0)
            after = rss_mb(pid)
            logged = log.read_text(errors="replace").count(f"with 1008: {NOT_READING}")
    except (SuiteError, OSError) as exc:
        print(f"nonreading_bench: {exc}", file=sys.stderr)
        return 1
    documented = sum(o == f"1008 {NOT_READING}" for o in outcomes)
    print(f"closed as documented (1008 {NOT_READING!r} seen by the client): "
          f"{documented}/{len(outcomes)}; logged by the server: {logged}")
    for outcome in sorted(set(outcomes)):
        print(f"  {outcomes.count(outcome):3d} x {outcome}")
    verdict = "met" if peak < GOAL_MB else "MISSED"
    print(f"server RSS: idle {idle:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB; "
          f"goal peak < {GOAL_MB} MB: {verdict}")
    print("BENCH_JSON " + json.dumps({"clients": args.clients, "rss_idle_mb": round(idle, 1),
                                      "rss_peak_mb": round(peak, 1),
                                      "rss_after_mb": round(after, 1),
                                      "closed_as_documented": documented, "goal": verdict}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=90.0)
    p.add_argument("--outbox-bytes", type=int, default=None,
                   help="the simulator's --ws-outbox-bytes (default: its own)")
    return asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
