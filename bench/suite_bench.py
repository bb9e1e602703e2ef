"""Suite benchmark: how long a conformance run of all profiles takes against a fresh simulator,
serially and on pytest-xdist workers (`astrbot-conformance run --workers N`).

Each run is `astrbot-conformance run --simulator -q` as a user types it (its own simulator, its
own report directory), timed from the outside. Quick depth by default; `--full` adds the
full-depth runs. The verdicts of the runs are compared (a parallel run must give the serial
verdicts; a difference is printed and makes the exit status 1).

It only PRINTS figures: a table (with each run's longest xdist units: the one that cannot be
split bounds a parallel run) and one `BENCH_JSON {...}` line; the goals (quick run of all
profiles under 40 s, full depth under 5 minutes, on 2 cores) are reported as met/MISSED, never
asserted. The machine's load average and CPU steal (the share of its CPU time the hypervisor
gave to other virtual machines) are printed with them: on a shared machine the figures are
worth what those let them be. Exit status: 0 when the runs ran with the same verdicts, 1
when a run gave no report or different verdicts, 2 for bad options.

    python bench/suite_bench.py                   # quick: serial, then 2 and 4 workers
    python bench/suite_bench.py --workers 3       # quick: serial, then 3 workers
    python bench/suite_bench.py --full            # quick and full depth
    python bench/suite_bench.py --no-serial       # only the parallel runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import live_bench  # noqa: E402 (its /proc/stat readings)

GOALS_S = {"quick": 40.0, "full": 300.0}  # on 2 cores, with workers (issue 16)
UNITS_SHOWN = 5  # the longest xdist units printed per run
RUN_TIMEOUT_S = {"quick": 900, "full": 3600}


def units(doc: dict) -> list[tuple[str, float]]:
    """The run's xdist units (a scenario file; a fuzzed document, or one part of one, as
    conformance/parallel.py schedules them) with the seconds their checks took, fixtures
    included, longest first: no unit can be split across workers, so the longest one bounds a
    parallel run from below (the critical path, with the barrier before the LAST files)."""
    from conformance.parallel import PART

    seconds: dict[str, float] = {}
    seen = set()
    for req in doc["requirements"]:
        for check in req["checks"]:
            nodeid = check["nodeid"]
            if nodeid in seen or nodeid.startswith("<"):
                continue
            seen.add(nodeid)
            if "test_openapi_fuzz" in nodeid or "test_http_hostile" in nodeid:
                part = PART.search(nodeid)
                unit = nodeid.split("[", 1)[0] + (f"[{part.group(1)}]" if part else "")
            else:
                unit = nodeid.split("::", 1)[0]
            seconds[unit] = seconds.get(unit, 0.0) + check["duration_s"]
    return sorted(((u, round(s, 1)) for u, s in seconds.items()), key=lambda us: -us[1])


def run_once(depth: str, workers: int, out: Path) -> dict:
    report = out / f"{depth}-w{workers}"
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--simulator", "-q", "--depth", depth,
           "--report-dir", str(report), "--workers", str(workers)]
    load_before = os.getloadavg()[0]
    host_before = live_bench.host_cpu_jiffies()
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out,
                              timeout=RUN_TIMEOUT_S[depth])
        code, tail = proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-1:]
    except subprocess.TimeoutExpired:
        code, tail = None, [f"no end within {RUN_TIMEOUT_S[depth]} s"]
    wall = time.monotonic() - started
    steal = live_bench.steal_share(host_before, live_bench.host_cpu_jiffies())
    results = report / "results.json"
    verdicts, longest = {}, []
    if results.exists():
        doc = json.loads(results.read_text(encoding="utf-8"))
        verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
        longest = units(doc)[:UNITS_SHOWN]
    return {"depth": depth, "workers": workers, "wall_s": round(wall, 1), "exit": code,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "steal_share": None if steal is None else round(steal, 2),
            "requirements": len(verdicts), "verdicts": verdicts, "longest_units": longest,
            "headline": tail[0] if tail else ""}


def pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4],
                        help="worker counts of the parallel runs (default 2 and 4: auto on 2 "
                        "cores)")
    parser.add_argument("--full", action="store_true", help="full-depth runs as well")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial runs")
    args = parser.parse_args(argv)
    if any(w < 1 for w in args.workers):
        parser.error("--workers: counts >= 1")
    counts = ([] if args.no_serial else [1]) + [w for w in args.workers if w != 1]
    if not counts:
        parser.error("nothing to run")
    depths = ["quick", "full"] if args.full else ["quick"]
    print(f"suite benchmark: all profiles against a fresh simulator each, {os.cpu_count()} "
          f"CPUs, load average {os.getloadavg()[0]:.2f} at the start")
    runs = []
    with tempfile.TemporaryDirectory(prefix="suite-bench-") as tmp:
        for depth in depths:
            for workers in counts:
                run = run_once(depth, workers, Path(tmp))
                runs.append(run)
                print(f"  {depth:<5} workers={workers:<2} {run['wall_s']:>7.1f} s  exit "
                      f"{run['exit']}  load {run['load_before']:.1f}->{run['load_after']:.1f}"
                      f"  steal {pct(run['steal_share'])}"
                      f"  {run['headline']}", flush=True)
                print("    longest units: " + ", ".join(
                    f"{u.rsplit('/', 1)[-1]} {sec:.0f} s" for u, sec in run["longest_units"]),
                      flush=True)
    status = 0
    print()
    for depth in depths:
        these = [r for r in runs if r["depth"] == depth]
        serial = next((r for r in these if r["workers"] == 1), None)
        for run in these:
            if not run["verdicts"]:
                print(f"{depth} workers={run['workers']}: NO REPORT ({run['headline']})")
                status = 1
                continue
            if serial is not None and run is not serial and serial["verdicts"]:
                differ = sorted(k for k in serial["verdicts"]
                                if serial["verdicts"][k] != run["verdicts"].get(k))
                run["differ_from_serial"] = differ
                if differ:
                    status = 1
                    print(f"{depth} workers={run['workers']}: verdicts DIFFER from the serial "
                          f"run for {', '.join(differ[:10])}")
            speedup = f", x{serial['wall_s'] / run['wall_s']:.2f} of serial" \
                if serial is not None and run is not serial else ""
            if run["workers"] > 1:
                goal = GOALS_S[depth]
                met = "met" if run["wall_s"] < goal else "MISSED"
                print(f"{depth} run, {run['workers']} workers: {run['wall_s']:.1f} s{speedup} "
                      f"(goal < {goal:.0f} s on 2 cores: {met})")
            else:
                print(f"{depth} run, serial: {run['wall_s']:.1f} s")
    for run in runs:
        run.pop("verdicts")
    print("BENCH_JSON " + json.dumps({"bench": "suite", "cpus": os.cpu_count(),
                                      "goals_s": GOALS_S, "runs": runs}))
    return status


if __name__ == "__main__":
    sys.exit(main())
