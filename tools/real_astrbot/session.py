#!/usr/bin/env python3
"""The suite against real AstrBot releases from PyPI, one after another (`./noxw -s
real_astrbot -- VERSION...`; the nox session runs this file with its Python, where the project
is importable).

    python tools/real_astrbot/session.py [VERSION...] [--python PY] [--keep] [--no-baseline]

Per release, in order: its lock (a second session of the same release is refused; different
releases may run side by side), its cached venv ``.real-astrbot/venv-VERSION`` (venvs.py),
fresh data in ``.real-astrbot/VERSION/`` (wiped first), the provider doubles and AstrBot on
free loopback ports and the HTTP bootstrap (up.py), then the suite with ``--allow-writes``
(this session owns the deployment), gated by ``baselines/astrbot-VERSION.yaml`` when it exists,
its report in ``reports/astrbot-VERSION/``. Every process started is stopped by PID at the end,
also after a failure, an exception, SIGTERM or Ctrl-C (``--keep`` leaves them running, except
after a signal). Exit 0 when every release started and passed its gate (ungated: was judged),
1 otherwise, 2 on a usage error (no Python 3.12 to create a missing venv with).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import down
import up
import venvs
from procs import Processes

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOME = REPO / ".real-astrbot"
DEFAULT_VERSIONS = ["4.26.2"]
VERDICTS = ("PASS", "FAIL", "NON-STRICT", "UNIMPLEMENTED", "SKIPPED", "ERROR")
SUITE_EXIT = {2: "the suite refused its settings (usage error)",
              3: "the suite's preflight failed: nothing judged",
              4: "requirements were not judged (ERROR)"}


def say(msg: str) -> None:
    print(f"[real_astrbot {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- signals: SIGTERM becomes an exception, so every `finally` runs ---------------------------
class Stopped(BaseException):
    """SIGTERM (or SIGHUP) arrived: stop everything and end (not an Exception: nothing may
    swallow it)."""


def _raise_stopped(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def handle_signals() -> None:
    """SIGTERM and SIGHUP raise Stopped in the main thread (Ctrl-C raises KeyboardInterrupt)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stopped)


@contextlib.contextmanager
def signals_held():
    """No signal interrupts what runs inside (the stopping of our processes)."""
    sigs = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    before = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def stopping(procs: Processes, keep: bool = False, stop_hint: str = ""):
    """Stop every process of `procs` when the block ends, however it ends. With `keep` they
    stay after a normal end or a failure (the hint printed), never after a signal."""
    signalled = False
    try:
        yield procs
    except (Stopped, KeyboardInterrupt):
        signalled = True
        raise
    finally:
        if keep and not signalled and procs.started:
            procs.started.clear()  # the records in run/ stay, for down.py
            say(f"--keep: left running; stop with: {stop_hint}")
        else:
            with signals_held():
                procs.stop_all()


# -- one release -----------------------------------------------------------------------------
@dataclass
class Outcome:
    version: str
    ok: bool = False
    problem: str = ""
    counts: dict = field(default_factory=dict)
    gate: str = "-"  # ok, failed, ungated, or - (no suite run)
    report: str = ""
    times: dict = field(default_factory=dict)

    def line(self) -> str:
        counts = ", ".join(f"{v} {self.counts[v]}" for v in VERDICTS if self.counts.get(v))
        status = "ok" if self.ok else f"FAILED: {self.problem}"
        return (f"{self.version:<9} {counts or 'no verdicts'}; gate {self.gate}; "
                f"{self.report or 'no report'}; {status}")


@contextlib.contextmanager
def release_lock(home: Path, version: str):
    """One session per release at a time (different releases may run side by side)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"{version}.lock"
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise venvs.Failure(f"another session of AstrBot {version} is running "
                                f"({rel(path)})") from None
        yield


def rel(path: Path) -> str:
    """`path` relative to the repository when inside it (what reports and logs show)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def suite_argv(target: Path, report: Path, baseline: Path | None) -> list[str]:
    exe = Path(sys.executable).with_name("astrbot-conformance")
    head = ([str(exe)] if exe.exists() else
            [sys.executable, "-c", "import sys; from conformance.cli import main; "
             "sys.exit(main())"])
    gate = ["--baseline", rel(baseline)] if baseline else []
    return [*head, "run", "--config", rel(target), "--allow-writes", *gate,
            "--report-dir", rel(report), "-q"]


