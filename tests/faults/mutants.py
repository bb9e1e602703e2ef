"""The kill matrix: `./noxw -s mutants [-- NAME... | --subset ci] [--jobs N]`.

Each server fault of the catalogue (tests/faults/) is started as its own process, exactly like
a real target (fresh data directory, free loopback port, the simulator's default timing unless
`--timing-profile`), and judged by the suite over the network (`astrbot-conformance run
--base-url ... --setup-admin --allow-writes --profile <the fault's profiles>`). Each bad client
of tests/test_client_mode.py is played against one `astrbot-sim --client-mode` and judged by
its client report. Faults run `--jobs` at a time (default: the machine's cores).

A fault is
    killed    every requirement in its `breaks` went FAIL (or NON-STRICT, for a SHOULD), and
              nothing outside `breaks` and `may` did
    clean     an allowed variation (no `breaks`) that made nothing FAIL or NON-STRICT
and otherwise a problem: `survived` (none of `breaks` caught), `partial` (some), `wrong
requirement` (caught only elsewhere), `blamed` (more went FAIL than the bug breaks, or an allowed
variation was blamed), `not judged` (an ERROR verdict outside `may`, a preflight failure, a run
that crashed or timed out). The run fails on any problem and, when the whole catalogue ran, on
a MUST requirement that no fault breaks. The matrix is written to `<out>/matrix.md` and
`<out>/matrix.json` (default reports/mutants/), each fault's report to `<out>/runs/<name>/`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from conformance.catalogue import load
from conformance.launcher import free_port, ready, simulator, stop

from . import Fault, catalogue

ROOT = Path(__file__).resolve().parents[2]
CAUGHT = ("FAIL", "NON-STRICT")
STARTUP = 30  # seconds for a fault's target to answer
RUN_LIMIT = 900  # seconds for one suite run, then it is stopped by its PID
# a fixed subset for CI (.ci/run): one or two faults per area, each once a survivor the suite
# was strengthened for, and allowed variations; about 8 minutes at 2 jobs
CI_SUBSET = (
    "voice-no-deltas", "response-before-text-chunk",  # live_turn
    "busy-after-interrupt", "interrupt-ends-with-end",  # live_interrupt
    "not-busy-during-stt", "busy-lingers-after-end",  # live_busy
    "live-revoked-key-cached",  # live_auth
    "push-umo-prefix-kept", "chatws-revoked-key-accepted",  # live_chat
    "jwt-v1-live-signature-unchecked",  # jwt_paths
    "config-grants-everything", "bearer-key-skips-scope",  # rest_auth
    "project-delete-kept",  # rest_schema
    "sse-end-twice", "upload-keeps-directories", "sessions-page-off-by-one",  # open_api
    "bola-read-foreign-session",  # security
    "ws-list-t-http-500",  # hostile_ws
    "login-surrogate-500",  # hostile_rest
    "slow-speech-to-text", "sse-comments-and-ids",  # allowed
    "client-busy-twice",  # a bad client (CLIENT-*)
)


@dataclass
class Row:
    name: str
    area: str
    kind: str  # server | client
    doc: str
    breaks: list[str]
    may: list[str]
    profiles: list[str]
    status: str = ""
    caught: dict[str, str] = field(default_factory=dict)  # id -> FAIL / NON-STRICT
    wrong: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # id -> first line of its reason
    exit_code: int | None = None
    note: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("killed", "clean")


def classify(row: Row, verdicts: dict[str, str]) -> None:
    row.caught = {rid: v for rid, v in verdicts.items() if v in CAUGHT}
    row.errors = sorted(rid for rid, v in verdicts.items() if v == "ERROR")
    row.wrong = sorted(set(row.caught) - set(row.breaks) - set(row.may))
    row.missed = sorted(set(row.breaks) - set(row.caught))
    hit = set(row.breaks) & set(row.caught)
    # the same bug may leave a collateral requirement not judged (ERROR: e.g. no interrupt
    # race can be placed on a target that answers interrupt with end); anywhere else an ERROR
    # means the suite broke
    if set(row.errors) - set(row.may) or row.note:
        row.status = "not judged"
    elif not row.breaks:
        row.status = "blamed" if row.caught else "clean"
    elif not hit:
        row.status = "wrong requirement" if row.wrong else "survived"
    elif row.missed:
        row.status = "partial"
    elif row.wrong:
        row.status = "blamed"
    else:
        row.status = "killed"


def profiles_of(fault: Fault, levels: dict[str, tuple[str, str]]) -> list[str]:
    if fault.profiles:
        return list(fault.profiles)
    return sorted({levels[rid][1] for rid in (*fault.breaks, *fault.may) if rid in levels})


RUNNING: set[subprocess.Popen] = set()  # every target and suite process this run started


def _started(proc: subprocess.Popen) -> subprocess.Popen:
    RUNNING.add(proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    RUNNING.discard(proc)
    stop(proc)


def run_fault(fault: Fault, row: Row, out: Path, args) -> Row:
    started = time.monotonic()
    run_dir = out / "runs" / fault.name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    timing = ["--timing-profile", args.timing_profile] if args.timing_profile else []
    with tempfile.TemporaryDirectory(prefix=f"fault-{fault.name}-") as data:
        log = open(Path(data) / "target.log", "w")  # noqa: SIM115
        target = _started(subprocess.Popen(
            [sys.executable, "-m", "tests.faults", fault.name, "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", data, "--log-level", "WARNING", *timing],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        try:
            deadline = time.monotonic() + STARTUP
            while not ready(url):
                if target.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (Path(data) / "target.log").read_text(errors="replace")[-600:]
                    row.note = f"the target did not start: {tail.strip()}"
                    classify(row, {})
                    return row
                time.sleep(0.1)
            suite = _started(subprocess.Popen(
                [sys.executable, "-m", "conformance.cli", "run", "--base-url", url,
                 "--setup-admin", "--allow-writes", "--profile", ",".join(row.profiles),
                 "--report-dir", str(run_dir), "--timeout", str(args.timeout), "-q",
                 "--name", f"fault {fault.name}",
                 *([] if fault.fuzzed else ["-k", "not openapi_fuzz"])],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            try:
                output, _ = suite.communicate(timeout=RUN_LIMIT)
            except subprocess.TimeoutExpired:
                _stop(suite)
                output = ""
                row.note = f"the suite run took over {RUN_LIMIT} s and was stopped"
            row.exit_code = suite.returncode
            RUNNING.discard(suite)
        finally:
            _stop(target)
            log.close()
            (out / "runs" / f"{fault.name}-admin.toml").unlink(missing_ok=True)
    results = run_dir / "results.json"
    verdicts: dict[str, str] = {}
    if results.exists():
        doc = json.loads(results.read_text())
        verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
        row.reasons = {r["id"]: (r.get("reason") or "").strip().splitlines()[0][:300]
                       for r in doc["requirements"]
                       if r["verdict"] in (*CAUGHT, "ERROR") and r.get("reason")}
        if row.exit_code == 3:
            row.note = f"preflight failed: {doc['summary'].get('preflight')}"
    elif not row.note:
        row.note = f"no results.json (exit {row.exit_code}): {output.strip()[-400:]}"
    classify(row, verdicts)
    row.seconds = round(time.monotonic() - started, 1)
    return row


def client_rows(selected: set[str] | None) -> list[Row]:
    """Each bad client of tests/test_client_mode.py, graded by one client-mode simulator."""
    from tests.test_client_mode import BAD_CLIENTS, Target

    chosen = [(rid, c) for rid, c in BAD_CLIENTS
              if selected is None or f"client-{c.__name__.replace('_', '-')}" in selected]
    if not chosen:
        return []
    rows = []
    with tempfile.TemporaryDirectory(prefix="client-faults-") as report_dir, \
            simulator(["--client-mode", "--client-report", report_dir],
                      timing_profile="fast") as launched:
        target = Target(launched.url, Path(report_dir))
        for rid, client in chosen:
            started = time.monotonic()
            row = Row(f"client-{client.__name__.replace('_', '-')}", "client", "client",
                      (client.__doc__ or "").strip() or f"a client breaking {rid}",
                      [rid], [], ["client"])
            target.new_run()
            try:
                asyncio.run(client(target))
                doc = target.report()
                verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
                row.reasons = {r["id"]: (r.get("reason") or "").splitlines()[0][:300]
                               for r in doc["requirements"] if r["verdict"] == "FAIL"}
            except Exception as exc:  # noqa: BLE001 - a bad client that broke is not judged
                row.note, verdicts = f"the bad client crashed: {exc!r}", {}
            classify(row, verdicts)
            row.seconds = round(time.monotonic() - started, 1)
            rows.append(row)
    return rows


def must_without_fault(rows: list[Row]) -> list[str]:
    cat = load()
    musts = {r.id for r in (*cat.requirements.values(), *cat.simulator_judged.values())
             if r.level == "MUST"}
    return sorted(musts - {rid for row in rows for rid in row.breaks})


def markdown(rows: list[Row], totals: dict, problems: list[str]) -> str:
    partial = "" if totals.get("complete", True) else (
        f" **Partial: {totals['faults']} of {totals['planned']} faults run so far.**")
    lines = ["# Kill matrix", "",
             f"{totals['faults']} faults ({totals['server']} server, {totals['client']} "
             f"client): **{totals['killed']} killed**, **{totals['clean']} allowed variations "
             f"clean**, {totals['problems']} problems. MUST requirements with a fault: "
             f"{totals['musts_covered']}/{totals['musts']}. Wall time {totals['wall_s']} s "
             f"({totals['jobs']} at a time; target timing: {totals['timing']}).{partial}", ""]
    if problems:
        lines += ["## Problems", "", *[f"- {p}" for p in problems], ""]
    lines += ["| fault | area | expected | caught (FAIL / NON-STRICT) | blamed outside the bug "
              "| status | s |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        caught = ", ".join(f"{rid}{'' if v == 'FAIL' else ' (NS)'}"
                           for rid, v in sorted(row.caught.items())) or "-"
        expected = ", ".join(row.breaks) or "nothing (allowed)"
        lines.append(f"| `{row.name}` | {row.area} | {expected} | {caught} | "
                     f"{', '.join(row.wrong) or '-'} | {row.status} | {row.seconds} |")
    lines += ["", "## Faults", ""]
    lines += [f"- `{row.name}`: {_cell(row.doc)}" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def problem_lines(rows: list[Row], uncovered: list[str]) -> list[str]:
    out = []
    for row in rows:
        if row.ok:
            continue
        detail = row.note or "; ".join(
            part for part in (
                f"missed {', '.join(row.missed)}" if row.missed and row.breaks else "",
                "blamed " + ", ".join(f"{rid} ({row.reasons.get(rid, '')})" for rid in row.wrong)
                if row.wrong else "",
                f"ERROR {', '.join(row.errors)}" if row.errors else "") if part)
        out.append(f"{row.name}: {row.status}: {_cell(detail)}")
    if uncovered:
        out.append(f"MUST requirements no fault breaks: {', '.join(uncovered)}")
    return out


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="mutants", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="faults to run (default: all)")
    p.add_argument("--subset", choices=("ci",), help="the fixed CI subset (CI_SUBSET)")
    p.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    p.add_argument("--out", default="reports/mutants")
    p.add_argument("--timing-profile", default=None,
                   help="the targets' timing profile (default: the simulator's own default)")
    p.add_argument("--timeout", default="5", help="the suite's --timeout (seconds per wait)")
    p.add_argument("--list", action="store_true", help="list the faults and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    catalogue_problems: list[str] = []
    faults = catalogue(catalogue_problems)
    cat = load()
    levels = {r.id: (r.level, r.profile) for r in cat.requirements.values()}
    from tests.test_client_mode import BAD_CLIENTS
    client_names = [f"client-{c.__name__.replace('_', '-')}" for _, c in BAD_CLIENTS]
    if args.list:
        for f in faults.values():
            print(f"{f.name:<40} {f.area:<15} {', '.join(f.breaks) or 'allowed'}")
        for name in client_names:
            print(f"{name:<40} client")
        return 0
    selected = set(args.names) or (set(CI_SUBSET) if args.subset else None)
    if selected:
        unknown = sorted(selected - set(faults) - set(client_names))
        if unknown:
            print(f"mutants: unknown fault {', '.join(unknown)} (see --list)", file=sys.stderr)
            return 2
    chosen = [f for f in faults.values() if selected is None or f.name in selected]
    unknown_ids = sorted({rid for f in chosen for rid in (*f.breaks, *f.may)} - set(levels))
    if unknown_ids:
        print(f"mutants: faults name unknown requirements: {', '.join(unknown_ids)}",
              file=sys.stderr)
        return 2
    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rows = [Row(f.name, f.area, "server", f.doc, list(f.breaks), list(f.may),
                profiles_of(f, levels)) for f in chosen]
    print(f"mutants: {len(rows)} server faults, {args.jobs} at a time", flush=True)

    clients = client_rows(selected)  # first: they take seconds, and every matrix shows them
    for row in clients:
        print(f"  {row.status:<17} {row.name:<40} {row.seconds:>6} s  "
              f"{', '.join(sorted(row.caught)) or '-'}", flush=True)
    lock = threading.Lock()

    def publish(final: bool) -> tuple[dict, list[str]]:
        """Write the matrix of the faults done so far (after each one: a long run that is
        stopped still leaves its results), the whole one when `final`."""
        done = [r for r in rows if r.status] + clients
        uncovered = must_without_fault(done) if selected is None and final else []
        problems = catalogue_problems + problem_lines(done, uncovered)
        musts = [r for r in (*cat.requirements.values(), *cat.simulator_judged.values())
                 if r.level == "MUST"]
        totals = {"faults": len(done), "planned": len(rows) + len(clients),
                  "server": len(done) - len(clients), "client": len(clients),
                  "killed": sum(r.status == "killed" for r in done),
                  "clean": sum(r.status == "clean" for r in done),
                  "problems": sum(not r.ok for r in done), "musts": len(musts),
                  "musts_covered": len(musts) - len(must_without_fault(done)),
                  "wall_s": round(time.monotonic() - started), "jobs": args.jobs,
                  "timing": args.timing_profile or "simulator default", "complete": final}
        with lock:
            (out / "matrix.json").write_text(json.dumps(
                {"totals": totals, "problems": problems, "uncovered_musts": uncovered,
                 "faults": [asdict(r) for r in done]}, indent=2) + "\n")
            (out / "matrix.md").write_text(markdown(done, totals, problems))
        return totals, problems

    def one(pair):
        fault, row = pair
        done = run_fault(fault, row, out, args)
        print(f"  {done.status:<17} {done.name:<40} {done.seconds:>6} s  "
              f"{', '.join(sorted(done.caught)) or '-'}", flush=True)
        publish(final=False)
        return done

    pool = ThreadPoolExecutor(max_workers=args.jobs)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        list(pool.map(one, zip(chosen, rows, strict=True)))
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(RUNNING):  # stopped by their PIDs; the matrix so far is kept
            _stop(proc)
        print(f"mutants: interrupted; the faults done so far: {out / 'matrix.md'}",
              file=sys.stderr)
        return 130
    pool.shutdown()
    totals, problems = publish(final=True)
    print(f"mutants: {totals['killed']} killed, {totals['clean']} clean, "
          f"{totals['problems']} problems of {totals['faults']} faults; MUST with a fault "
          f"{totals['musts_covered']}/{totals['musts']}; {totals['wall_s']} s")
    for line in problems:
        print(f"  PROBLEM {line}")
    print(f"matrix: {out / 'matrix.md'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
