"""The pytest plugin: requirement markers, target fixtures, verdicts and the report.

Inert unless a target is given (`--astrbot-base-url`, `--astrbot-config`, or `--astrbot-env`
to take everything from ASTRBOT_CONFORMANCE_* variables); `astrbot-conformance run` does that.
Before collecting any check it runs the preflight (preflight.py); a usage error or a failed
preflight ends the run in one line with the CLI's exit status (outcomes.EXIT_*), judging nothing.

Checks are ordinary test functions marked with the requirements they decide:

    @pytest.mark.requirement("LIVE-TURN-003")
    def test_user_msg_echoes_the_text(text_turn):
        assert ...

An `assert` that fails is the target's fault (FAIL, or NON-STRICT for SHOULD/MAY); raise
`Unimplemented` for an absent feature; a network failure is judged by the wire rule
(outcomes.py: the target's, FAIL); any other exception is the suite's (ERROR).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import traceback
import uuid
from pathlib import Path

import pytest

from . import allure_results, parallel, preflight, report, secrets_sweep, sweeps, target_info
from .baseline import Baseline
from .bootstrap import Credentials, cleanup
from .catalogue import Catalogue, CatalogueError, load
from .clients.transcript import Transcript
from .console import MODES, Console
from .outcomes import (
    ERROR,
    EXIT_NOT_JUDGED,
    EXIT_USAGE,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    NotConfigured,
    PreflightError,
    SuiteError,
    TargetBroke,
    Unimplemented,
    exit_status,
    headline,
    wire_failure,
)
from .redact import Redactor
from .target import TargetSettings

MARKER = "requirement"
PART_MARKER = "part_of"  # a check run in parts: report.combine_parts judges them as one
SESSION_PLUGIN = "astrbot-conformance-session"
OPTIONS = ("base_url", "api_key", "jwt", "username", "password", "config", "timeout", "name",
           "slow_text", "allow_writes", "sandboxed", "setup_admin", "operations")
DEFAULT_SEED = 20261122


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("astrbot-conformance", "AstrBot conformance target")
    for opt in OPTIONS:
        group.addoption(f"--astrbot-{opt.replace('_', '-')}", dest=f"astrbot_{opt}",
                        default=None, help=f"target {opt.replace('_', ' ')}")
    group.addoption("--astrbot-fuzz-base-url", dest="astrbot_fuzz_base_url", default=None,
                    help="a second, disposable copy of the target for the files that fuzz "
                    "(scenarios/conftest.py LAST): bootstrapped as the target is, with the "
                    "target's settings; `run --simulator --workers N` starts one")
    group.addoption("--astrbot-env", action="store_true", default=False,
                    help="take the target from ASTRBOT_CONFORMANCE_* environment variables")
    group.addoption("--astrbot-profile", dest="astrbot_profile", default="all",
                    help="comma-separated profiles to run, or 'all' (default)")
    group.addoption("--astrbot-report-dir", dest="astrbot_report_dir", default=None,
                    help="where to write results.json, junit.xml and summary.md")
    group.addoption("--astrbot-run-id", dest="astrbot_run_id", default=None)
    group.addoption("--astrbot-baseline", dest="astrbot_baseline", default=None,
                    help="YAML file of the target's known failures: gate on changes only")
    group.addoption("--astrbot-depth", dest="astrbot_depth", default="quick",
                    choices=("quick", "full"),
                    help="quick (default) or full: how many generated cases to run")
    group.addoption("--astrbot-seed", dest="astrbot_seed", type=int, default=DEFAULT_SEED,
                    help="seed of every generated case (recorded in the report for replay)")
    group.addoption("--astrbot-timing-profile", dest="astrbot_timing_profile", default=None,
                    help="the timing profile of a simulator the run started (recorded in the "
                    "report's run.target.timing_profile; none for other targets)")
    group.addoption("--astrbot-output", dest="astrbot_output", default="pytest", choices=MODES,
                    help="pytest (its own output, then the verdict table), progress (one line "
                    "per phase, then the table) or quiet (the table only): conformance/console.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(*ids): the requirement IDs this check decides")
    config.addinivalue_line("markers", f"{PART_MARKER}(name): this check is one part of the "
                            "check `name`, judged with its other parts (report.combine_parts)")
    opt = config.option
    if getattr(opt, "astrbot_base_url", None) or getattr(opt, "astrbot_config", None) \
            or getattr(opt, "astrbot_env", False):
        run = ConformanceRun(config)
        config.pluginmanager.register(run, SESSION_PLUGIN)
        parallel.register(config, run)  # --workers: the controller's or a worker's hooks


def _run(request: pytest.FixtureRequest) -> ConformanceRun:
    run = request.config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if run is None:
        raise SuiteError("no conformance target: pass --astrbot-base-url or --astrbot-config")
    return run


@pytest.fixture(scope="session")
def target(request) -> TargetSettings:
    """The target's settings (base URL, timeout)."""
    run = _run(request)
    if run.settings_error is not None:
        raise run.settings_error
    return run.settings


