"""`astrbot-conformance`: run the conformance suite against a target and write its report.

    astrbot-conformance run --simulator                       # a fresh local simulator
    astrbot-conformance run --base-url http://127.0.0.1:6185 --username U --password P
    astrbot-conformance run --config target.toml --profile live-api
    astrbot-conformance run --simulator --workers 2             # checks on 2 xdist workers
    astrbot-conformance run --simulator --operations 'GET /api/v1/personas,listPlugins'
    astrbot-conformance requirements                          # list the catalogue
    astrbot-conformance baseline reports/<run>/results.json   # known failures, as a baseline
    astrbot-conformance diff reports/astrbot-4.26.2 reports/astrbot-4.29.3   # what changed

Settings come from the command line, else ASTRBOT_CONFORMANCE_<NAME> environment variables
(BASE_URL, API_KEY, JWT, USERNAME, PASSWORD, NAME, TIMEOUT, CONFIG, SLOW_TEXT, SETUP_ADMIN,
OPERATIONS),
else the [target] table of the --config TOML file.

Before any check, a preflight makes sure the target answers, speaks AstrBot's API, accepts the
credentials and that a given API key holds the scopes the chosen profiles need. A target in
first-run state is set up only with --setup-admin (the generated admin credentials are printed
once and saved, mode 0600, next to the report directory).

Exit status:
  0  conformant: every judged requirement PASS or NON-STRICT (with --baseline: the run matches)
  1  not conformant: a requirement is FAIL or UNIMPLEMENTED (with --baseline: a new failure or
     a stale entry)
  2  usage error: bad option, URL without a scheme, missing --config file, unknown profile,
     bad timeout, an --operations pattern that matches no operation; nothing is sent to the
     target
  3  preflight failed: the target does not answer, is not an AstrBot API, refused a
     credential, a key lacks a scope, or it is in first-run state without --setup-admin;
     nothing is judged (results.json records every requirement as ERROR with the reason)
  4  not judged: no FAIL, but requirements could not be judged (ERROR: the suite or the
     network broke), or none was judged at all
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import pytest

from . import __version__, diff, launcher
from .baseline import from_results
from .catalogue import CatalogueError, load
from .outcomes import EXIT_NOT_JUDGED, EXIT_USAGE, ConfigurationError, SuiteError
from .target import ENV_PREFIX, TargetSettings

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
# the pytest plugins a run loads (autoloading the installed ones is off for the run): the
# suite's own, Allure's (allure-results/), pytest-xdist's (--workers), pytest-asyncio's (the
# scenarios' pytest.ini sets its loop scope, for a user running them with it)
RUN_PLUGINS = ("conformance.plugin", "allure_pytest.plugin", "xdist.plugin",
               "pytest_asyncio.plugin")
# run options that are target settings (conformance/target.py), passed on to the plugin
SETTINGS = ("base_url", "config", "api_key", "jwt", "username", "password", "name", "timeout",
            "slow_text", "operations")


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (and exit status 2), not the whole usage text."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="astrbot-conformance", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"astrbot-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite against a target", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
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
    run.add_argument("--timeout", help="seconds for every single wait (default 10)")
    run.add_argument("--slow-text", help="a user text the target answers slowly (for races)")
    run.add_argument("--setup-admin", action="store_true",
                     help="a target in first-run state may be set up: the suite creates the "
                     "admin (--username/--password, else generated credentials, printed once "
                     "and saved with mode 0600 next to the report directory)")
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
    run.add_argument("--workers", type=_workers, default=1, metavar="N|auto",
                     help="run the checks on N pytest-xdist worker processes, or two per CPU "
                     "core with auto (default 1: serial); the preflight and the report stay "
                     "once per run (conformance/parallel.py)")
    run.add_argument("--operations", metavar="PATTERNS",
                     help="only these operations for the checks that walk the OpenAPI "
                     "documents (fuzzing, stream reads, boundary cases, lifecycles, scope "
                     "matrix): comma-separated fnmatch globs of 'METHOD /path' ('*' for any "
                     "method) or operationIds, e.g. 'GET /api/v1/personas,POST "
                     "/api/v1/personas*,listPlugins'; a pattern matching nothing is a usage "
                     "error")
    run.add_argument("-k", dest="keyword", help="only checks matching this pytest expression")
    run.add_argument("-q", "--quiet", action="store_true")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="more output, with the traceback of a preflight failure")
    sub.add_parser("requirements", help="list the requirement catalogue")
    base = sub.add_parser("baseline", help="print a baseline accepting a run's failures")
    base.add_argument("results", help="a results.json")
    compare = sub.add_parser("diff", help="what changed between two runs",
                             description=diff.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("a", metavar="A", help="the earlier run: a results.json or its folder")
    compare.add_argument("b", metavar="B", help="the later run: a results.json or its folder")
    compare.add_argument("--format", choices=("text", "markdown"), default="text",
                         help="text (terminal, default) or markdown (a PR comment)")
    compare.add_argument("--fail-on", choices=diff.FAIL_ON, default="verdict",
                         help="exit 1 when a requirement's verdict changed (verdict, default), "
                         "the served surface changed (surface), anything changed (any), or "
                         "never (none)")
    return parser


def worker_count(workers: int | str) -> int:
    """`auto`: two workers per core. Most checks wait (live turns, quiet periods) while the
    fuzzing needs the CPU: measured on 2 cores (2026-12-02, a quick run of all profiles,
    alternated), 4 workers 63 s against 80-100 s for 2."""
    return 2 * (os.cpu_count() or 1) if workers == "auto" else int(workers)


def _workers(text: str) -> int | str:
    """`--workers`: a number >= 1, or auto."""
    if text == "auto":
        return text
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or auto, got {text!r}")
    return count


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "baseline":
            return print_baseline(args.results)
        if args.command == "diff":
            return diff.main(args.a, args.b, args.format, args.fail_on)
        if args.command == "requirements":
            for req in load().requirements.values():
                print(f"{req.id:<16} {req.level:<6} {req.profile:<16} {req.text}")
            return 0
        settings = check_usage(args)
    except ConfigurationError as exc:
        print(f"astrbot-conformance {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CatalogueError as exc:  # a contributor's mistake in specs/requirements.yaml
        print(f"astrbot-conformance {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    report_dir = Path(args.report_dir or Path("reports") / run_id)
    try:
        with ExitStack() as stack:  # every simulator started is stopped by its PID, whatever
            # with workers, a second throw-away simulator for the files that fuzz
            # (conftest.LAST), so they need not wait behind a barrier for the scenarios
            # (parallel.py); serially they run last anyway, and a given target is the user's
            launched, fuzz = None, None
            if args.simulator:
                launched, *others = stack.enter_context(
                    launcher.simulators(1 if args.workers == 1 else 2))
                fuzz = others[0] if others else None
            base_url = launched.url if launched else settings.base_url
            return run_pytest(args, base_url, run_id, report_dir,
                              fuzz_url=fuzz.url if fuzz else None)
    except SuiteError as exc:  # the simulator we start did not come up
        print(f"astrbot-conformance: {exc}", file=sys.stderr)
        return EXIT_NOT_JUDGED


def check_usage(args) -> TargetSettings:
    """Usage errors, found before anything is sent: the settings (command line, environment,
    config file), the profiles and the baseline file."""
    given = {name: getattr(args, name) for name in SETTINGS}
    if args.simulator:  # its URL is not known yet; the environment is not used for it
        settings = TargetSettings.resolve({**given, "base_url": "http://127.0.0.1:1"}, env={})
    else:
        settings = TargetSettings.resolve(given)
    profiles = load().profiles
    chosen = {p.strip() for p in args.profile.split(",") if p.strip()}
    unknown = sorted(chosen - set(profiles)) if chosen != {"all"} else []
    if unknown or not chosen:
        raise ConfigurationError(f"unknown profile {', '.join(unknown) or repr(args.profile)}; "
                                 f"known: {', '.join(sorted(profiles))}, or all")
    if args.baseline and not Path(args.baseline).is_file():
        raise ConfigurationError(f"baseline file not found: {args.baseline}")
    if args.keyword:
        _check_keyword(args.keyword)
    if args.report_dir:
        _writable_dir(Path(args.report_dir))
    return settings


def _check_keyword(expression: str) -> None:
    """`-k` as pytest would parse it, before a simulator is started or a check counted."""
    try:  # pytest's own parser (not public API: if it moves, pytest reports the error itself)
        from _pytest.mark.expression import Expression
    except ImportError:
        return
    try:
        Expression.compile(expression)
    except SyntaxError as exc:
        raise ConfigurationError(f"-k {expression!r} is not a pytest expression: "
                                 f"{exc.msg} (at column {exc.offset})") from None


def _writable_dir(path: Path) -> None:
    """The report directory can be made there: a directory (or nothing yet) under a
    writable one."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"--report-dir {path} exists and is not a directory")
    parent = path.resolve()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(f"--report-dir {path}: cannot write under {parent}")


