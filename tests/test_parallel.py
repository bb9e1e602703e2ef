"""`astrbot-conformance run --workers N` (conformance/parallel.py).

- The scheduler, driven the way xdist drives it, by workers that behave as xdist's do (a worker
  runs a check only once it knows the next one, or is told to shut down): every check runs
  once, a scenario file stays on one worker, no check of a LAST file starts before every other
  check has ended, and no worker is left waiting.
- The suite end to end, serially and with --workers 2, against one fresh simulator each: the
  same verdict for every requirement, the same checks, results.json valid against its schema,
  the fuzzing started only after every other check had ended (Allure's timestamps).
"""

from __future__ import annotations

import glob
import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from xdist.scheduler import LoadScopeScheduling

from conformance.parallel import PhasedScheduling

ROOT = Path(__file__).resolve().parent.parent
LAST = ("test_openapi_fuzz.py",)
RUN_TIMEOUT = 600  # seconds, per run (two runs; the machine may be shared)


# the scheduler --------------------------------------------------------------------------------
def collection(files: int, per_file: int, fuzz: bool) -> list[str]:
    ids = [f"live/test_f{f}.py::test_{n}" for f in range(files) for n in range(per_file)]
    if fuzz:
        ids += [f"http/test_openapi_fuzz.py::test_{doc}_document[R{n}]"
                for doc in ("v1", "legacy") for n in range(5)]
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


def simulate(scheduler_class, ids: list[str], workers: int, seed: int) -> dict:
    """Drive a scheduler as xdist's DSession does, in simulated time; returns where and when
    each check ran."""
    rng = random.Random(seed)
    duration = {i: rng.choice((0.1, 0.5, 2.0, 8.0)) for i in range(len(ids))}
    config = SimpleNamespace(getvalue=lambda name: ["popen"] * workers,
                             option=SimpleNamespace(loadscopereorder=bool(seed % 2)))
    sched = scheduler_class(config, None, LAST) if scheduler_class is PhasedScheduling \
        else scheduler_class(config, None)
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
    return {"ran": ran, "waiting": waiting}


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
    for unit in {ids[i].split("[")[0] if "openapi_fuzz" in ids[i] else ids[i].split("::")[0]
                 for i in ran}:
        where = {r[0]["node"] for i, r in ran.items() if ids[i].startswith(unit)}
        if len(where) > 1:
            problems.append(f"{unit} ran on {sorted(where)}")
    return problems


@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("files,per_file,fuzz", [(6, 4, True), (1, 1, True), (0, 0, True),
                                                 (7, 3, False), (3, 1, True)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_last_files_run_after_every_other_check(workers, files, per_file, fuzz, seed):
    ids = collection(files, per_file, fuzz)
    assert order_problems(ids, simulate(PhasedScheduling, ids, workers, seed)) == []


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
        text=True, timeout=RUN_TIMEOUT)
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
    fuzz, others = allure_times(tmp_path / "parallel")
    assert fuzz and others and min(fuzz) >= max(others), "a fuzzing check ran before the rest"


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