@pytest.fixture(scope="session")
def creds(request) -> Credentials:
    """Credentials bootstrapped through the target's HTTP API (once per run)."""
    return _run(request).credentials_or_raise()


@pytest.fixture(scope="session")
def fuzz_target(request) -> TargetSettings:
    """The target the files that fuzz write to (conftest.LAST, each overrides `target` with
    it): the isolated copy (--astrbot-fuzz-base-url) when the run has one, else the target."""
    run = _run(request)
    if run.settings_error is not None:
        raise run.settings_error
    return run.fuzz_settings or run.settings


@pytest.fixture(scope="session")
def fuzz_creds(request) -> Credentials:
    """The credentials of `fuzz_target` (bootstrapped on it, once per run)."""
    run = _run(request)
    creds = run.credentials_or_raise()
    if run.fuzz_settings is None:
        return creds
    if run.fuzz_credentials is None:  # a suite bug: never fall back to the target's own keys
        raise SuiteError(f"the fuzz target {run.fuzz_settings.base_url} was not bootstrapped")
    return run.fuzz_credentials


@pytest.fixture(scope="session")
def depth(request) -> str:
    """"quick" or "full": generated checks scale their number of cases with it."""
    return request.config.option.astrbot_depth


@pytest.fixture(scope="session")
def seed(request) -> int:
    """The seed of the run's generated cases (schemathesis, Hypothesis), kept in the report."""
    return request.config.option.astrbot_seed


@pytest.fixture(scope="session")
def operation_ledger(request) -> dict:
    """Per-operation verdicts, {"<document> <METHOD> <path>": {...}}, for results.json."""
    return _run(request).operations


@pytest.fixture(scope="session")
def fuzz_progress(request):
    """`progress(document, phase, done, total)`: schemathesis' runner reports operations done."""
    return _run(request).console.fuzz_progress


@pytest.fixture
def evidence() -> list[Transcript]:
    """Transcripts a check collects; attached to its result as evidence."""
    return []


def requirement_ids(item: pytest.Item) -> list[str]:
    return [rid for mark in item.iter_markers(MARKER) for rid in mark.args]


def part_of(item: pytest.Item) -> str:
    """The whole check this one is a part of (`@pytest.mark.part_of(name)`), or ""."""
    mark = item.get_closest_marker(PART_MARKER)
    return str(mark.args[0]) if mark and mark.args else ""


