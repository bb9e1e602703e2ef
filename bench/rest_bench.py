"""REST benchmark: authenticated v1 HTTP throughput and latency at C concurrent clients,
against a fresh simulator or an already running server.

Every request carries an API key (`X-API-Key`), so the figure includes authentication (real
AstrBot 4.26.2 does about 20 requests/s here: it hashes the key on every request). The mix is
what a dashboard or a bot manager does: lists and reads (bots, personas, providers, chat
sessions) and a persona's create / update / delete, one in every five requests a write.

It only PRINTS figures: a table and one `BENCH_JSON {...}` line; the target (>= 2,000
requests/s at 16 clients on a 2-core machine) is reported as met/missed, never asserted. Exit
status: 0 when the benchmark ran, 1 when it could not (no simulator, >1 % unexpected
answers), 2 for bad options.

    python bench/rest_bench.py                         # 16 clients for 10 s, fresh simulator
    python bench/rest_bench.py --clients 32 --seconds 20
    python bench/rest_bench.py --base-url http://127.0.0.1:6185 --api-key abk_...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

from conformance import launcher
from conformance.outcomes import SuiteError

TARGET_RPS = 2000
MAX_UNEXPECTED_RATIO = 0.01
READS = ("/api/v1/bots", "/api/v1/personas", "/api/v1/providers",
         "/api/v1/chat/sessions?username=bench&page=1&page_size=20")


@dataclass
class Figures:
    latencies_ms: list[float] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def client(http: aiohttp.ClientSession, base: str, key: str, until: float,
                 figures: Figures, number: int) -> None:
    headers = {"X-API-Key": key}
    step = 0
    while time.monotonic() < until:
        step += 1
        if step % 5 == 0:  # a write: create, update, delete one persona (3 requests)
            pid = f"bench-{number}-{uuid.uuid4().hex[:8]}"
            calls = [("POST", "/api/v1/personas", {"persona_id": pid, "system_prompt": "x"}),
                     ("PUT", f"/api/v1/personas/{pid}", {"persona_id": pid,
                                                           "system_prompt": "y"}),
                     ("DELETE", f"/api/v1/personas/{pid}", None)]
        else:
            calls = [("GET", READS[(number + step) % len(READS)], None)]
        for method, path, body in calls:
            started = time.perf_counter()
            async with http.request(method, base + path, json=body, headers=headers) as resp:
                payload = await resp.read()
            figures.latencies_ms.append((time.perf_counter() - started) * 1000)
            figures.by_kind[method] = figures.by_kind.get(method, 0) + 1
            if resp.status != 200:
                figures.unexpected.append(f"{method} {path}: {resp.status} {payload[:120]!r}")


async def bench(base: str, key: str, clients: int, seconds: float) -> dict:
    figures = Figures()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        async with http.get(base + "/api/v1/bots", headers={"X-API-Key": key}) as resp:
            if resp.status != 200:
                raise SystemExit(f"the key is not accepted: HTTP {resp.status}")
        warm_until = time.monotonic() + 1.0  # connections and caches, not counted
        await asyncio.gather(*(client(http, base, key, warm_until, Figures(), n)
                               for n in range(clients)))
        started = time.monotonic()
        await asyncio.gather(*(client(http, base, key, started + seconds, figures, n)
                               for n in range(clients)))
        elapsed = time.monotonic() - started
    total = len(figures.latencies_ms)
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": total,
            "requests_per_s": round(total / elapsed, 1),
            "p50_ms": round(percentile(figures.latencies_ms, 0.50), 2),
            "p99_ms": round(percentile(figures.latencies_ms, 0.99), 2),
            "max_ms": round(max(figures.latencies_ms, default=0), 2),
            "by_method": figures.by_kind, "unexpected": len(figures.unexpected),
            "unexpected_examples": figures.unexpected[:3],
            "target_rps": TARGET_RPS, "target_met": total / elapsed >= TARGET_RPS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--base-url", help="an already running server (default: a fresh "
                        "simulator)")
    parser.add_argument("--api-key", help="a key with the persona, bot, provider and chat "
                        "scopes (required with --base-url)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or (args.base_url and not args.api_key):
        parser.print_usage(sys.stderr)
        return 2
    key = args.api_key or "abk_bench_" + secrets.token_hex(16)
    env = {"ASTRBOT_SIM_API_KEY": key, "ASTRBOT_SIM_ADMIN_USERNAME": "bench",
           "ASTRBOT_SIM_ADMIN_PASSWORD": "bench-" + secrets.token_hex(8)}
    try:
        if args.base_url:
            result = asyncio.run(bench(args.base_url.rstrip("/"), key, args.clients,
                                       args.seconds))
            rss = None
        else:
            with launcher.simulator(env=env, timing_profile="instant") as sim:
                result = asyncio.run(bench(sim.url, key, args.clients, args.seconds))
                rss = _rss_mib(sim.process.pid)
    except (OSError, aiohttp.ClientError, SuiteError) as exc:
        print(f"rest_bench: could not run: {exc}", file=sys.stderr)
        return 1
    result["server_rss_mib"] = rss
    result["client_cpu_s"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1)
    print(f"REST benchmark: {result['clients']} clients, {result['seconds']} s, "
          f"{os.cpu_count()} CPUs")
    for name in ("requests", "requests_per_s", "p50_ms", "p99_ms", "max_ms", "by_method",
                 "unexpected", "server_rss_mib"):
        print(f"  {name:<16} {result[name]}")
    print(f"  target >= {TARGET_RPS} req/s: {'met' if result['target_met'] else 'MISSED'}")
    for example in result["unexpected_examples"]:
        print(f"  unexpected: {example}")
    print("BENCH_JSON " + json.dumps(result))
    return 1 if result["unexpected"] > MAX_UNEXPECTED_RATIO * max(1, result["requests"]) else 0


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


if __name__ == "__main__":
    sys.exit(main())
