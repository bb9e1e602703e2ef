"""The suite end to end, as a user runs it (`astrbot-conformance run`, a real process): against
broken targets, the broken requirements FAIL or are UNIMPLEMENTED with a reason, never ERROR
and never PASS, and the run stays within its bounds (the conformant run against the simulator:
tests/test_every_operation.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.launcher import free_port
from conformance.outcomes import ERROR, EXIT_PREFLIGHT, FAIL, NON_STRICT, PASS, UNIMPLEMENTED

from .broken_targets import FAULTS, FUZZED

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 240  # a hang guard, never a timing assertion


def run_suite(tmp_path: Path, *args: str, hang_guard: float = RUN_TIMEOUT) -> tuple[int, dict]:
    report_dir = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--report-dir", str(report_dir),
         "-q", *args], cwd=tmp_path, capture_output=True, text=True, timeout=hang_guard)
    results = report_dir / "results.json"
    assert results.exists(), f"no report; exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, json.loads(results.read_text())


def verdicts(doc: dict, profile: str | None = None) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in doc["requirements"]
            if profile is None or r["profile"] == profile}


@contextmanager
def broken_target(mode: str, tmp_path: Path):
    port = free_port()
    log = open(tmp_path / f"{mode}-target.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.broken_targets", mode, "--port", str(port),
         "--data-dir", str(tmp_path / "target-data")], cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the {mode} target exited with {proc.returncode}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode, expected", [("no-live", UNIMPLEMENTED), ("closes", FAIL),
                                            ("silent", FAIL)])
def test_broken_live_endpoint_is_reported_not_blamed_on_the_suite(tmp_path, mode, expected):
    with broken_target(mode, tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--timeout", "1", "--setup-admin",
                              "--allow-writes",  # a throw-away target this test started
                              "--profile", "live-api,openapi-v1",  # the two judged below
                              "-k", "not openapi_fuzz")  # the spec fuzzing has its own tests
    live = verdicts(doc, "live-api")
    if mode == "silent":  # it does accept and keep the connection: that requirement holds
        assert live.pop("LIVE-CONN-001") == PASS
    assert code == 1
    assert set(live.values()) <= {expected, UNIMPLEMENTED, FAIL, NON_STRICT}, live
    assert expected in live.values() and PASS not in live.values(), live
    if mode == "no-live":
        assert set(live.values()) == {UNIMPLEMENTED}
    reasons = [r["reason"] for r in doc["requirements"]
               if r["profile"] == "live-api" and r["verdict"] != PASS]
    assert all(reasons), "every non-PASS verdict needs its reason"
    others = {rid: v for rid, v in verdicts(doc, "openapi-v1").items()
              if "-FUZZ-" not in rid}  # deselected here: tested on their own below
    assert set(others.values()) == {PASS}, others  # the rest of the simulator is intact


@pytest.mark.slow
def test_an_operation_that_skips_its_scope_check_is_named(tmp_path):
    with broken_target("no-scope", tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--profile", "openapi-v1",
                              "--setup-admin", "-k", "scope_matrix")
    scope = {r["id"]: r for r in doc["requirements"] if r["id"].startswith("V1-SCOPE")}
    assert code == 1
    for rid in ("V1-SCOPE-001", "V1-SCOPE-002", "V1-SCOPE-003"):
        assert scope[rid]["verdict"] == FAIL, rid
        assert "GET /api/v1/personas: HTTP 200" in scope[rid]["reason"], scope[rid]["reason"]
        assert "1 operations" in scope[rid]["reason"], "only the broken operation is blamed"
    assert scope["V1-SCOPE-004"]["verdict"] == PASS


def test_a_server_that_is_not_astrbot(tmp_path):
    """A server answering 404 to everything is not judged at all: preflight says it is not an
    AstrBot API (exit 3), and no requirement is FAIL or UNIMPLEMENTED (tests/test_preflight.py
    has the other mistakes a user can make)."""
    with broken_target("bare", tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--api-key",
                              "abk_some_key_for_a_bare_server", "--timeout", "2")
    assert code == EXIT_PREFLIGHT
    assert "not an AstrBot API" in doc["summary"]["preflight"]
    assert set(verdicts(doc).values()) == {ERROR}


def test_unreachable_target_is_error_not_fail(tmp_path):
    port = free_port()  # nothing listens there
    code, doc = run_suite(tmp_path, "--base-url", f"http://127.0.0.1:{port}",
                          "--timeout", "2")
    assert code == EXIT_PREFLIGHT
    assert set(verdicts(doc).values()) == {ERROR}


def test_env_and_toml_configuration(tmp_path):
    from conformance.target import TargetSettings

    config = tmp_path / "target.toml"
    config.write_text('[target]\nbase_url = "http://127.0.0.1:1/"\nname = "file"\n'
                      'api_key = "abk_from_file"\ntimeout = 3\n')
    env = {"ASTRBOT_CONFORMANCE_CONFIG": str(config), "ASTRBOT_CONFORMANCE_NAME": "env"}
    settings = TargetSettings.resolve({"timeout": "5"}, env=env)
    assert (settings.base_url, settings.name, settings.api_key, settings.timeout) == (
        "http://127.0.0.1:1", "env", "abk_from_file", 5.0)
    assert settings.ws_url("/api/v1/live/ws", api_key="k", username=None) == \
        "ws://127.0.0.1:1/api/v1/live/ws?api_key=k"


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_a_planted_schema_fault_fails_its_requirement_on_its_operation(tmp_path, mode):
    """Schemathesis finds the one planted fault and the report names it: the right requirement
    FAILs, on that operation and on no other of those fuzzed (its unfaulted neighbours,
    broken_targets.FUZZED: the rest of the simulator is clean)."""
    label, rid = FAULTS[mode]
    with broken_target(mode, tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--profile", "openapi-v1",
                              "--allow-writes", "--setup-admin", "-k", "test_v1_document",
                              "--operations", FUZZED)  # its operation and neighbours
    assert code == 1
    assert verdicts(doc)[rid] == FAIL
    judged = {f"{op['method']} {op['path']}": op["requirements"].get(rid)
              for op in doc["operations"] if op["document"] == "v1"}
    assert {label for label, verdict in judged.items() if verdict == FAIL} == {label}
    assert list(judged.values()).count(PASS) >= 2, judged  # unfaulted neighbours, judged
    evidence = [e for c in next(r for r in doc["requirements"] if r["id"] == rid)["checks"]
                if c["verdict"] == FAIL for e in c["evidence"]]  # the failing part's
    assert any("curl" in str(entry.get("data")) for e in evidence for entry in e["log"])
