"""A run on several pytest-xdist workers (`astrbot-conformance run --workers N|auto`).

The controller (the process `run` starts) does what happens once per run and the workers run
the checks:

- the preflight and bootstrap (JWT, created keys) run once, in the controller, before any worker
  starts (`pytest_sessionstart`); the credentials go to every worker in its `workerinput`
  (`pytest_configure_node`), so no worker logs in or creates keys, and only the controller
  deletes the keys at the end;
- each worker keeps its checks' records, wire logs and per-operation fuzz verdicts as a serial
  run does and hands them back when it ends (`workeroutput`); the controller merges them in the
  order of the collection, so every requirement's verdict is the worst of its checks as in a
  serial run, then runs the end-of-run sweeps over every worker's frames and writes the report,
  junit.xml and the Allure environment once;
- scheduling (`PhasedScheduling`): a scenario file is one unit (its module fixtures are shared
  by its checks, as in a serial run), the spec-driven fuzzing one unit per document (the v1
  document one per part: test_openapi_fuzz.py V1_PARTS, judged as one by
  report.combine_parts); the files
  the scenarios' conftest orders LAST (the fuzzing may write) run only once every other check
  has reported, on any worker;
- unless the fuzzing has a target of its own (`run --simulator --workers N` starts a second
  throw-away simulator, `--astrbot-fuzz-base-url`, bootstrapped in the controller beside the
  first and handed to the workers with it; the LAST files use it through the `fuzz_target` and
  `fuzz_creds` fixtures): what it writes cannot reach a scenario's target, so there is no
  barrier and the LAST units go FIRST in the queue, the CPU-bound fuzzing overlapping the
  scenarios' waits (live turns, quiet periods).
"""

from __future__ import annotations

import pickle
import re
from collections import OrderedDict

import pytest

from . import report
from .bootstrap import Credentials
from .outcomes import ERROR, PreflightError

HANDOFF = "astrbot_handoff"  # workerinput: the controller's preflight outcome and credentials
STATE = "astrbot_state"  # workeroutput: a worker's records, pickled
VERDICTS = "astrbot_verdicts"  # user_properties of a report: (requirement, verdict) pairs
# a LAST check run in parts (test_openapi_fuzz.py V1_PARTS): its first parameter id names the
# part, and each part is a unit of its own
PART = re.compile(r"\[(ops\d+|whole)-")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    return not is_worker(config) and getattr(config.option, "numprocesses", None) not in (None, 0)


def register(config: pytest.Config, run) -> None:
    """Add the controller's or the worker's hooks to a run that xdist distributes."""
    if is_worker(config):
        config.pluginmanager.register(Worker(run), "astrbot-conformance-worker")
    elif is_controller(config):
        config.pluginmanager.register(Controller(run), "astrbot-conformance-controller")


def scheduled_files() -> dict[str, tuple[str, ...]]:
    """The scenarios' conftest file lists the scheduler needs (PhasedScheduling's keywords)."""
    from .scenarios import conftest

    return {"last": conftest.LAST, "per_parameter": conftest.PER_PARAMETER,
            "long": conftest.LONG}


# the controller -------------------------------------------------------------------------------
class Controller:
    def __init__(self, run):
        self.run = run
        self.states: dict[str, dict | None] = {}  # worker id -> its state (None: none came)
        self.collected = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:
        """The preflight, once, before xdist starts the workers (its own sessionstart)."""
        run = self.run
        if run.config.option.collectonly or run.usage_error is not None:
            return
        if run.credentials is None and run.preflight_error is None:
            try:
                run.credentials = run._preflight()
            except PreflightError as exc:
                run.preflight_error = exc

    def pytest_configure_node(self, node) -> None:
        node.workerinput[HANDOFF] = handoff(self.run)

    def pytest_xdist_make_scheduler(self, config, log):
        return PhasedScheduling(config, log, isolated=self.run.fuzz_settings is not None,
                                budgeted=config.option.astrbot_depth == "full",
                                **scheduled_files())

    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if not self.collected:  # every worker collects the same checks: count them once
            self.collected = True
            run = self.run
            run.console.collected(len(ids), len(run.results),
                                  sorted(run.profiles or run.catalogue.profiles),
                                  run.settings.selection.describe() if run.settings else "")

    def pytest_runtest_logreport(self, report) -> None:
        """Provisional records, for the progress lines only: replaced by the workers' own."""
        for rid, verdict in dict(report.user_properties).get(VERDICTS, ()):
            if rid in self.run.results:
                self.run.results[rid].checks.append(_provisional(report.nodeid, verdict))

    def pytest_testnodedown(self, node, error) -> None:
        out = getattr(node, "workeroutput", None) or {}
        self.states[node.gateway.id] = pickle.loads(out[STATE]) if STATE in out else None


