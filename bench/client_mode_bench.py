"""Cost of the simulator's client mode per graded frame, in process (no sockets): how many
microseconds `ClientMode.frame` spends on a text_input, on a 100 ms speaking_part of 16 kHz PCM
and on a chat-mode send. It only PRINTS figures (and one `BENCH_JSON {...}` line).

    python bench/client_mode_bench.py [--frames 20000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from aiohttp import WSMessage, WSMsgType  # noqa: E402

from simulator.client_mode import ClientMode  # noqa: E402

PCM_100MS = base64.b64encode(bytes(3200)).decode("ascii")
FRAMES = {
    "text_input": ("/api/v1/live/ws", {"t": "text_input", "text": "Hello, what is the weather?"}),
    "speaking_part": ("/api/v1/live/ws", {"t": "speaking_part", "data": PCM_100MS}),
    "chat send": ("/api/v1/live/ws", {"ct": "chat", "t": "send", "session_id": "s",
                                      "message": [{"type": "plain", "text": "hi"}]}),
}


def measure(path: str, frame: dict, count: int) -> float:
    grader = ClientMode(enabled=True)
    query = {"username": "alice", "ct": "chat" if frame.get("ct") == "chat" else "live"}
    request = SimpleNamespace(path=path, query=query, remote="127.0.0.1")
    session = SimpleNamespace(phase=None, turns_started=0)
    start = json.dumps({"t": "start_speaking", "stamp": "s1"})
    grader.frame(request, session, WSMessage(WSMsgType.TEXT, start, None))
    msg = WSMessage(WSMsgType.TEXT, json.dumps(frame), None)
    began = time.perf_counter()
    for _ in range(count):
        grader.frame(request, session, msg)
    return (time.perf_counter() - began) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(prog="client_mode_bench", description=__doc__)
    parser.add_argument("--frames", type=int, default=20000, help="frames per kind (20000)")
    args = parser.parse_args()
    if args.frames < 1:
        print("client_mode_bench: --frames must be at least 1", file=sys.stderr)
        return 2
    figures = {kind: round(measure(path, frame, args.frames), 1)
               for kind, (path, frame) in FRAMES.items()}
    print(f"client mode, {args.frames} frames per kind, one core:")
    for kind, us in figures.items():
        print(f"  {kind:<14} {us:>8.1f} us per frame ({1e6 / us:,.0f} frames/s)")
    print("BENCH_JSON " + json.dumps({"bench": "client_mode", "us_per_frame": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
