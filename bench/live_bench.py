"""Load benchmark of the Live API WebSocket (`/api/v1/live/ws`): N concurrent sessions, each
running T text turns in sequence, against a fresh simulator or an already running server.

It is a black-box client (it never imports `simulator`) and it only PRINTS figures: a table and
one `BENCH_JSON {...}` line. Timing targets are reported as met/missed, never asserted.
Exit status: 0 when the benchmark ran (whatever the figures), 1 when it could not run (the
simulator did not start, more than 5 % of the sessions failed to connect, no turn completed),
2 for bad options.

    python bench/live_bench.py                      # 1,000 sessions x 4 turns, fresh simulator
    python bench/live_bench.py --pace-ms 1000       # paced: a turn per session per second
    python bench/live_bench.py --timing-profile fast  # the started simulator's timing model
    python bench/live_bench.py --sessions 50 --turns 10
    python bench/live_bench.py --base-url http://127.0.0.1:6185 --api-key abk_...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp

from conformance import launcher
from conformance.invariants import live_violations
from conformance.outcomes import SuiteError

LIVE_PATH = "/api/v1/live/ws"
TERMINAL = frozenset({"end", "stop_play", "error"})
HANDSHAKE_CONCURRENCY = 64  # handshakes in flight at once (the connect ramp)
MAX_CONNECT_FAILURE_RATIO = 0.05
STARTUP_TIMEOUT = 30.0
STRAY_WAIT = 0.2  # seconds to watch each socket for frames after its last turn
MAX_EXAMPLES = 5
TARGET_SESSIONS = 1000
TARGET_P99_MS = 250.0
TARGET_PACED_P99_MS = 50.0  # paced at one turn per session per second


# results ---------------------------------------------------------------------------------------


@dataclass
class Results:
    sessions: int = 0
    connected: int = 0
    turns_expected: int = 0
    turns_completed: int = 0
    connect_failures: int = 0
    timeouts: int = 0
    unexpected_closes: int = 0
    error_frames: int = 0
    violations: int = 0  # broken rules (one turn can break several)
    violating_turns: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # text_input -> end
    first_delta_ms: list[float] = field(default_factory=list)  # text_input -> 1st bot_delta_chunk
    error_examples: list[str] = field(default_factory=list)
    violation_examples: list[str] = field(default_factory=list)
    connect_seconds: float = 0.0
    turn_seconds: float = 0.0

    @property
    def errors(self) -> int:
        return self.connect_failures + self.timeouts + self.unexpected_closes + self.error_frames

    def error(self, kind: str, message: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.error_examples) < MAX_EXAMPLES:
            self.error_examples.append(message)

    def violation(self, where: str, problems: list[str], frames: list[dict] | None) -> None:
        self.violations += len(problems)
        self.violating_turns += 1
        if len(self.violation_examples) < MAX_EXAMPLES:
            seq = " ".join(str(f.get("t")) for f in frames) if frames is not None else "-"
            self.violation_examples.append(f"{where}: {'; '.join(problems)}  [frames: {seq}]")


class SessionClosed(Exception):
    pass


# frame order ----------------------------------------------------------------------------------


def _text(frame: dict) -> str:
    data = frame.get("data")
    if isinstance(data, dict) and isinstance(data.get("text"), str):
        return data["text"]
    return ""


def check_turn(frames: list[dict]) -> list[str]:
    """The ordering invariants of one text turn (frames from the first answer to the trailing
    metrics); a list of the rules it breaks."""
    problems: list[str] = []
    types = [f.get("t") for f in frames]
    first = frames[0] if frames else {}
    first_data = first.get("data") if isinstance(first.get("data"), dict) else {}
    if types[:1] != ["metrics"] or first_data.get("input_type") != "text":
        problems.append(f"first frame is {types[:1] or 'nothing'}, not metrics{{input_type:text}}")
    if types[1:2] != ["user_msg"]:
        problems.append(f"second frame is {types[1:2] or 'nothing'}, not user_msg")
    terminals = [i for i, t in enumerate(types) if t in TERMINAL]
    if [types[i] for i in terminals] != ["end"]:
        problems.append(f"terminal frames {[types[i] for i in terminals]}, not exactly one end")
    end = terminals[0] if terminals else len(types)
    after = types[end + 1:]
    if any(t != "metrics" for t in after):
        problems.append(f"after the terminal frame: {after}, only metrics allowed")
    body = frames[:end]
    waiting = False  # a bot_text_chunk whose response has not come yet
    for frame in body:
        t = frame.get("t")
        if t == "bot_text_chunk":
            if waiting:
                problems.append("bot_text_chunk before the response of the previous one")
            waiting = True
        elif t == "response":
            waiting = False
    if waiting:
        problems.append("bot_text_chunk without a response before end")
    deltas = "".join(_text(f) for f in body if f.get("t") == "bot_delta_chunk")
    spoken = [_text(f) for f in body if f.get("t") == "bot_text_chunk"]
    responses = sum(1 for f in body if f.get("t") == "response")
    bot_msgs = [_text(f) for f in body if f.get("t") == "bot_msg"]
    if spoken or responses:
        if "".join(spoken) != deltas:
            problems.append(f"bot_text_chunk texts {''.join(spoken)!r} != "
                            f"bot_delta_chunk texts {deltas!r}")
        if bot_msgs:
            problems.append("bot_msg although a response (audio) was sent")
    elif bot_msgs and "".join(bot_msgs) != deltas:  # text-only turn (TTS off)
        problems.append(f"bot_msg text {''.join(bot_msgs)!r} != bot_delta_chunk texts {deltas!r}")
    # and the suite's own frame-order invariants (conformance/invariants.py)
    problems += [p for p in live_violations(frames) if p not in problems]
    return problems


# client ---------------------------------------------------------------------------------------


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict:
    msg = await ws.receive()
    if msg.type is aiohttp.WSMsgType.TEXT:
        try:
            frame = json.loads(msg.data)
        except ValueError:
            return {"t": "<invalid JSON>"}
        return frame if isinstance(frame, dict) else {"t": "<not an object>"}
    if msg.type is aiohttp.WSMsgType.BINARY:
        return {"t": "<binary>"}
    code = ws.close_code
    raise SessionClosed(f"{msg.type.name} (close code {code}, {msg.extra or ''})")


async def connect_one(http: aiohttp.ClientSession, url: str, args, sem: asyncio.Semaphore,
                      res: Results, index: int) -> aiohttp.ClientWebSocketResponse | None:
    async with sem:
        try:
            async with asyncio.timeout(args.timeout):
                return await http.ws_connect(url, compress=15 if args.deflate else 0,
                                             autoping=True, max_msg_size=64 * 1024 * 1024)
        except TimeoutError:
            res.error("connect_failures", f"session {index}: connect timed out")
        except (aiohttp.ClientError, OSError) as exc:
            res.error("connect_failures", f"session {index}: connect failed: {exc}")
    return None


async def run_turns(index: int, ws: aiohttp.ClientWebSocketResponse, args,
                    res: Results) -> bool:
    """Run the session's turns; False when it had to stop early (timeout, close, error)."""
    payload = json.dumps({"t": "text_input", "text": args.text})
    pace = getattr(args, "pace_ms", 0.0) / 1000
    next_start = time.perf_counter() + random.uniform(0, pace)
    for turn in range(args.turns):
        if pace:  # paced: turn starts `pace` apart (after a random 0..pace start offset)
            await asyncio.sleep(max(0.0, next_start - time.perf_counter()))
            next_start += pace
        elif args.think_ms:  # open-ish loop: spread the first turns, then pause between turns
            await asyncio.sleep((args.think_ms if turn else random.uniform(0, args.think_ms))
                                / 1000)
        frames: list[dict] = []
        where = f"session {index} turn {turn + 1}"
        first_delta = None
        try:
            async with asyncio.timeout(args.timeout):
                sent = time.perf_counter()
                await ws.send_str(payload)
                while True:
                    frame = await receive(ws)
                    frames.append(frame)
                    kind = frame.get("t")
                    if kind == "bot_delta_chunk" and first_delta is None:
                        first_delta = time.perf_counter()
                    if kind in TERMINAL:
                        ended = time.perf_counter()
                        break
                if kind == "end":
                    frames.append(await receive(ws))  # the trailing metrics frame
        except TimeoutError:
            res.error("timeouts", f"{where}: turn not finished within {args.timeout} s "
                      f"(got {' '.join(str(f.get('t')) for f in frames) or 'nothing'})")
            return False
        except SessionClosed as exc:
            res.error("unexpected_closes", f"{where}: connection closed: {exc}")
            return False
        except (aiohttp.ClientError, ConnectionError) as exc:
            res.error("unexpected_closes", f"{where}: {exc!r}")
            return False
        problems = check_turn(frames)
        if problems:
            res.violation(where, problems, frames)
        if kind != "end":
            res.error("error_frames", f"{where}: turn ended with {frames[-1]}")
            return False  # the session is in an unknown state: stop it
        res.turns_completed += 1
        res.latencies_ms.append((ended - sent) * 1000)
        if first_delta is not None:
            res.first_delta_ms.append((first_delta - sent) * 1000)
    return True