class ConformanceRun:
    def __init__(self, config: pytest.Config):
        opt = config.option
        self.config = config
        self.redactor = Redactor()
        self.catalogue: Catalogue = load()
        # a usage error (bad settings, unknown profile, bad baseline) or a failed preflight
        # stops the run before any check: exit status 2 or 3, one line, no verdict
        self.usage_error: str | None = None
        self.preflight_error: PreflightError | None = None
        self.exit_status: int | None = None
        self.profiles = self._profiles(opt.astrbot_profile)
        self.settings_error: SuiteError | None = None
        try:
            self.settings = TargetSettings.resolve(
                {k: getattr(opt, f"astrbot_{k}") for k in OPTIONS})
            self.redactor.add(*self.settings.secrets())
        except SuiteError as exc:
            self.settings, self.settings_error = None, exc
            self.usage_error = self.usage_error or str(exc)
        self.run_id = opt.astrbot_run_id or (
            time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6])
        self.report_dir = Path(opt.astrbot_report_dir or Path("reports") / self.run_id)
        self.started = time.time()
        self.started_iso = report.now_iso()
        self.results = {r.id: report.RequirementResult(r)
                        for r in self.catalogue.in_profiles(self.profiles)}
        self.baseline = None
        if opt.astrbot_baseline:
            try:
                self.baseline = Baseline.load(opt.astrbot_baseline,
                                              set(self.catalogue.requirements))
            except SuiteError as exc:
                self.usage_error = self.usage_error or str(exc)
        self.credentials: Credentials | SuiteError | None = None
        # the isolated copy of the target the fuzzing files use (fixture fuzz_target), its
        # settings those of the target but for the URL; bootstrapped with the target
        fuzz_url = getattr(opt, "astrbot_fuzz_base_url", None)
        self.fuzz_settings = dataclasses.replace(self.settings, base_url=fuzz_url.rstrip("/")) \
            if fuzz_url and self.settings is not None else None
        self.fuzz_credentials: Credentials | None = None
        self.transcripts: list[Transcript] = []
        self.load_errors: list[str] = []
        self.summary: dict | None = None
        self.paths: dict = {}
        self.operations: dict[str, dict] = {}
        self.console = Console(config, opt.astrbot_output)
        self.setup_s: dict[str, float] = {}  # nodeid -> seconds its fixtures took

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:
        self.console.mute_pytest()  # progress and quiet modes: the run prints its own lines

    def pytest_internalerror(self, excrepr) -> None:
        if self.console.muted:
            self.console.internal_error(str(excrepr))

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        if self.console.muted:
            self.console.line("astrbot-conformance: interrupted; the report holds what was judged")

    def pytest_unconfigure(self, config) -> None:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if self.summary and not self.console.muted and tr is not None:
            # pytest's own summary ("1 failed") came after the table: the verdict ends the run
            tr.write_line(f"astrbot-conformance: {headline(self.summary)}")
        self.console.close()

    def _profiles(self, spec: str) -> set[str] | None:
        if spec in (None, "", "all"):
            return None
        chosen = {p.strip() for p in spec.split(",") if p.strip()}
        unknown = chosen - set(self.catalogue.profiles)
        if unknown:
            self.usage_error = (f"unknown profile(s) {', '.join(sorted(unknown))}; known: "
                                f"{', '.join(sorted(self.catalogue.profiles))}, or all")
            return None
        return chosen

    # preflight ------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session):
        """Preflight before any check is even collected (preflight.py): a run that cannot
        judge the target collects nothing and ends with one line."""
        if self.config.option.collectonly or parallel.is_worker(self.config):
            return None  # listing the checks needs no target; a worker has the controller's
        if self.usage_error is None and self.credentials is None and self.preflight_error is None:
            try:
                self.credentials = self._preflight()
            except PreflightError as exc:
                self.preflight_error = exc
        return True if self.usage_error or self.preflight_error else None

    def _preflight(self) -> Credentials:
        """The target's preflight, and the fuzz target's (when the run has one): a run judges
        nothing unless both can be judged."""
        report_dir = self.report_dir.resolve()
        creds = preflight.run(self.settings, self.redactor, self.profiles,
                              credentials_file=report_dir.parent / f"{report_dir.name}-admin.toml",
                              announce=self._announce)
        if self.fuzz_settings is not None:
            try:
                self.fuzz_credentials = preflight.run(
                    self.fuzz_settings, self.redactor, self.profiles,
                    credentials_file=report_dir.parent / f"{report_dir.name}-fuzz-admin.toml",
                    announce=self._announce)
            except PreflightError as exc:
                error = PreflightError(f"the fuzz target {self.fuzz_settings.base_url}: {exc}")
                error.evidence = getattr(exc, "evidence", None)
                cleanup(creds)  # the first target's keys: the run ends here
                raise error from exc
        return creds

    def all_credentials(self) -> list[Credentials]:
        """The credentials of every target the run bootstrapped (the cleanup, the sweep)."""
        return [c for c in (self.credentials, self.fuzz_credentials)
                if isinstance(c, Credentials)]

    def delete_keys(self) -> None:
        """The keys the run created, on every target it bootstrapped: none stays behind."""
        for creds in self.all_credentials():
            cleanup(creds)

    def _announce(self, line: str) -> None:
        """A line for the user now (the generated admin password: shown once, never logged)."""
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.console.muted:
            self.console.line(line)
        elif tr is not None:
            tr.write_line(line)
        else:
            print(line, file=sys.stderr)

    # collection -----------------------------------------------------------------------------
    def pytest_collection_modifyitems(self, config, items: list[pytest.Item]) -> None:
        problems, keep, dropped = [], [], []
        for item in items:
            ids = requirement_ids(item)
            if not ids:
                problems.append(f"{item.nodeid}: no @pytest.mark.requirement")
            unknown = [i for i in ids if i not in self.catalogue.requirements]
            if unknown:
                problems.append(f"{item.nodeid}: unknown requirement(s) {unknown}")
            (keep if any(i in self.results for i in ids) else dropped).append(item)
        if problems:
            raise pytest.UsageError("conformance checks must name catalogued requirements:\n  "
                                    + "\n  ".join(problems))
        for result in self.results.values():
            result.skip_reason = "no check selected in this run"
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        if allure_results.enabled(config):
            for item in keep:
                allure_results.label(item, [self.results[i].requirement
                                            for i in requirement_ids(item) if i in self.results])

    def pytest_collection_finish(self, session) -> None:
        self.console.collected(len(session.items), len(self.results),
                               sorted(self.profiles or self.catalogue.profiles),
                               self.settings.selection.describe() if self.settings else "")

    def pytest_runtest_logstart(self, nodeid, location) -> None:
        judged = sum(1 for r in self.results.values() if r.checks)
        self.console.check_starting(nodeid, judged, len(self.results))

    def pytest_runtest_logfinish(self, nodeid, location) -> None:
        judged = sum(1 for r in self.results.values() if r.checks)
        verdicts = [c.verdict for r in self.results.values() for c in r.checks
                    if c.nodeid == nodeid]
        self.console.check_done(nodeid, verdicts, judged, len(self.results))

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.load_errors.append(f"{report.nodeid}: {report.longreprtext.splitlines()[-1]}")

    # fixtures -------------------------------------------------------------------------------
    def credentials_or_raise(self) -> Credentials:
        if self.settings_error is not None:
            raise self.settings_error
        if self.credentials is None:  # preflight did not run (no collection hook)
            try:
                self.credentials = self._preflight()
            except SuiteError as exc:
                self.credentials = exc
        if isinstance(self.credentials, SuiteError):
            raise SuiteError(f"preflight failed: {self.credentials}")
        return self.credentials

    # verdicts -------------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        rep = outcome.get_result()
        if rep.when == "setup" and rep.passed:
            self.setup_s[item.nodeid] = rep.duration  # fixture time counts for the check
        if rep.when == "teardown" or (rep.when == "setup" and rep.passed):
            return
        ids = [i for i in requirement_ids(item) if i in self.results]
        transcripts = collect_transcripts(item)
        broke = getattr(call.excinfo, "value", None) if call.excinfo else None
        if isinstance(broke, TargetBroke) and broke.transcript not in (None, *transcripts):
            transcripts.append(broke.transcript)  # the wire rule's evidence (outcomes.py)
        self.transcripts.extend(t for t in transcripts if t not in self.transcripts)
        if call.excinfo is not None and isinstance(call.excinfo.value,
                                                   (Unimplemented, NotConfigured)):
            # shown by pytest as a skip: the target lacks the feature, or the run lacks a
            # credential the check needs; the check did not fail
            label = "UNIMPLEMENTED" if isinstance(call.excinfo.value, Unimplemented) \
                else "SKIPPED"
            rep.outcome = "skipped"
            rep.longrepr = (str(item.path), item.location[1] or 0,
                            f"{label}: {call.excinfo.value}")
        verdicts = []
        for rid in ids:
            requirement = self.results[rid].requirement
            verdict, message = classify(call.excinfo, requirement.strict,
                                        self.settings.timeout if self.settings else 0)
            verdicts.append(verdict)
            self.results[rid].checks.append(report.CheckRecord(
                nodeid=item.nodeid, verdict=verdict, message=message,
                duration_s=rep.duration + self.setup_s.get(item.nodeid, 0.0),
                evidence=[t.as_evidence() for t in transcripts], part_of=part_of(item)))
        if allure_results.enabled(self.config):
            allure_results.record(item, verdicts, [t.as_evidence() for t in transcripts],
                                  self.redactor)

    def sweep_frame_logs(self) -> None:
        sweeps.frame_order(self.results, self.transcripts)

    def sweep_frame_schemas(self) -> None:
        sweeps.frame_schemas(self.results, self.transcripts)

    def sweep_undocumented_types(self) -> None:
        sweeps.undocumented_types(self.results, self.transcripts)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        if parallel.is_worker(self.config):
            return  # parallel.Worker hands its records to the controller, which reports
        parallel.merge(self)  # the workers' records, when the run had any
        self.console.finish_checks()
        if self.usage_error is not None or exitstatus == pytest.ExitCode.USAGE_ERROR:
            self.exit_status = EXIT_USAGE  # nothing was judged: no report
            if self.usage_error is not None:
                session.exitstatus = EXIT_USAGE
            self.delete_keys()  # a usage error after the preflight (a bad -k expression)
            return
        # while the run's keys still exist
        version = target_info.detect_version(self.settings, self.credentials)
        served = target_info.fetch_served(self.settings, self.credentials)
        self.delete_keys()
        if self.preflight_error is not None:
            reason = self.redactor.scrub(f"not judged: preflight failed: {self.preflight_error}")
            for result in self.results.values():
                result.checks.append(report.CheckRecord("<preflight>", ERROR, reason))
        self.sweep_frame_logs()
        self.sweep_frame_schemas()
        self.sweep_undocumented_types()
        secrets_sweep.sweep(self.results, self.transcripts, *self.all_credentials())
        if self.load_errors:  # checks that could not even be loaded decide nothing
            reason = "the suite could not load its checks: " + "; ".join(self.load_errors)
            for result in self.results.values():
                if not result.checks:
                    result.checks.append(report.CheckRecord("<collection>", ERROR, reason))
        run = {
            "id": self.run_id,
            "started_at": self.started_iso,
            "duration_s": round(time.time() - self.started, 3),
            "target": {"name": self.settings.name if self.settings else "?",
                       "base_url": self.settings.base_url if self.settings else "?",
                       "version": version,
                       "timing_profile": self.config.option.astrbot_timing_profile},
            "profiles": sorted(self.profiles or self.catalogue.profiles),
            "depth": self.config.option.astrbot_depth,
            "seed": self.config.option.astrbot_seed,
            # --operations: what the operation-driven checks walked (null: every operation)
            "operations_filter": self.settings.selection.as_run() if self.settings else None,
            "bootstrap": (self.credentials.log.as_evidence()
                          if isinstance(self.credentials, Credentials)
                          else getattr(self.preflight_error, "evidence", None)),
            # the fuzzing files ran on a throw-away copy of the target, not on run.target
            "fuzz_isolated": self.fuzz_settings is not None,
        }
        baseline = None if self.preflight_error else self.baseline
        doc = report.build(list(self.results.values()), run, self.redactor, baseline,
                           operations=[self.operations[k] for k in sorted(self.operations)],
                           served=served)
        if self.preflight_error is not None:
            doc["summary"]["preflight"] = self.redactor.scrub(str(self.preflight_error))
        self.summary = doc["summary"]
        self.paths = report.write(doc, self.report_dir)
        if allure_results.enabled(self.config):
            allure_results.finish(self.config.option.allure_report_dir, doc["run"],
                                  self.redactor, doc["requirements"])
            self.paths["allure"] = Path(self.config.option.allure_report_dir)
        # the same exit status as `astrbot-conformance run` (outcomes.EXIT_*)
        self.exit_status = EXIT_NOT_JUDGED if exitstatus == pytest.ExitCode.INTERNAL_ERROR \
            else exit_status(self.summary)
        session.exitstatus = self.exit_status

    def pytest_terminal_summary(self, terminalreporter, config) -> None:
        tr = terminalreporter
        write = self.console.line if self.console.muted else tr.write_line
        if self.usage_error is not None:
            write(f"astrbot-conformance: {self.usage_error}")
            return
        if not self.summary:
            return
        tr.section("AstrBot conformance")
        if self.preflight_error is not None and config.get_verbosity() >= 2:
            tr.write("".join(traceback.format_exception(self.preflight_error)))
        if self.preflight_error is not None:  # one line says it all, no per-requirement flood
            write(headline(self.summary))
            return
        scores = [report.score_line(p, levels)
                  for p, levels in self.summary.get("scores", {}).items()]
        self.console.table(self.results.values(), self.redactor, headline(self.summary),
                           self.summary.get("baseline"), self.paths, scores, write=write)