def _provisional(nodeid: str, verdict: str) -> report.CheckRecord:
    record = report.CheckRecord(nodeid=nodeid, verdict=verdict)
    record.provisional = True
    return record


def handoff(run) -> dict:
    """What a worker needs of the preflight: plain values (execnet sends no objects); the
    fuzz target's credentials under "fuzz" (None: the run has no fuzz target)."""
    creds = run.credentials
    if run.preflight_error is not None or not isinstance(creds, Credentials):
        return {"ok": False}
    fuzz = run.fuzz_credentials
    return {"ok": True, **_plain(creds),
            "fuzz": _plain(fuzz) if isinstance(fuzz, Credentials) else None}


def _plain(creds: Credentials) -> dict:
    return {"jwt": creds.jwt, "keys": dict(creds.keys), "key_ids": dict(creds.key_ids),
            "setup_status": creds.setup_status,
            "login": list(creds.login) if creds.login else None}


def _credentials(settings, given: dict, redactor) -> Credentials:
    creds = Credentials(settings, jwt=given["jwt"], keys=given["keys"],
                        key_ids=given["key_ids"], setup_status=given["setup_status"],
                        login=tuple(given["login"]) if given["login"] else None,
                        redactor=redactor)
    redactor.add(creds.jwt, *creds.keys.values(), *(creds.login or ())[1:])
    return creds


def merge(run) -> None:
    """The workers' records into the controller's run (ConformanceRun.pytest_sessionfinish
    calls this first; a no-op in a serial run and in a worker)."""
    controller = run.config.pluginmanager.get_plugin("astrbot-conformance-controller")
    if controller is None:
        return
    for result in run.results.values():
        result.checks = [c for c in result.checks if not getattr(c, "provisional", False)]
    checks, transcripts = [], []
    for worker, state in sorted(controller.states.items()):
        if state is None:
            reason = (f"xdist worker {worker} stopped without handing back its results (it "
                      "crashed or was killed): the checks it ran are not judged")
            for result in run.results.values():
                result.checks.append(report.CheckRecord(f"<worker {worker}>", ERROR, reason))
            continue
        if state["usage_error"] and run.usage_error is None:
            run.usage_error = state["usage_error"]
        run.redactor.add(*state["secrets"])
        for error in state["load_errors"]:
            if error not in run.load_errors:
                run.load_errors.append(error)
        for rid, reason in state["skip_reasons"].items():
            if rid in run.results:
                run.results[rid].skip_reason = reason
        checks += [(index, worker, n, rid, record)
                   for n, (index, rid, record) in enumerate(state["checks"])]
        transcripts += [(index, worker, n, t) for n, (index, t) in enumerate(state["transcripts"])]
        for row in state["operations"].values():
            _merge_operation(run.operations, row)
    for *_, rid, record in sorted(checks, key=lambda c: c[:3]):  # the serial run's order
        run.results[rid].checks.append(record)
    run.transcripts.extend(t for *_, t in sorted(transcripts, key=lambda c: c[:3]))


def _merge_operation(ledger: dict, row: dict) -> None:
    """One operation's row of a worker into the run's ledger, combined per requirement as a
    serial run combines them (report.merge_operation)."""
    verdicts = dict(row["requirements"])
    extra = {k: v for k, v in row.items() if k not in (
        "document", "method", "path", "operation_id", "verdict", "requirements", "reason")}
    report.merge_operation(ledger, row["document"], row["method"], row["path"],
                           row["operation_id"], verdicts, row["reason"], **extra)


