"""The whole hostile WebSocket corpus against a simulator process (issue 15's "done when").

Starts a simulator (instant timing), then fires `conformance/hostile.py`'s full corpus (every
class, wrong-type pairs and seeded mutations) on the four socket kinds (/api/v1/live/ws with
ct=live and ct=chat, /api/v1/chat/ws, /api/v1/unified-chat/ws), one seed after another until
at least --frames frames (default 10,000) went out, each followed by a marker frame, with a
good turn every 500 frames and at the end (tests/ws_hostile_fire.py judges every answer, as
tests/test_ws_hostile.py does on a sample). Prints frames sent, closes, broken sockets and
HTTP 5xx seen; goal 0 broken and 0 5xx, printed as met / MISSED.

    python bench/hostile_corpus.py [--frames 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conformance import hostile, launcher  # noqa: E402
from conformance.outcomes import SuiteError  # noqa: E402
from tests.ws_hostile_fire import Kind, Record, fire_all  # noqa: E402

TIMEOUT = 15.0  # seconds: the bound of every single receive
ADMIN = {"username": "bench-admin", "password": "bench-password-1"}


def login(url: str) -> str:
    request = urllib.request.Request(url + "/api/v1/auth/login", method="POST",
                                     data=json.dumps(ADMIN).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())["data"]["token"]


def kinds(key: str, jwt: str) -> list[Kind]:
    live = f"/api/v1/live/ws?api_key={key}&username=hostile"
    return [Kind("/api/v1/live/ws ct=live", live + "&ct=live", "live", "live"),
            Kind("/api/v1/live/ws ct=chat", live + "&ct=chat", "chat", "chat"),
            Kind("/api/v1/chat/ws", "/api/v1/chat/ws", "openchat", "openchat",
                 headers=(("X-API-Key", key),)),
            Kind("/api/v1/unified-chat/ws", f"/api/v1/unified-chat/ws?token={jwt}", "chat",
                 "unified")]


async def run(args) -> int:
    key = "abk_bench_" + secrets.token_urlsafe(24)
    env = {"ASTRBOT_SIM_API_KEY": key, "ASTRBOT_SIM_ADMIN_USERNAME": ADMIN["username"],
           "ASTRBOT_SIM_ADMIN_PASSWORD": ADMIN["password"]}
    records: list[Record] = []
    started = time.monotonic()
    try:
        with launcher.simulator(env=env, timing_profile="instant") as sim:
            base_ws = sim.url.replace("http://", "ws://")
            sockets = kinds(key, login(sim.url))
            seed, sent = 0, 0
            while sent < args.frames:
                for kind in sockets:
                    items = hostile.ws_frames(kind.corpus, depth="full", seed=seed)
                    record = await fire_all(base_ws, kind, items, TIMEOUT)
                    records.append(record)
                    sent += record.sent
                    print(f"  seed {seed}  {kind.name:26s} {record.sent:5d} frames  "
                          f"{record.errors:5d} error frames  {record.closes:3d} closes  "
                          f"{len(record.broken):3d} broken  {record.good_turns} good turns",
                          flush=True)
                seed += 1
    except (SuiteError, OSError) as exc:
        print(f"hostile_corpus: {exc}", file=sys.stderr)
        return 1
    broken = [b for r in records for b in r.broken]
    http_5xx = sum(r.http_5xx for r in records)
    closes = sum(r.closes for r in records)
    good = sum(r.good_turns for r in records)
    for line in broken[:10]:
        print(f"  broken: {line}")
    verdict = "met" if not broken and http_5xx == 0 else "MISSED"
    print(f"frames sent {sent} over {len(sockets)} socket kinds in "
          f"{time.monotonic() - started:.0f} s; proper closes {closes}; good turns {good}; "
          f"broken sockets {len(broken)}; HTTP 5xx {http_5xx}; goal 0 broken, 0 5xx: {verdict}")
    print("BENCH_JSON " + json.dumps({"frames": sent, "broken": len(broken), "http_5xx": http_5xx,
                                      "closes": closes, "good_turns": good, "goal": verdict}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=10_000, help="at least this many frames")
    return asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
