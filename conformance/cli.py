"""`astrbot-conformance`: run the conformance suite against a target and write its report.

    astrbot-conformance run --simulator                       # a fresh local simulator
    astrbot-conformance run --base-url http://127.0.0.1:6185 --username U --password P
    astrbot-conformance run --config target.toml --profile live-api
    astrbot-conformance requirements                          # list the catalogue
    astrbot-conformance baseline reports/<run>/results.json   # known failures, as a baseline

Exit status: 0 when every selected requirement is PASS, NON-STRICT or SKIPPED (and at least
one was judged); 1 when any is FAIL, UNIMPLEMENTED or ERROR; with --baseline, 0 when the run
matches the baseline and 1 on a new failure or a stale entry; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import pytest

from . import launcher
from .baseline import from_results
from .catalogue import load
from .outcomes import SuiteError

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="astrbot-conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite against a target")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="the target, e.g. http://127.0.0.1:6185")
    where.add_argument("--simulator", action="store_true",
                       help="start a fresh simulator on a free port and test it")
    run.add_argument("--config", help="TOML file with a [target] table")
    run.add_argument("--api-key")
    run.add_argument("--jwt", help="a dashboard JWT")
    run.add_argument("--username")
    run.add_argument("--password")
    run.add_argument("--name", help="target name shown in the report")
    run.add_argument("--timeout", type=float, help="seconds for every single wait (default 10)")
    run.add_argument("--slow-text", help="a user text the target answers slowly (for races)")
    run.add_argument("--profile", default="all", help="comma-separated profiles, or all")
    run.add_argument("--depth", default="quick", choices=("quick", "full"),
                     help="quick (default) or full: how many generated cases to run")
    run.add_argument("--report-dir", help="default: reports/<run-id>")
    run.add_argument("--baseline", help="YAML file of the target's known failures: exit 0 "
                     "when the run matches it, 1 on a new failure or a stale entry")
    run.add_argument("--seed", type=int, help="seed of the generated cases (default: fixed; "
                     "the report records it, pass it again to replay a run)")
    run.add_argument("--allow-writes", action="store_true",
                     help="fuzz write operations too (a disposable deployment only; implied "
                     "by --simulator)")
    run.add_argument("-k", dest="keyword", help="only checks matching this pytest expression")
    run.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("requirements", help="list the requirement catalogue")
    base = sub.add_parser("baseline", help="print a baseline accepting a run's failures")
    base.add_argument("results", help="a results.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "baseline":
        print(from_results(json.loads(Path(args.results).read_text(encoding="utf-8"))), end="")
        return 0
    if args.command == "requirements":
        for req in load().requirements.values():
            print(f"{req.id:<16} {req.level:<6} {req.profile:<16} {req.text}")
        return 0
    if not (args.base_url or args.simulator or args.config):
        print("astrbot-conformance run: give --base-url, --config or --simulator",
              file=sys.stderr)
        return 2
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    report_dir = Path(args.report_dir or Path("reports") / run_id)
    try:
        with launcher.simulator() if args.simulator else nullcontext() as launched:
            base_url = launched.url if launched else args.base_url
            return run_pytest(args, base_url, run_id, report_dir)
    except SuiteError as exc:
        print(f"astrbot-conformance: {exc}", file=sys.stderr)
        return 1


def run_pytest(args, base_url: str | None, run_id: str, report_dir: Path) -> int:
    pytest_args = [str(SCENARIOS), "-c", str(SCENARIOS / "pytest.ini"),
                   "--rootdir", str(SCENARIOS), "-p", "no:cacheprovider",
                   "-W", "ignore::pytest.PytestAssertRewriteWarning",
                   "--astrbot-run-id", run_id, "--astrbot-report-dir", str(report_dir),
                   "--astrbot-profile", args.profile, "--astrbot-depth", args.depth]
    for name in ("base_url", "config", "api_key", "jwt", "username", "password", "name",
                 "timeout", "slow_text"):
        value = base_url if name == "base_url" else getattr(args, name)
        if name == "name" and value is None and args.simulator:
            value = "astrbot-simulator"
        if value is not None:
            pytest_args += [f"--astrbot-{name.replace('_', '-')}", str(value)]
    if args.allow_writes or args.simulator:
        pytest_args += ["--astrbot-allow-writes", "1"]
    if args.simulator:
        pytest_args += ["--astrbot-sandboxed", "1"]
    if args.seed is not None:
        pytest_args += ["--astrbot-seed", str(args.seed)]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.baseline:
        pytest_args += ["--astrbot-baseline", args.baseline]
    pytest_args += ["-q"] if args.quiet else ["-v"]
    collector = _Collector()
    code = pytest.main(pytest_args, plugins=[collector])
    summary = collector.summary()
    if summary is None:
        return int(code) or 1  # pytest stopped before the report (usage error, crash)
    if "baseline" in summary:
        return 0 if summary["baseline"]["passed"] else 1
    return 0 if summary["conformant"] else 1


class _Collector:
    """Reads the run's summary from the conformance plugin once pytest is done."""

    def __init__(self):
        self.config = None

    def pytest_configure(self, config):
        self.config = config

    def summary(self) -> dict | None:
        run = self.config.pluginmanager.get_plugin("astrbot-conformance-session") \
            if self.config else None
        return run.summary if run else None


if __name__ == "__main__":
    sys.exit(main())