def print_baseline(results: str) -> int:
    try:
        doc = json.loads(Path(results).read_text(encoding="utf-8"))
        text = from_results(doc)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"cannot read {results} as a results.json: {exc}") from exc
    print(text, end="")
    return 0


def run_pytest(args, base_url: str | None, run_id: str, report_dir: Path,
               fuzz_url: str | None = None) -> int:
    pytest_args = [str(SCENARIOS), "-c", str(SCENARIOS / "pytest.ini"),
                   "--rootdir", str(SCENARIOS), "-p", "no:cacheprovider",
                   "-W", "ignore::pytest.PytestAssertRewriteWarning",
                   "--astrbot-run-id", run_id, "--astrbot-report-dir", str(report_dir),
                   "--astrbot-profile", args.profile, "--astrbot-depth", args.depth]
    for name in SETTINGS:
        value = base_url if name == "base_url" else getattr(args, name)
        if name == "name" and value is None and args.simulator:
            value = "astrbot-simulator"
        if value is not None:
            pytest_args += [f"--astrbot-{name.replace('_', '-')}", str(value)]
    if args.allow_writes or args.simulator:
        pytest_args += ["--astrbot-allow-writes", "1"]
    if args.simulator:  # the suite started it: set it up silently, it is thrown away after
        pytest_args += ["--astrbot-sandboxed", "1", "--astrbot-setup-admin", "quiet",
                        "--astrbot-timing-profile", launcher.DEFAULT_TIMING_PROFILE]
    elif args.setup_admin:
        pytest_args += ["--astrbot-setup-admin", "1"]
    if fuzz_url:  # the LAST files' checks go there (plugin.fuzz_target)
        pytest_args += ["--astrbot-fuzz-base-url", fuzz_url]
    if args.seed is not None:
        pytest_args += ["--astrbot-seed", str(args.seed)]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.baseline:
        pytest_args += ["--astrbot-baseline", args.baseline]
    # what the run prints (conformance/console.py): one line per phase, only the table with
    # -q, pytest's own output with -v; pytest's verbosity stays one value so the reasons in the
    # report are the same whatever is printed
    pytest_args += ["-vv"] if args.verbose else ["-v"]
    pytest_args += ["--astrbot-output",
                    "quiet" if args.quiet else "pytest" if args.verbose else "progress",
                    "--alluredir", str(report_dir / "allure-results")]
    if args.workers == 1:
        pytest_args += ["--clean-alluredir"]
    else:  # every worker would clean it at its start, while others write: cleaned here once
        shutil.rmtree(report_dir / "allure-results", ignore_errors=True)
        pytest_args += ["-n", str(worker_count(args.workers))]
    # only the plugins a run uses, not every pytest plugin installed beside the suite (their
    # imports cost ~1.5 s of CPU per run, and per xdist worker: schemathesis', hypothesis',
    # locust's); the workers inherit the environment and these -p options
    pytest_args += [arg for name in RUN_PLUGINS for arg in ("-p", name)]
    collector = _Collector()
    # the plugin reads ASTRBOT_CONFORMANCE_* for what the command line lacks; a simulator the
    # suite starts itself takes nothing from them (a key there would be foreign to it)
    with _environment_without(ENV_PREFIX) if args.simulator else nullcontext(), \
            _environment_with(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"):
        code = pytest.main(pytest_args, plugins=[collector])
    status = collector.exit_status()
    if status is not None:
        return status
    # pytest stopped before the plugin judged anything: its usage error, or a crash
    return EXIT_USAGE if code == pytest.ExitCode.USAGE_ERROR else EXIT_NOT_JUDGED


@contextmanager
def _environment_with(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _environment_without(prefix: str):
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(prefix)}
    try:
        yield
    finally:
        os.environ.update(saved)


class _Collector:
    """Reads the run's exit status from the conformance plugin once pytest is done."""

    def __init__(self):
        self.config = None

    def pytest_configure(self, config):
        self.config = config

    def exit_status(self) -> int | None:
        run = self.config.pluginmanager.get_plugin("astrbot-conformance-session") \
            if self.config else None
        return run.exit_status if run else None


if __name__ == "__main__":
    sys.exit(main())