# a worker -------------------------------------------------------------------------------------
class Worker:
    def __init__(self, run):
        self.run = run
        self.index: dict[str, int] = {}  # nodeid -> its place in the collection
        self.seen: dict[int, int] = {}  # id(transcript) -> the index of the check that made it

    def credentials(self) -> None:
        """The controller's preflight outcome, instead of a preflight of our own."""
        run, given = self.run, self.run.config.workerinput.get(HANDOFF, {"ok": False})
        if run.usage_error is not None:
            return
        if not given["ok"]:  # the controller reports it: this worker judges nothing
            run.preflight_error = PreflightError("the preflight failed (in the controller)")
            return
        run.credentials = _credentials(run.settings, given, run.redactor)
        if run.fuzz_settings is not None and given.get("fuzz"):
            run.fuzz_credentials = _credentials(run.fuzz_settings, given["fuzz"], run.redactor)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session):
        self.credentials()
        return None  # xdist's worker must collect (and report its collection), even empty

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, config, items):
        try:
            yield
        except pytest.UsageError as exc:  # the controller stops the run with it
            self.run.usage_error = str(exc)
        if self.run.usage_error is not None or self.run.preflight_error is not None:
            items[:] = []
        self.index = {item.nodeid: n for n, item in enumerate(items)}

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        rep = yield
        if rep.when != "teardown":
            verdicts = [(rid, c.verdict) for rid, r in self.run.results.items()
                        for c in r.checks if c.nodeid == item.nodeid]
            rep.user_properties.append((VERDICTS, verdicts))
        for t in self.run.transcripts:
            self.seen.setdefault(id(t), self.index.get(item.nodeid, len(self.index)))
        return rep

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session) -> None:
        run = self.run
        order = self.index
        state = {
            "usage_error": run.usage_error,
            "secrets": sorted(run.redactor._secrets),  # keys checks created, for the scrub
            "load_errors": run.load_errors,
            "skip_reasons": {rid: r.skip_reason for rid, r in run.results.items()},
            "checks": [(order.get(c.nodeid, len(order)), rid, c)
                       for rid, r in run.results.items() for c in r.checks],
            "transcripts": [(self.seen.get(id(t), len(order)), t) for t in run.transcripts],
            "operations": run.operations,
        }
        session.config.workeroutput[STATE] = pickle.dumps(state)


# scheduling -----------------------------------------------------------------------------------
def _scheduler_base():
    from xdist.scheduler import LoadScopeScheduling

    return LoadScopeScheduling