def run_release(version: str, home: Path, python, keep: bool = False,
                use_baseline: bool = True) -> Outcome:
    """Install (if needed), deploy, run the suite against and stop one release."""
    out = Outcome(version)
    times = out.times
    report = REPO / "reports" / f"astrbot-{version}"
    baseline = REPO / "baselines" / f"astrbot-{version}.yaml"
    root = home / version
    try:
        with release_lock(home, version):
            if not down.stop_root(root, say=lambda m: say(f"earlier run: {m}")):
                raise venvs.Failure(f"a process of an earlier run in {rel(root)} did not stop")
            shutil.rmtree(root, ignore_errors=True)
            venv = home / f"venv-{version}"
            times["install"] = venvs.ensure_venv(venv, version, python, say=say)
            say(f"{version}: install {times['install']:.1f} s ({rel(venv)})")
            procs = Processes(root / "run", say=lambda m: say(f"{version}: {m}"))
            hint = f"python3 tools/real_astrbot/down.py --version {version}"
            with stopping(procs, keep, hint):
                got = up.deploy(version, root, venv, procs,
                                say=lambda m: say(f"{version}: {m}"))
                times["start"], times["bootstrap"] = got["start_s"], got["bootstrap_s"]
                say(f"{version}: ready at {got['base_url']}; start {times['start']:.1f} s, "
                    f"bootstrap {times['bootstrap']:.1f} s")
                gated = use_baseline and baseline.is_file()
                if use_baseline and not gated:
                    say(f"{version}: no {rel(baseline)}: the suite runs ungated")
                shutil.rmtree(report, ignore_errors=True)  # no stale results.json is read
                argv = suite_argv(root / "target.toml", report, baseline if gated else None)
                say(f"{version}: astrbot-conformance {' '.join(argv[argv.index('run'):])}")
                t0 = time.monotonic()
                code = procs.start("suite", argv, REPO, new_session=False).wait()
                times["suite"] = time.monotonic() - t0
            out.report = rel(report) + "/"
            judge(out, code, gated, report / "results.json")
    except Exception as e:  # a Failure, or a bug: either way this release failed, say why
        out.problem = (str(e).splitlines() or [repr(e)])[0]
        if not isinstance(e, venvs.Failure):
            out.problem = f"unexpected error: {e!r}"
        print(f"[real_astrbot] {version}: FAILED: {e}", file=sys.stderr, flush=True)
        log = root / "logs" / "astrbot.log"
        if log.exists() and "Log tail" not in str(e):
            print(f"AstrBot log tail ({rel(log)}):\n{up.tail(log, 25)}", file=sys.stderr)
    say(f"{version}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    return out


def judge(out: Outcome, code: int, gated: bool, results: Path) -> None:
    """Fill `out` from the suite's exit status and results.json."""
    try:
        summary = json.loads(results.read_text())["summary"]
    except (OSError, ValueError, KeyError):
        summary = {}
    out.counts = {v: summary.get(v, 0) for v in VERDICTS}
    baseline = summary.get("baseline") or {}
    if gated:
        out.gate = "ok" if code == 0 else "failed"
    else:
        out.gate = "ungated"
    if code in SUITE_EXIT or not summary:
        out.problem = SUITE_EXIT.get(code, f"the suite ended with status {code}, no results")
    elif gated and code != 0:
        new, stale = (_ids(baseline.get(k)) for k in ("new", "stale"))
        out.problem = f"the baseline gate failed (new: {new}; stale: {stale})"
    out.ok = not out.problem


def _ids(entries) -> str:
    """The requirement ids of a baseline's `new` or `stale` list (or its count)."""
    if isinstance(entries, list):
        return ", ".join(e.get("id", "?") if isinstance(e, dict) else str(e)
                         for e in entries) or "none"
    return str(entries if entries is not None else "?")


# -- several releases ------------------------------------------------------------------------
VERSION = re.compile(r"\d+(\.\d+)+([a-z]+\d*)?(\.post\d+|\.dev\d+)?")


def run_releases(versions: list[str], python: str | None = None, keep: bool = False,
                 use_baseline: bool = True, home: Path = HOME) -> list[Outcome]:
    """Each release in turn (the machine runs one AstrBot at a time). NoPython when a venv
    must be created and no Python 3.12 is found (before anything is started)."""
    pending = [v for v in versions if not venvs.venv_ready(home / f"venv-{v}", v)]
    chosen = venvs.find_python312(python) if pending or python else None
    if chosen:
        say(f"Python for new venvs: {chosen}")
    outcomes = []
    for version in versions:
        outcomes.append(run_release(
            version, home, lambda: chosen or venvs.find_python312(python), keep, use_baseline))
    return outcomes


def print_summary(outcomes: list[Outcome]) -> int:
    print("\nreal AstrBot: one line per release", flush=True)
    for o in outcomes:
        print("  " + o.line())
    failed = [o.version for o in outcomes if not o.ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (and exit status 2), not the whole usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="real_astrbot", description=__doc__.split("\n\n")[0])
    ap.add_argument("versions", nargs="*", metavar="VERSION",
                    help=f"AstrBot releases from PyPI (default {DEFAULT_VERSIONS[0]})")
    ap.add_argument("--python", help="Python >= 3.12 to create missing venvs with (default: "
                    "pyenv's 3.12, else python3.12 on PATH)")
    ap.add_argument("--keep", action="store_true", help="leave AstrBot and the doubles running")
    ap.add_argument("--no-baseline", action="store_true", help="run ungated")
    return ap


def check_versions(ap: argparse.ArgumentParser, versions: list[str]) -> list[str]:
    for v in versions:
        if not VERSION.fullmatch(v):
            ap.error(f"{v!r} is not a release number (e.g. 4.26.2)")
    return versions or list(DEFAULT_VERSIONS)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    versions = check_versions(ap, args.versions)
    handle_signals()
    try:
        outcomes = run_releases(versions, args.python, args.keep, not args.no_baseline)
    except venvs.NoPython as e:
        print(f"real_astrbot: {e}", file=sys.stderr)
        return 2
    except (Stopped, KeyboardInterrupt) as e:
        print(f"real_astrbot: stopped ({e or 'Ctrl-C'}); every process it started is stopped",
              file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 143
    return print_summary(outcomes)


if __name__ == "__main__":
    sys.exit(main())