def classify(excinfo, strict: bool, timeout: float = 0) -> tuple[str, str]:
    if excinfo is None:
        return PASS, ""
    exc = excinfo.value
    text = excinfo.exconly()[:3000]
    broke = wire_failure(exc, "the check's exchange", timeout) if isinstance(exc, Exception) \
        and not isinstance(exc, SuiteError | AssertionError | Unimplemented) else None
    if isinstance(exc, TargetBroke) or broke is not None:  # the wire rule (outcomes.py)
        return (FAIL if strict else NON_STRICT), str(broke or exc)[:3000]
    if isinstance(exc, Unimplemented):
        return UNIMPLEMENTED, str(exc)
    if isinstance(exc, pytest.skip.Exception):
        return SKIPPED, str(exc.msg if hasattr(exc, "msg") else exc)
    if isinstance(exc, NotConfigured):
        return SKIPPED, f"not configured: {exc}"
    if isinstance(exc, AssertionError):
        return (FAIL if strict else NON_STRICT), text
    return ERROR, text


def collect_transcripts(item: pytest.Item) -> list[Transcript]:
    """The wire logs a check used: its fixtures' transcripts and its `evidence` list."""
    found: list[Transcript] = []
    for value in getattr(item, "funcargs", {}).values():
        candidates = value if isinstance(value, list) else [value]
        for candidate in candidates:
            transcript = candidate if isinstance(candidate, Transcript) \
                else getattr(candidate, "transcript", None)
            if isinstance(transcript, Transcript) and transcript not in found:
                found.append(transcript)
    return found


__all__ = ["CatalogueError", "ConformanceRun"]