class PhasedScheduling(_scheduler_base()):
    """xdist's load-scope scheduling with a barrier: the units of the LAST files are held back
    until every other check has reported. With `isolated` (the LAST files have a target of
    their own) there is no barrier: their units go first in the queue, then the rest, but at
    most half the workers (at least one: `_fuzzer_cap`) fuzz at once: the others take the
    scenario files meanwhile, whose waits the CPU-bound fuzzing then overlaps (measured on 2
    cores: with every worker fuzzing first, the scenarios only started once the fuzzing was
    done, and the run took as long as with the barrier).

    A scenario file is one unit (its module fixtures made once), a PER_PARAMETER file one unit
    per parameter of its module fixture; the LONG files' units go first among the scenario
    units, the others biggest first (xdist's reordering, by number of checks).

    An xdist worker runs a check only once it knows the next one (pytest's `nextitem`) or is
    told to shut down: the last check of a worker's queue waits. So when a worker is down to
    that one waiting check and nothing else is left, it gets the FIRST check of a held unit
    (its waiting check runs; the held check now waits in its place), and nothing more until the
    barrier; the rest of that unit goes to the same worker once every other check is done."""

    def __init__(self, config, log, last: tuple[str, ...], isolated: bool = False,
                 per_parameter: tuple[str, ...] = (), long: tuple[str, ...] = (),
                 budgeted: bool = False):
        super().__init__(config, log)
        self.last = last
        self.isolated = isolated
        self.budgeted = budgeted
        self.per_parameter = per_parameter
        self.long = long
        self.held: OrderedDict[str, dict[str, bool]] = OrderedDict()  # LAST units, not sent
        self.unsent: dict = {}  # node -> (scope, [nodeids of its LAST unit not sent yet])
        self.released = False

    @staticmethod
    def _file(nodeid_or_scope: str) -> str:
        return nodeid_or_scope.split("::", 1)[0].split("[", 1)[0].rsplit("/", 1)[-1]

    def _is_last(self, nodeid: str) -> bool:
        return self._file(nodeid) in self.last

    def _is_long(self, scope: str) -> bool:
        return self._file(scope) in self.long

    def _split_scope(self, nodeid: str) -> str:
        if self._is_last(nodeid):  # one unit per fuzzed document, or per part of one
            part = PART.search(nodeid)  # (a module fixture per test, per part)
            return nodeid.split("[", 1)[0] + (f"[{part.group(1)}" if part else "")
        path = nodeid.split("::", 1)[0]
        if self._file(path) in self.per_parameter and "[" in nodeid:
            return f"{path}[{nodeid.split('[', 1)[1]}"  # a parameter of its module fixture
        return path  # a scenario file: its module fixtures, one worker

    @property
    def tests_finished(self) -> bool:
        return not self.held and not self.unsent and super().tests_finished

    @property
    def has_pending(self) -> bool:
        return bool(self.held or self.unsent) or super().has_pending

    def schedule(self) -> None:
        if self.collection is not None or not self.collection_is_completed:
            return super().schedule()
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        units: dict[str, dict[str, bool]] = {}
        for nodeid in self.collection:
            units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
        order = sorted(units, key=lambda s: -len(units[s])) \
            if getattr(self.config.option, "loadscopereorder", False) else list(units)
        # the LONG files first, in LONG's order (the longest first: xdist's reordering by
        # number of checks sent the random sequences, one check, after the hostile sockets,
        # which at full depth left it running alone at the end of the run)
        order = sorted((s for s in order if self._is_long(s)),
                       key=lambda s: self.long.index(self._file(s))) \
            + [s for s in order if not self._is_long(s)]
        if self.isolated:  # the longest, CPU-bound units first: they overlap the waits
            order = [s for s in order if self._is_last(s)] \
                + [s for s in order if not self._is_last(s)]
        for scope in order:  # the biggest files first when reordering (xdist's default)
            held = self._is_last(scope) and not self.isolated
            (self.held if held else self.workqueue)[scope] = units[scope]
        self.released = not self.held
        for node in self.nodes:
            if self.workqueue:
                self._assign_work_unit(node)
        for node in self.nodes:  # a node down to one waiting check: a held one to wait with
            self._reschedule(node)

    def _first_phase_done(self) -> bool:
        return not self.workqueue and all(
            done for units in self.assigned_work.values() for scope, unit in units.items()
            if not self._is_last(scope) for done in unit.values())

    def _reschedule(self, node) -> None:
        if self.released or self.workqueue:
            return super()._reschedule(node)
        if self._first_phase_done():  # the barrier: every check but the LAST ones reported
            return self._release()
        if node.shutting_down or node in self.unsent:
            return  # its held check waits for the barrier
        if self.held and self._pending_of(self.assigned_work[node]) <= 1:
            self._push(node)
        elif not self.held:
            node.shutdown()  # every held unit waits on another node: this one is done

    def _push(self, node) -> None:
        scope, unit = self.held.popitem(last=False)
        nodeids = list(unit)
        self.assigned_work[node][scope] = unit
        self.unsent[node] = (scope, nodeids[1:])
        node.send_runtest_some([self.registered_collections[node].index(nodeids[0])])

    def _release(self) -> None:
        self.released = True
        for node, (_, rest) in list(self.unsent.items()):
            if rest and not node.shutting_down:
                collection = self.registered_collections[node]
                node.send_runtest_some([collection.index(nodeid) for nodeid in rest])
        self.unsent.clear()
        self.workqueue.update(self.held)
        self.held.clear()
        for node in self.nodes:
            super()._reschedule(node)

    def _assign_work_unit(self, node) -> None:
        if self.isolated:  # the unit this node takes goes to the head of the queue
            head = next(iter(self.workqueue))
            if self._is_last(head) and not self._fuzzing(node) and \
                    sum(self._fuzzing(n) for n in self.assigned_work) >= self._fuzzer_cap():
                rest = next((s for s in self.workqueue if not self._is_last(s)), None)
                if rest is not None:
                    self.workqueue.move_to_end(rest, last=False)
        return super()._assign_work_unit(node)

    def _fuzzer_cap(self) -> int:
        """Half the workers; all of them when the fuzzing is `budgeted` (full depth: a unit
        fuzzes for its time budget, however many run at once, so its units start first and
        the scenarios share every worker at the end instead of leaving two fuzz units to
        start late: measured on 2 cores, 4 workers, 300-320 s with half, see README)."""
        return len(self.nodes) if self.budgeted else max(1, len(self.nodes) // 2)

    def _fuzzing(self, node) -> bool:
        """Whether `node` has checks of a LAST unit not reported yet."""
        return any(not done for scope, unit in self.assigned_work.get(node, {}).items()
                   if self._is_last(scope) for done in unit.values())

    def remove_node(self, node):
        self.unsent.pop(node, None)  # its unit goes back to the queue with its workload
        return super().remove_node(node)
