"""nox sessions: `./noxw -s NAME` (or `nox -s NAME` where nox is installed).

tests         the project's own tests (simulator, suite, contract documents), on pytest-xdist
              workers (`-- -n 0`: serially)
conformance   the suite against a fresh simulator; report under reports/<run-id>/
lint          ruff, the import contract (import-linter and tests/test_import_contract.py)
bench         benchmarks against fresh simulators (print figures): REST at 16 clients
              (bench/rest_bench.py), the suite serially and on 2 workers (bench/suite_bench.py;
              `-- --suite-full` for full depth too), the Live API at 1,000 sessions
              (bench/live_bench.py), the live engine vs a minimal server's limit
              (bench/live_limit.py)
real_astrbot  the suite against real AstrBot releases from PyPI (tools/real_astrbot/session.py):
              `-- [VERSION...] [--python PY] [--keep] [--no-baseline]` (default 4.26.2); per
              release a cached venv, fresh data, free ports, writes allowed, gated by
              baselines/astrbot-VERSION.yaml when it exists, report in reports/astrbot-VERSION/
matrix        `-- V1 V2 ...`: real_astrbot for each release in turn (or `--from-reports`), then
              one requirements x releases table in reports/matrix/matrix.{md,html}
              (`--out docs/compatibility.md` for the committed copy)
mutants       the fault catalogue (tests/faults/): each fault started as a target, the suite run
              against it, the kill matrix printed and written to reports/mutants/ (fails on a
              survivor, a wrong blame, or a MUST without a fault); `-- NAME...` for some,
              `-- --subset ci` for the CI subset, `-- --jobs N`
load          Locust load against a deployment (tools/load/run.py): `-- [--target URL] [--api-key K]
              [--jwt J | --username U --password P] [--users N] [--spawn-rate R] [--run-time 30s]
              [--workers W] [--mix text=4,voice=2,jwt=1,sse=1,rest=1] [--pace S]`; without
              --target a fresh simulator; summary in reports/load/
report        the Allure HTML of a run's allure-results (default reports/latest; or
              `-- reports/<run-id>`) with Allure 3, the npm `allure` package (Node, no Java)
"""

from __future__ import annotations

import os
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
    # in parallel (pytest-xdist), a test module per worker at a time: its module fixtures (a
    # simulator, a suite run) are made once; `-- -n 0` for a serial run (the last -n wins).
    # At least 4 workers even on 2 cores: many tests wait on targets that answer late or
    # never (issue 16: four such modules took 431 s on -n 4 against 497 s on -n 2, the same
    # CPU seconds)
    workers = max(4, os.cpu_count() or 1)
    session.run("pytest", "-n", str(workers), "--dist", "loadscope", "tests", *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("astrbot-conformance", "run", "--simulator", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6", "import-linter>=2.1", "pytest")
    session.run("ruff", "check", ".")
    # the import contract (pyproject [tool.importlinter]): simulator and conformance
    # independent, simulator/http's handlers -> domain -> kernel, no handler importing
    # another, no cycles; and the same rules by ast, over the source tree
    session.run("lint-imports")
    session.run("python", "-m", "pytest", "tests/test_import_contract.py", "-q",
                "-p", "no:cacheprovider", "--noconftest",
                "-W", "ignore::pytest.PytestConfigWarning")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("python", "bench/rest_bench.py")
    # `-- --suite-full`: the suite benchmark's full-depth runs too (the rest goes to live_bench)
    args = [a for a in session.posargs if a != "--suite-full"]
    session.run("python", "bench/suite_bench.py",
                *(["--full"] if "--suite-full" in session.posargs else []))
    session.run("python", "bench/live_bench.py", *args)
    session.run("python", "bench/nonreading_bench.py")
    # the simulator's turns/s as a ratio of a minimal server sending the same frames, 1,000
    # sessions closed loop and paced at a turn per session per second
    session.run("python", "bench/live_limit.py")


@nox.session
def mutants(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.faults.mutants", *session.posargs)


@nox.session
def load(session: nox.Session) -> None:
    session.install("-e", ".[load]")
    # run.py stops the simulator, the master and the workers it started, by PID, on its own
    session.run("python", "tools/load/run.py", *session.posargs,
                interrupt_timeout=60, terminate_timeout=30)


@nox.session(name="real_astrbot")
def real_astrbot(session: nox.Session) -> None:
    # tools/real_astrbot/session.py does it all (venv, fresh data, free ports, the doubles,
    # AstrBot, bootstrap, the suite gated by its baseline, every process stopped by PID); it
    # needs time to stop them after a Ctrl-C, so nox must not kill it 0.3 s after the signal
    session.install("-e", ".")
    session.run("python", "tools/real_astrbot/session.py", *session.posargs,
                interrupt_timeout=90, terminate_timeout=60)


@nox.session
def matrix(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("python", "tools/real_astrbot/matrix.py", *session.posargs,
                interrupt_timeout=90, terminate_timeout=60)


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
