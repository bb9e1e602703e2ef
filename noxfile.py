"""nox sessions: `./noxw -s NAME` (or `nox -s NAME` where nox is installed).

tests         the project's own tests (simulator, suite, contract documents)
conformance   the suite against a fresh simulator; report under reports/<run-id>/
lint          ruff
bench         benchmarks against fresh simulators (print figures): REST at 16 clients
              (bench/rest_bench.py), then the Live API at 500 sessions (bench/live_bench.py)
real_astrbot  the suite against real AstrBot 4.26.2 from PyPI (tools/real_astrbot/) on fresh
              data, writes allowed, gated by baselines/astrbot-4.26.2.yaml; `-- --keep` leaves
              AstrBot running
mutants       the fault catalogue (tests/faults/): each fault started as a target, the suite run
              against it, the kill matrix printed and written to reports/mutants/ (fails on a
              survivor, a wrong blame, or a MUST without a fault); `-- NAME...` for some,
              `-- --subset ci` for the CI subset, `-- --jobs N`
report        the Allure HTML of a run's allure-results (default reports/latest; or
              `-- reports/<run-id>`) with Allure 3, the npm `allure` package (Node, no Java)
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "conformance"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", "tests", *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("astrbot-conformance", "run", "--simulator", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("python", "bench/rest_bench.py")
    session.run("python", "bench/live_bench.py", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.faults.mutants", *session.posargs)


@nox.session(name="real_astrbot")
def real_astrbot(session: nox.Session) -> None:
    session.install("-e", ".")
    keep = "--keep" in session.posargs
    # one session at a time: the deployment (port 6185, .real-astrbot/) is a single resource,
    # and a second session would wipe it under the first one's checks
    Path(".real-astrbot").mkdir(exist_ok=True)
    lock = open(".real-astrbot/session.lock", "w")  # noqa: SIM115 (held until the session ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        session.error("another real_astrbot session is running (.real-astrbot/session.lock)")
    # a fresh deployment every time (the venv is kept): the run writes, so the data of an
    # earlier run (or of a --keep) must not decide this one
    session.run("python", "tools/real_astrbot/down.py", "--wipe", external=True)
    session.run("python", "tools/real_astrbot/up.py", external=True)
    try:
        # AstrBot's known deviations are in its baseline: the session fails on a new failure,
        # or on a stale entry (a known failure that now passes). The session started this
        # deployment and owns its data, so writes are allowed (fuzzed writes, IM messages).
        session.run("astrbot-conformance", "run", "--config", ".real-astrbot/target.toml",
                    "--allow-writes", "--baseline", "baselines/astrbot-4.26.2.yaml",
                    "--report-dir", "reports/real-astrbot-4.26.2", "-q")
    finally:
        if not keep:
            session.run("python", "tools/real_astrbot/down.py", external=True)


ALLURE_HOWTO = ("Allure 3 is not installed. It is the npm package `allure` (Node 20+, no Java): "
                "`npm install -g allure` (or `npm install allure` in this directory), then run "
                "./noxw -s report again")


def _allure3() -> list[str] | None:
    """The Allure 3 command: `allure` on PATH if it is version 3, else ./node_modules/.bin."""
    for candidate in (shutil.which("allure"), Path("node_modules/.bin/allure")):
        if candidate and Path(candidate).exists():
            try:
                version = subprocess.run([str(candidate), "--version"], capture_output=True,
                                         text=True, timeout=60).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                continue
            if version.startswith("3."):
                return [str(candidate)]
    return None


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    run_dir = Path(session.posargs[0] if session.posargs else "reports/latest")
    results = run_dir / "allure-results"
    if not results.is_dir():
        session.error(f"no Allure results in {results}: run ./noxw -s conformance first, or "
                      "name a run: ./noxw -s report -- reports/<run-id>")
    allure = _allure3()
    if allure is None:
        session.skip(ALLURE_HOWTO)
    out = run_dir.resolve() / "allure-report"
    session.run(*allure, "generate", str(results.resolve()), "--output", str(out),
                "--report-name", f"AstrBot conformance {run_dir.resolve().name}", external=True)
    session.log(f"Allure report: {out / 'index.html'}")