async def watch_strays(index: int, ws: aiohttp.ClientWebSocketResponse, res: Results) -> None:
    """Any frame after the last turn's trailing metrics breaks 'nothing but metrics after end'."""
    if ws.closed:
        return
    try:
        async with asyncio.timeout(STRAY_WAIT):
            frame = await receive(ws)
    except (TimeoutError, SessionClosed, aiohttp.ClientError, ConnectionError):
        return
    res.violation(f"session {index} after its last turn",
                  [f"unexpected frame {frame.get('t')!r} after the trailing metrics"], [frame])


async def close_quietly(ws: aiohttp.ClientWebSocketResponse) -> None:
    try:
        async with asyncio.timeout(5):
            await ws.close()
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        pass


async def bench(args, base_url: str, api_key: str, probe) -> Results:
    res = Results(sessions=args.sessions, turns_expected=args.sessions * args.turns)
    ws_base = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    ws_base = ws_base.rstrip("/") + LIVE_PATH + f"?api_key={quote(api_key)}"
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        sem = asyncio.Semaphore(HANDSHAKE_CONCURRENCY)
        t0 = time.perf_counter()
        sockets = await asyncio.gather(*(
            connect_one(http, f"{ws_base}&username=bench-{i}", args, sem, res, i)
            for i in range(args.sessions)))
        res.connect_seconds = time.perf_counter() - t0
        live = [(i, ws) for i, ws in enumerate(sockets) if ws is not None]
        res.connected = len(live)
        print(f"connected {res.connected}/{args.sessions} sessions in "
              f"{res.connect_seconds:.2f} s; running {args.turns} turns each", file=sys.stderr)
        probe("connected")
        try:
            if res.connected / max(1, args.sessions) >= 1 - MAX_CONNECT_FAILURE_RATIO:
                probe("turns_start")
                t0 = time.perf_counter()
                done = await asyncio.gather(*(run_turns(i, ws, args, res) for i, ws in live))
                res.turn_seconds = time.perf_counter() - t0
                probe("turns_end")
                await asyncio.gather(*(watch_strays(i, ws, res)
                                       for (i, ws), ok in zip(live, done, strict=True) if ok))
        finally:
            await asyncio.gather(*(close_quietly(ws) for _, ws in live))
    return res


