"""`astrbot-conformance run --workers N` (conformance/parallel.py).

- The scheduler, driven the way xdist drives it, by workers that behave as xdist's do (a worker
  runs a check only once it knows the next one, or is told to shut down): every check runs
  once, a scenario file stays on one worker, no check of a LAST file starts before every other
  check has ended, and no worker is left waiting; with an isolated fuzz target, no barrier and
  the LAST units first.
- The suite end to end, serially and with --workers 2, against fresh simulators: the same
  verdict for every requirement, the same checks, results.json valid against its schema; on
  workers the fuzzing ran on a second simulator of its own (the ports its wire logs name),
  beside the other checks (Allure's timestamps), and both simulators are gone after the run.
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from xdist.scheduler import LoadScopeScheduling

from conformance.parallel import PhasedScheduling
from conformance.scenarios.conftest import LONG as LONG_FILES
from conformance.scenarios.conftest import PER_PARAMETER

ROOT = Path(__file__).resolve().parent.parent
LAST = ("test_openapi_fuzz.py",)
RUN_TIMEOUT = 600  # seconds, per run (two runs; the machine may be shared)
# the suite these tests sit beside, not the one installed (an editable install may point to
# another checkout, e.g. from a git worktree)
HERE = {**os.environ, "PYTHONPATH": str(ROOT)}


# the scheduler --------------------------------------------------------------------------------
def collection(files: int, per_file: int, fuzz: bool) -> list[str]:
    ids = [f"live/test_f{f}.py::test_{n}" for f in range(files) for n in range(per_file)]
    if fuzz:
        ids += [f"http/test_openapi_fuzz.py::test_v1_document[{part}-R{n}]"
                for part in ("ops1", "ops2", "ops3", "whole") for n in range(5)]
        ids += [f"http/test_openapi_fuzz.py::test_legacy_document[R{n}]" for n in range(5)]
    return ids


class Node:
    """A worker as xdist's behaves: a queue of check indices it was sent; it runs the head only
    while it knows the next one, or once it was told to shut down."""

    def __init__(self, name: str):
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.queue: list[int] = []
        self.current: tuple[int, float] | None = None

    def send_runtest_some(self, indices) -> None:
        assert not self.shutting_down, "checks sent to a worker told to shut down"
        self.queue.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def simulate(scheduler_class, ids: list[str], workers: int, seed: int,
             isolated: bool = False, per_parameter: tuple[str, ...] = (),
             long: tuple[str, ...] = (), budgeted: bool = False, duration_of=None) -> dict:
    """Drive a scheduler as xdist's DSession does, in simulated time; returns where and when
    each check ran and when the last one ended (`isolated`: the LAST files have a fuzz target
    of their own; `duration_of(nodeid)`: a check's duration, else a random one)."""
    rng = random.Random(seed)
    duration = {i: duration_of(nodeid) if duration_of else rng.choice((0.1, 0.5, 2.0, 8.0))
                for i, nodeid in enumerate(ids)}
    config = SimpleNamespace(getvalue=lambda name: ["popen"] * workers,
                             option=SimpleNamespace(loadscopereorder=bool(seed % 2)))
    sched = scheduler_class(config, None, LAST, isolated=isolated, per_parameter=per_parameter,
                            long=long, budgeted=budgeted) \
        if scheduler_class is PhasedScheduling else scheduler_class(config, None)
    nodes = [Node(f"gw{n}") for n in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, ids)
    sched.schedule()
    now, ran = 0.0, {}
    for _ in range(10 * len(ids) + 10):  # bounded: every step ends one check
        for node in nodes:
            if node.current is None and node.queue and (len(node.queue) >= 2
                                                        or node.shutting_down):
                index = node.queue.pop(0)
                node.current = (index, now + duration[index])
                ran.setdefault(index, []).append({"node": node.gateway.id, "start": now})
        running = [n for n in nodes if n.current is not None]
        if not running:
            break
        node = min(running, key=lambda n: n.current[1])
        index, now = node.current
        node.current = None
        ran[index][-1]["end"] = now
        sched.mark_test_complete(node, index, duration[index])
        if sched.tests_finished:  # DSession.triggershutdown
            for other in sched.nodes:
                other.shutdown()
    waiting = {n.gateway.id: n.queue for n in nodes if n.queue}
    return {"ran": ran, "waiting": waiting, "end": now}


def order_problems(ids: list[str], outcome: dict) -> list[str]:
    ran, problems = outcome["ran"], []
    if outcome["waiting"]:
        problems.append(f"workers left waiting with checks: {outcome['waiting']}")
    problems += [f"{ids[i]} never ran" for i in range(len(ids)) if i not in ran]
    problems += [f"{ids[i]} ran {len(r)} times" for i, r in ran.items() if len(r) != 1]
    last = [i for i in ran if "openapi_fuzz" in ids[i]]
    others = [i for i in ran if i not in last]
    if last and others:
        first_last = min(ran[i][0]["start"] for i in last)
        end_others = max(ran[i][0]["end"] for i in others)
        if first_last < end_others:
            problems.append(f"a LAST check started at {first_last} before the other checks "
                            f"ended ({end_others})")
    for unit in {fuzz_unit(ids[i]) if "openapi_fuzz" in ids[i] else ids[i].split("::")[0]
                 for i in ran}:
        where = {r[0]["node"] for i, r in ran.items()
                 if (fuzz_unit(ids[i]) if "openapi_fuzz" in ids[i] else ids[i]).startswith(unit)}
        if len(where) > 1:
            problems.append(f"{unit} ran on {sorted(where)}")
    return problems


def fuzz_unit(nodeid: str) -> str:
    """A fuzzing check's unit: its document, and its part (`[ops1-...`) where it has one."""
    head, _, params = nodeid.partition("[")
    part = params.split("-", 1)[0]
    return head + (f"[{part}" if part.startswith(("ops", "whole")) else "")


@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("files,per_file,fuzz", [(6, 4, True), (1, 1, True), (0, 0, True),
                                                 (7, 3, False), (3, 1, True)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_last_files_run_after_every_other_check(workers, files, per_file, fuzz, seed):
    ids = collection(files, per_file, fuzz)
    assert order_problems(ids, simulate(PhasedScheduling, ids, workers, seed)) == []


@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("files,per_file,fuzz", [(6, 4, True), (1, 1, True), (0, 0, True),
                                                 (7, 3, False), (3, 1, True)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_an_isolated_fuzz_target_the_last_files_go_first(workers, files, per_file, fuzz,
                                                              seed):
    """No barrier: every check runs once, a unit on one worker, no worker left waiting; the
    LAST units are the first in the queue, but at most half the workers (at least one) start
    with one while scenario files are left: the others overlap the fuzzing from the start."""
    ids = collection(files, per_file, fuzz)
    outcome = simulate(PhasedScheduling, ids, workers, seed, isolated=True)
    problems = order_problems(ids, outcome)
    assert [p for p in problems if "LAST check started" not in p] == []
    firsts = {}
    for index, runs in outcome["ran"].items():
        node, start = runs[0]["node"], runs[0]["start"]
        if node not in firsts or start < firsts[node][1]:
            firsts[node] = (index, start)
    shown = {n: ids[i] for n, (i, _) in firsts.items()}
    fuzzing = [n for n, (i, _) in firsts.items() if "openapi_fuzz" in ids[i]]
    if fuzz:  # the head of the queue went to the first worker
        assert "gw0" in fuzzing, shown
        assert len(fuzzing) <= max(max(1, workers // 2), workers - files), shown
    if fuzz and files:
        assert len(fuzzing) < len(firsts), shown
    if fuzz and files:  # the fuzzing overlaps the other checks: the barrier's check sees it
        assert any("LAST check started" in p for p in problems), problems


def full_depth(nodeid: str) -> float:
    """A full-depth run's shape: a fuzz unit lasts its budget (120 s, one check here), a
    scenario check 0.5 to 40 s."""
    if "openapi_fuzz" in nodeid:
        return 120.0 if nodeid.endswith("R0]") else 0.0
    return (0.5, 3.0, 12.0, 40.0)[int(nodeid.rsplit("_", 1)[1]) % 4]


@pytest.mark.parametrize("workers", [3, 4])
@pytest.mark.parametrize("seed", [1, 2])
def test_budgeted_fuzzing_starts_on_every_worker_and_ends_the_run_sooner(workers, seed):
    """At full depth a fuzz unit lasts its budget however many run at once: every worker
    starts with one, and the scenarios fill every worker at the end instead of two fuzz units
    starting late (the half-the-workers cap of a quick run, measured 300-320 s for this shape
    on 2 cores)."""
    ids = collection(8, 4, True)
    kwargs = dict(isolated=True, duration_of=full_depth)
    budgeted = simulate(PhasedScheduling, ids, workers, seed, budgeted=True, **kwargs)
    capped = simulate(PhasedScheduling, ids, workers, seed, **kwargs)
    for outcome in (budgeted, capped):
        assert [p for p in order_problems(ids, outcome) if "LAST check started" not in p] == []
    starts = {}
    for index, runs in budgeted["ran"].items():
        if runs[0]["start"] == 0.0:
            starts[runs[0]["node"]] = ids[index]
    assert len(starts) == workers and all("openapi_fuzz" in s for s in starts.values()), starts
    assert budgeted["end"] < capped["end"], (budgeted["end"], capped["end"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_per_parameter_file_spreads_one_unit_per_parameter(seed):
    """A PER_PARAMETER file (its module fixture parametrized by socket): each parameter's checks
    on one worker, the parameters over the workers; any other file stays on one worker."""
    sockets = ["/api/v1/live/ws ct=live", "/api/v1/chat/ws", "/api/live_chat/ws"]
    ids = [f"robustness/test_ws_hostile.py::test_{n}[{s}]" for s in sockets for n in range(3)]
    ids += [f"live/test_f0.py::test_{n}[{s}]" for s in sockets for n in range(2)]
    ran = simulate(PhasedScheduling, ids, 4, seed, per_parameter=PER_PARAMETER)["ran"]
    where: dict[str, set] = {}
    for index, runs in ran.items():
        path, params = ids[index].split("::")[0], ids[index].split("[", 1)[1]
        unit = f"{path}[{params}" if "ws_hostile" in path else path
        where.setdefault(unit, set()).update(r["node"] for r in runs)
    assert len(ran) == len(ids) and all(len(nodes) == 1 for nodes in where.values()), where
    hostile = set().union(*(nodes for unit, nodes in where.items() if "ws_hostile" in unit))
    assert len(hostile) == 3, where  # three parameters, three workers
    alone = simulate(PhasedScheduling, ids, 4, seed)["ran"]
    assert len({alone[i][0]["node"] for i in range(len(ids)) if "ws_hostile" in ids[i]}) == 1


@pytest.mark.parametrize("isolated", [True, False])
def test_the_long_files_start_first_among_the_scenario_files(isolated):
    """A LONG file of one check (the random sequences) starts before the files of many checks
    that xdist's reordering would send first."""
    ids = collection(6, 4, True) + ["live/test_random_sequences.py::test_sequence"]
    for seed in (1, 2, 3):
        ran = simulate(PhasedScheduling, ids, 3, seed, isolated=isolated, long=LONG_FILES)["ran"]
        starts = {ids[i]: r[0]["start"] for i, r in ran.items()}
        long = starts["live/test_random_sequences.py::test_sequence"]
        assert long == 0.0, starts  # sent with the first units
        if seed % 2:  # reordering by size: without LONG it went last
            ran = simulate(PhasedScheduling, ids, 3, seed, isolated=isolated)["ran"]
            assert ran[len(ids) - 1][0]["start"] > 0.0


@pytest.mark.parametrize("seed", [1, 3])  # odd seeds: xdist's reordering by number of checks
def test_the_long_files_go_in_their_listed_order_at_full_depth(seed):
    """At full depth every worker starts with a fuzz unit; when they free up, the LONG units
    go in LONG's order, the longest first: the random sequences (one check) before the hostile
    sockets' units (many checks each), which the reordering by size would send first. Measured
    on 2 cores, 4 workers: it started 130 s after the first fuzz round, ran 41 s alone at the
    end, and the run took 302 s."""
    sockets = [f"s{n}" for n in range(7)]
    ids = collection(0, 0, True) + ["live/test_random_sequences.py::test_sequence"]
    ids += [f"robustness/test_ws_hostile.py::test_{n}[{s}]" for s in sockets for n in range(4)]
    ids += [f"jwt/test_jwt_paths.py::test_{n}" for n in range(40)]

    def duration(nodeid):
        if "openapi_fuzz" in nodeid:
            return full_depth(nodeid)
        return 40.0 if "random" in nodeid else 2.0

    kwargs = dict(isolated=True, budgeted=True, per_parameter=PER_PARAMETER, duration_of=duration)
    ran = simulate(PhasedScheduling, ids, 4, seed, long=LONG_FILES, **kwargs)["ran"]
    first_fuzz_end = min(r[0]["end"] for i, r in ran.items() if "openapi_fuzz" in ids[i])
    start = {ids[i]: r[0]["start"] for i, r in ran.items()}
    assert start["live/test_random_sequences.py::test_sequence"] == first_fuzz_end, start
    ranked = sorted(LONG_FILES, key=lambda f: f != "test_random_sequences.py")
    assert tuple(ranked) == LONG_FILES  # the longest is listed first
    # in xdist's order it went after the hostile sockets (the check above can fail)
    unlisted = ("test_ws_hostile.py", "test_jwt_paths.py", "test_random_sequences.py")
    ran = simulate(PhasedScheduling, ids, 4, seed, long=unlisted, **kwargs)["ran"]
    start = {ids[i]: r[0]["start"] for i, r in ran.items()}
    assert start["live/test_random_sequences.py::test_sequence"] > first_fuzz_end


def test_the_queue_holds_the_last_units_first_only_with_an_isolated_fuzz_target():
    ids = collection(6, 4, True)
    for isolated in (True, False):
        config = SimpleNamespace(getvalue=lambda name: ["popen"] * 2,
                                 option=SimpleNamespace(loadscopereorder=True))
        sched = PhasedScheduling(config, None, LAST, isolated=isolated)
        nodes = [Node("gw0"), Node("gw1")]
        for node in nodes:
            sched.add_node(node)
        for node in nodes:
            sched.add_node_collection(node, ids)
        sched.schedule()
        sent = [ids[i] for node in nodes for i in node.queue]
        if isolated:  # no barrier: nothing held, the fuzzing sent first to every worker
            assert not sched.held and sched.released
            # one of the two workers fuzzes, the other takes a scenario file meanwhile
            assert ["openapi_fuzz" in ids[node.queue[0]] for node in nodes] == [True, False]
            queued = list(sched.workqueue)
            fuzzing = [n for n, scope in enumerate(queued) if "openapi_fuzz" in scope]
            assert fuzzing == list(range(len(fuzzing)))  # the rest queued after them
        else:  # the barrier: the fuzzing held back, only the scenario files sent
            assert sched.held and not sched.released
            assert not any("openapi_fuzz" in nodeid for nodeid in sent), sent


def test_the_simulation_sees_a_scheduler_without_the_barrier():
    """xdist's own load-scope scheduling starts the fuzzing at once: the check above would
    fail on it (so it can fail)."""
    ids = collection(6, 4, True)
    problems = [p for seed in (1, 2, 3)
                for p in order_problems(ids, simulate(LoadScopeScheduling, ids, 2, seed))]
    assert any("LAST check started" in p for p in problems), problems


# the suite end to end -------------------------------------------------------------------------
def run_suite(report_dir: Path, *args: str) -> tuple[int, dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--simulator", "-q",
         "--report-dir", str(report_dir), *args], cwd=report_dir.parent, capture_output=True,
        text=True, timeout=RUN_TIMEOUT, env=HERE)
    results = report_dir / "results.json"
    assert results.exists(), f"no report; exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, json.loads(results.read_text()), proc.stdout + proc.stderr


def allure_times(report_dir: Path) -> tuple[list, list]:
    """(start of every fuzzing check, end of every other check) from the Allure results."""
    fuzz, others = [], []
    for path in glob.glob(str(report_dir / "allure-results" / "*-result.json")):
        result = json.loads(Path(path).read_text())
        if result["name"].split(" ", 1)[-1].startswith("<"):
            continue  # a run-wide sweep, written by the controller at the end
        if "test_openapi_fuzz" in result.get("fullName", ""):
            fuzz.append(result["start"])
        else:
            others.append(result["stop"])
    return fuzz, others


@pytest.mark.slow
def test_two_workers_give_the_serial_verdicts(tmp_path):
    from jsonschema import Draft202012Validator

    profiles = ["--profile", "open-api,legacy-jwt-live"]
    serial_code, serial, _ = run_suite(tmp_path / "serial", *profiles)
    code, doc, output = run_suite(tmp_path / "parallel", *profiles, "--workers", "2")
    assert code == serial_code, output
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts == {r["id"]: r["verdict"] for r in serial["requirements"]}
    assert len(verdicts) > 20 and all(r["checks"] for r in doc["requirements"])
    # the same checks decided each requirement (the sweeps' names count frames: left out)
    checks = {r["id"]: [c["nodeid"] for c in r["checks"] if not c["nodeid"].startswith("<")]
              for r in doc["requirements"]}
    assert checks == {r["id"]: [c["nodeid"] for c in r["checks"]
                                if not c["nodeid"].startswith("<")]
                      for r in serial["requirements"]}
    assert {o["path"]: o["verdict"] for o in doc["operations"]} \
        == {o["path"]: o["verdict"] for o in serial["operations"]}
    schema = json.loads((ROOT / "specs" / "results.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:10]
    # the fuzzing had a simulator of its own (no barrier): it ran beside the other checks
    assert doc["run"]["fuzz_isolated"] is True and serial["run"]["fuzz_isolated"] is False
    fuzz, others = allure_times(tmp_path / "parallel")
    assert fuzz and others and min(fuzz) < max(others), "the fuzzing waited for the rest"


# a sample of both documents' operations, so the v1 document's five parts are quick
SAMPLE = ("GET /api/v1/personas*,POST /api/v1/personas,DELETE /api/v1/personas/*,"
          "* /api/v1/bots*,GET /api/v1/chat/sessions,listPlugins,GET /api/v1/stats*")


@pytest.mark.slow
def test_three_workers_give_the_serial_verdicts_of_the_v1_parts(tmp_path):
    """The v1 fuzzing's parts (five xdist units) on three workers: the serial run's verdicts,
    checks and per-operation verdicts."""
    args = ["--profile", "openapi-v1,open-api", "-k", "test_v1_document or test_legacy_document",
            "--operations", SAMPLE]
    serial_code, serial, _ = run_suite(tmp_path / "serial", *args)
    code, doc, output = run_suite(tmp_path / "parallel", *args, "--workers", "3")
    assert code == serial_code == 0, output
    assert {r["id"]: r["verdict"] for r in doc["requirements"]} \
        == {r["id"]: r["verdict"] for r in serial["requirements"]}
    checks = {r["id"]: sorted(c["nodeid"] for c in r["checks"]) for r in doc["requirements"]}
    assert checks == {r["id"]: sorted(c["nodeid"] for c in r["checks"])
                      for r in serial["requirements"]}
    parts = {nodeid.split("[")[1].split("-")[0] for nodeid in checks["V1-FUZZ-001"]}
    assert parts == {"ops1", "ops2", "ops3", "ops4", "whole"}
    ledger = {f"{o['document']} {o['method']} {o['path']}": (o["verdict"], o["requirements"])
              for o in doc["operations"]}
    assert ledger == {f"{o['document']} {o['method']} {o['path']}": (o["verdict"],
                                                                     o["requirements"])
                      for o in serial["operations"]}
    assert len(ledger) == doc["run"]["operations_filter"]["selected"]


def simulators_of(pid: int) -> dict[int, int]:
    """The simulators process `pid` started: {their PID: their port}, from /proc."""
    found = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            ppid = int(Path(stat).read_text().rsplit(")", 1)[1].split()[1])
            argv = Path(stat).with_name("cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
        if ppid == pid and b"simulator" in argv and b"--port" in argv:
            found[int(Path(stat).parent.name)] = int(argv[argv.index(b"--port") + 1])
    return found


def ports_in(checks: list[dict]) -> set[int]:
    """The ports of every URL in the checks' evidence (the wire logs' requests)."""
    text = json.dumps([c.get("evidence") for c in checks])
    return {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", text)}


@pytest.mark.slow
def test_on_workers_the_fuzzing_files_run_on_a_second_simulator(tmp_path):
    """`run --simulator --workers 2`: two simulators, the LAST files' checks (hostile bodies,
    the legacy document's fuzzing) sent to the second only, the scenarios' to the first (the
    report's target); both stopped, by PID, when the run ends."""
    report_dir = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "run", "--simulator", "-q", "--workers", "2",
         "--report-dir", str(report_dir), "--profile", "open-api,robustness",
         "-k", "test_open_api or test_http_hostile or test_legacy_document",
         "--operations", "GET /api/v1/chat/sessions,GET /api/v1/im/bots,GET /api/v1/configs"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=HERE)
    try:
        started: dict[int, int] = {}
        deadline = time.monotonic() + 60  # both are up before pytest starts
        while len(started) < 2 and proc.poll() is None and time.monotonic() < deadline:
            started.update(simulators_of(proc.pid))
            time.sleep(0.05)
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert len(started) == 2 and len(set(started.values())) == 2, (started, output)
    assert proc.returncode == 0, output
    assert [pid for pid in started if Path(f"/proc/{pid}").exists()] == [], "left running"
    doc = json.loads((report_dir / "results.json").read_text())
    assert doc["run"]["fuzz_isolated"] is True
    port = int(doc["run"]["target"]["base_url"].rsplit(":", 1)[1])
    assert port in started.values()
    (fuzz_port,) = set(started.values()) - {port}
    checks = [c for r in doc["requirements"] for c in r["checks"]]
    last = [c for c in checks if "test_http_hostile" in c["nodeid"]
            or "test_openapi_fuzz" in c["nodeid"]]
    scenarios = [c for c in checks if "test_open_api.py" in c["nodeid"]]
    assert any("test_http_hostile" in c["nodeid"] for c in last) and scenarios
    assert ports_in(last) == {fuzz_port}
    assert ports_in(scenarios) == {port}


def test_workers_is_a_number_or_auto(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--simulator",
                           "--workers", "0"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "--workers: expected a number >= 1 or auto, got '0'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_failed_preflight_on_workers_is_one_line_and_exit_3(tmp_path):
    """The controller's preflight fails: the workers judge nothing, the run ends (no worker
    waits for checks) with the serial run's one line and exit status."""
    from conformance.launcher import free_port

    report_dir = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "-q", "--base-url",
         f"http://127.0.0.1:{free_port()}", "--api-key", "abk_not-a-real-key-000",
         "--workers", "2", "--report-dir", str(report_dir)],
        cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "preflight failed: cannot reach" in proc.stdout
    doc = json.loads((report_dir / "results.json").read_text())
    assert {r["verdict"] for r in doc["requirements"]} == {"ERROR"}


# a check run in parts (the v1 fuzzing) ----------------------------------------------------------
def test_the_parts_of_a_split_check_are_judged_as_the_whole_check_was():
    from conformance.catalogue import load
    from conformance.report import CheckRecord, RequirementResult, combine_parts

    assert combine_parts(["PASS", "UNIMPLEMENTED", "SKIPPED"]) == "PASS"  # not UNIMPLEMENTED
    assert combine_parts(["UNIMPLEMENTED", "SKIPPED"]) == "UNIMPLEMENTED"
    assert combine_parts(["SKIPPED", "SKIPPED"]) == combine_parts([]) == "SKIPPED"
    assert combine_parts(["PASS", "FAIL", "UNIMPLEMENTED"]) == "FAIL"
    assert combine_parts(["PASS", "NON-STRICT"]) == "NON-STRICT"
    assert combine_parts(["PASS", "ERROR"]) == "ERROR"  # an operation not exercised
    assert combine_parts(["ERROR", "FAIL"]) == "FAIL"  # a break found outweighs it
    req = next(iter(load().requirements.values()))

    def result(*checks):
        return RequirementResult(req, [CheckRecord(f"t[{n}]", v, m, part_of=part)
                                       for n, (v, m, part) in enumerate(checks)])

    split = "schemathesis over the v1 document"
    r = result(("UNIMPLEMENTED", "none of the 3 operations exist", split), ("PASS", "", split))
    assert (r.verdict, r.reason) == ("PASS", "")
    # every part that broke it is named in the reason, each with its own operations
    r = result(("FAIL", "1 of 3 operations broke it:\nGET /a", split), ("PASS", "", split),
               ("FAIL", "1 of 3 operations broke it:\nGET /b", split))
    assert r.verdict == "FAIL" and "GET /a" in r.reason and "GET /b" in r.reason
    # an ordinary check beside the parts is judged as before: the worst
    r = result(("PASS", "", split), ("UNIMPLEMENTED", "absent", ""))
    assert (r.verdict, r.reason) == ("UNIMPLEMENTED", "absent")
    # not parts of one check: the worst, as always
    r = result(("UNIMPLEMENTED", "absent", ""), ("PASS", "", ""))
    assert r.verdict == "UNIMPLEMENTED"


def test_each_part_of_the_v1_fuzzing_is_its_own_unit_the_legacy_document_one():
    sched = PhasedScheduling(SimpleNamespace(getvalue=lambda name: ["popen"],
                                             option=SimpleNamespace()), None, LAST)
    base = "http/test_openapi_fuzz.py::"
    scopes = {sched._split_scope(f"{base}test_v1_document[{part}-V1-FUZZ-00{n}]")
              for part in ("ops1", "ops2", "whole") for n in (1, 2)}
    assert scopes == {f"{base}test_v1_document[ops1", f"{base}test_v1_document[ops2",
                      f"{base}test_v1_document[whole"}
    assert {sched._split_scope(f"{base}test_legacy_document[OPEN-FUZZ-00{n}]")
            for n in (1, 2)} == {f"{base}test_legacy_document"}


def test_the_v1_parts_share_the_operations_evenly_and_in_turn():
    from conformance.documents import operations
    from conformance.scenarios.http.test_openapi_fuzz import V1_SHARES, share

    ops = operations("v1")
    shares = [share(ops, n) for n in range(1, V1_SHARES + 1)]
    assert sorted(op.label for s in shares for op in s) == sorted(op.label for op in ops)
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert [op.label for op in shares[1][:2]] == [ops[1].label, ops[1 + V1_SHARES].label]


def test_auto_is_two_workers_per_core():
    """Most checks wait while the fuzzing needs the CPU: `auto` oversubscribes the cores."""
    import os

    from conformance.cli import worker_count

    assert worker_count("auto") == 2 * (os.cpu_count() or 1)
    assert worker_count(3) == 3