# processes ------------------------------------------------------------------------------------


def proc_status_kib(pid: int | str, key: str) -> int | None:
    """A `VmXxx:` figure of /proc/<pid>/status in KiB (None when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cpu_seconds(pid: int | str) -> float | None:
    """User + system CPU time of a process (/proc/<pid>/stat fields 14 and 15)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def host_cpu_jiffies() -> tuple[int, int] | None:
    """(stolen, total) CPU time of the whole machine so far, in clock ticks (/proc/stat's
    first line; Linux): a virtual machine's CPU time the hypervisor gave to someone else is
    `steal`. None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the machine's CPU time stolen by the hypervisor between two readings
    (0.3: 30 % of every core's time went to other guests). Latency under load on a shared
    virtual machine is worth what this lets it be: a turn waits while its process has no CPU."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def pid_listening_on(port: int) -> int | None:
    """The PID owning the listening TCP socket on `port` (best effort, Linux, same user)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
            except OSError:
                continue
    return None


def raise_open_files(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft, hard


# report ---------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def summary(values: list[float]) -> dict:
    s = sorted(values)
    return {"p50": percentile(s, 50), "p90": percentile(s, 90), "p99": percentile(s, 99),
            "max": s[-1] if s else None,
            "mean": sum(s) / len(s) if s else None}


def fmt_ms(stats: dict) -> str:
    def one(v):
        return "n/a" if v is None else f"{v:.1f}"
    return (f"p50 {one(stats['p50'])}  p90 {one(stats['p90'])}  p99 {one(stats['p99'])}  "
            f"max {one(stats['max'])} ms")


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def report(args, res: Results, target: str, sim: dict, client: dict) -> dict:
    lat, first = summary(res.latencies_ms), summary(res.first_delta_ms)
    tps = res.turns_completed / res.turn_seconds if res.turn_seconds else 0.0
    targets = {  # None: not applicable to this run (fewer sessions than the target)
        f"{TARGET_SESSIONS}_sessions": (res.connected >= TARGET_SESSIONS and not res.errors)
        if res.sessions >= TARGET_SESSIONS else None,
        "zero_violations": res.violations == 0 if res.turns_completed or res.violations else None,
        f"p99_under_{TARGET_P99_MS:g}ms": lat["p99"] < TARGET_P99_MS
        if lat["p99"] and not getattr(args, "pace_ms", 0) else None,
        f"paced_p99_under_{TARGET_PACED_P99_MS:g}ms": lat["p99"] < TARGET_PACED_P99_MS
        if lat["p99"] and getattr(args, "pace_ms", 0) == 1000 else None,
    }
    per_session = None
    if sim.get("rss_connected_kib") is not None and sim.get("rss_idle_kib") is not None:
        per_session = (sim["rss_connected_kib"] - sim["rss_idle_kib"]) / max(1, res.connected)
    sim_util = (sim["cpu_turns_s"] / res.turn_seconds
                if sim.get("cpu_turns_s") is not None and res.turn_seconds else None)
    client_util = client["cpu_turns_s"] / res.turn_seconds if res.turn_seconds else None

    rows = [
        ("target", f"{target} (simulator pid {sim.get('pid') or 'unknown'}, timing profile "
                   f"{args.timing_profile if not args.base_url else 'unknown: not started here'})"),
        ("options", f"{args.sessions} sessions x {args.turns} turns, text {args.text!r}, "
                    f"think {args.think_ms:g} ms, pace {getattr(args, 'pace_ms', 0):g} ms, "
                    f"deflate {'on' if args.deflate else 'off'}"),
        ("sessions", f"{res.connected} connected of {res.sessions} "
                     f"(connect phase {res.connect_seconds:.2f} s, "
                     f"{HANDSHAKE_CONCURRENCY} handshakes at a time)"),
        ("turns completed", f"{res.turns_completed} of {res.turns_expected}"),
        ("errors", f"{res.errors} (connect failures {res.connect_failures}, timeouts "
                   f"{res.timeouts}, unexpected closes {res.unexpected_closes}, error frames "
                   f"{res.error_frames})"),
        ("throughput", f"{tps:.1f} turns/s (turn phase {res.turn_seconds:.2f} s)"),
        ("text_input -> end", fmt_ms(lat)),
        ("text_input -> 1st delta", fmt_ms(first)),
        ("ordering violations", f"{res.violations} (in {res.violating_turns} turns)"),
        ("simulator peak RSS", f"{mib(sim.get('hwm_kib'))} (idle {mib(sim.get('rss_idle_kib'))}"
         + (f", ~{per_session:.0f} KiB per connected session)" if per_session is not None
            else ")")),
        ("simulator CPU", "n/a" if sim_util is None else
         f"{sim['cpu_turns_s']:.2f} s in the turn phase ({sim_util:.0%} of one core)"),
        ("client peak RSS", mib(client.get("hwm_kib"))),
        ("client CPU", "n/a" if client_util is None else
         f"{client['cpu_turns_s']:.2f} s in the turn phase ({client_util:.0%} of one core)"),
        ("CPU steal", "n/a (no /proc/stat)" if client.get("steal") is None else
         f"{client['steal']:.0%} of the machine's CPU time in the turn phase went to other "
         "virtual machines" + (": latency figures are worth little" if client["steal"] >= 0.1
                               else "")),
        ("targets (info only)", ", ".join(f"{k} {'n/a' if v is None else 'met' if v else 'MISSED'}"
                                          for k, v in targets.items())),
    ]
    width = max(len(k) for k, _ in rows)
    print("\nAstrBot Live API benchmark")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if res.error_examples:
        print("  first errors:")
        for line in res.error_examples:
            print(f"    - {line}")
    if res.violation_examples:
        print("  first ordering violations:")
        for line in res.violation_examples:
            print(f"    - {line[:400]}")

    def r(v, n=3):
        return None if v is None else round(v, n)

    out = {
        "target": target, "timing_profile": None if args.base_url else args.timing_profile,
        "sessions": res.sessions, "turns_per_session": args.turns,
        "text": args.text, "think_ms": args.think_ms,
        "pace_ms": getattr(args, "pace_ms", 0.0), "deflate": args.deflate,
        "connected": res.connected, "turns_expected": res.turns_expected,
        "turns_completed": res.turns_completed,
        "errors": {"total": res.errors, "connect_failures": res.connect_failures,
                   "timeouts": res.timeouts, "unexpected_closes": res.unexpected_closes,
                   "error_frames": res.error_frames},
        "connect_s": r(res.connect_seconds), "turn_phase_s": r(res.turn_seconds),
        "turns_per_s": r(tps, 1),
        "latency_end_ms": {k: r(v, 2) for k, v in lat.items()},
        "latency_first_delta_ms": {k: r(v, 2) for k, v in first.items()},
        "ordering_violations": res.violations, "violating_turns": res.violating_turns,
        "violation_examples": res.violation_examples, "error_examples": res.error_examples,
        "simulator": {"pid": sim.get("pid"), "peak_rss_kib": sim.get("hwm_kib"),
                      "idle_rss_kib": sim.get("rss_idle_kib"),
                      "connected_rss_kib": sim.get("rss_connected_kib"),
                      "cpu_turn_phase_s": r(sim.get("cpu_turns_s"))},
        "steal_share": r(client.get("steal")),
        "client": {"peak_rss_kib": client.get("hwm_kib"),
                   "cpu_turn_phase_s": r(client.get("cpu_turns_s"))},
        "targets": targets,
    }
    print("BENCH_JSON " + json.dumps(out, separators=(",", ":")), flush=True)
    return out


# entry point ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="live_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=TARGET_SESSIONS,
                   help="concurrent sessions (%(default)s)")
    p.add_argument("--turns", type=int, default=4, help="text turns per session (%(default)s)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds allowed for one handshake and for one turn (%(default)s)")
    p.add_argument("--text", default="hello from the benchmark", help="text of every turn")
    p.add_argument("--think-ms", type=float, default=0.0,
                   help="pause between two turns of a session, and a random 0..think start "
                        "offset (default 0: closed loop, every session sends at once)")
    p.add_argument("--pace-ms", type=float, default=0.0,
                   help="start a session's turns this far apart (after a random 0..pace "
                        "offset): an open loop, e.g. 1000 = one turn per session per second")
    p.add_argument("--deflate", action="store_true",
                   help="offer permessage-deflate, as browsers do (default: off)")
    p.add_argument("--base-url", help="bench this running server instead of starting one")
    p.add_argument("--api-key", help="API key (chat scope) for --base-url")
    p.add_argument("--sim-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for the started simulator, e.g. --sim-arg=--no-tts")
    p.add_argument("--sim-log", type=Path, help="keep the started simulator's log here")
    p.add_argument("--timing-profile", default="instant",
                   choices=("instant", "fast", "realistic"),
                   help="timing model of the started simulator (%(default)s: the server's own "
                        "cost, no modelled provider latency)")
    args = p.parse_args(argv)
    if args.sessions < 1 or args.turns < 1 or args.timeout <= 0 or args.pace_ms < 0:
        p.error("--sessions and --turns must be >= 1, --timeout > 0, --pace-ms >= 0")
    if args.pace_ms and args.think_ms:
        p.error("--pace-ms and --think-ms exclude each other")
    if args.base_url and not args.api_key:
        p.error("--base-url needs --api-key")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad options (2): a return code, not an exit
        return exc.code if isinstance(exc.code, int) else 2
    soft, _ = raise_open_files(args.sessions + 256)
    if soft != resource.RLIM_INFINITY and soft < args.sessions + 64:
        print(f"live_bench: the open-file limit ({soft}) is too low for {args.sessions} "
              "sessions", file=sys.stderr)
        return 1

    with contextlib.ExitStack() as stack:
        proc = None
        if args.base_url:
            base_url, api_key = args.base_url.rstrip("/"), args.api_key
            host_port = urlsplit(base_url).port or (443 if base_url.startswith("https") else 80)
            pid = pid_listening_on(host_port)
        else:
            api_key = "abk_bench_" + secrets.token_urlsafe(24)
            print("starting the simulator...", file=sys.stderr)
            try:
                launched = stack.enter_context(launcher.simulator(
                    args.sim_arg, env={"ASTRBOT_SIM_API_KEY": api_key}, log_path=args.sim_log,
                    timing_profile=args.timing_profile))
            except (SuiteError, OSError) as exc:
                print(f"live_bench: {exc}", file=sys.stderr)
                return 1
            proc, base_url, pid = launched.process, launched.url, launched.process.pid
        sim: dict = {"pid": pid, "rss_idle_kib": pid and proc_status_kib(pid, "VmRSS")}
        client: dict = {}

        def probe(point: str) -> None:
            if point == "connected":
                sim["rss_connected_kib"] = pid and proc_status_kib(pid, "VmRSS")
            elif point == "turns_start":
                sim["cpu0"] = pid and proc_cpu_seconds(pid)
                client["cpu0"] = time.process_time()
                client["host0"] = host_cpu_jiffies()
            elif point == "turns_end":
                client["steal"] = steal_share(client.get("host0"), host_cpu_jiffies())
                cpu1 = pid and proc_cpu_seconds(pid)
                if sim.get("cpu0") is not None and cpu1 is not None:
                    sim["cpu_turns_s"] = cpu1 - sim["cpu0"]
                client["cpu_turns_s"] = time.process_time() - client["cpu0"]

        try:
            res = asyncio.run(bench(args, base_url, api_key, probe))
            sim["hwm_kib"] = pid and proc_status_kib(pid, "VmHWM")
            if proc is not None and proc.poll() is not None:
                print(f"live_bench: the simulator exited with {proc.returncode} during the "
                      "run", file=sys.stderr)
        except KeyboardInterrupt:
            return 1
        client["hwm_kib"] = proc_status_kib("self", "VmHWM")
        report(args, res, base_url, sim, client)

    if res.connect_failures > MAX_CONNECT_FAILURE_RATIO * args.sessions:
        print(f"live_bench: {res.connect_failures} of {args.sessions} sessions failed to "
              "connect: the benchmark did not run", file=sys.stderr)
        return 1
    if res.turns_completed == 0:
        print("live_bench: no turn completed, nothing was measured (see the errors above)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
