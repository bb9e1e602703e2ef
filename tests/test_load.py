"""The Locust load tool (tools/load/): a master and two workers on loopback against a fresh
simulator finish with no violation and no lost turn; against a target that breaks the frame
order the same tool counts violations (so the counter can fail). Real processes and sockets
on 127.0.0.1; nothing about speed is asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "tools" / "load" / "run.py"
RUN_TIMEOUT = 300  # seconds for one whole load run (start-up, workers, run, stop)
sys.path.insert(0, str(ROOT / "tools" / "load"))

# never imported here: importing Locust monkey-patches this process with gevent
if importlib.util.find_spec("locust") is None:
    pytest.skip("Locust is not installed: the `test` extra includes the `load` extra",
                allow_module_level=True)

from checks import failure_of, rule  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_run(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, str(RUN), "--out", str(tmp_path / "load"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("LOAD_JSON ")]
    assert lines, f"no summary; exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, json.loads(lines[-1][len("LOAD_JSON "):]), proc.stdout


@contextmanager
def fault_target(name: str, tmp_path: Path, api_key: str):
    """A fault of the catalogue (tests/faults/) served as a target on a free port."""
    port = free_port()
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faults", name, "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(tmp_path / "fault-data"), "--timing-profile", "instant"],
        cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "ASTRBOT_SIM_API_KEY": api_key})
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"the {name} target exited with {proc.returncode}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"the {name} target did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_clean_turn_passes_and_a_stray_frame_is_a_named_violation():
    turn = [{"t": "metrics", "data": {"input_type": "text"}}, {"t": "user_msg", "data": {}},
            {"t": "bot_delta_chunk", "data": {"text": "a"}}, {"t": "bot_text_chunk"},
            {"t": "response", "data": "UklGRg=="}, {"t": "end"}]
    assert failure_of(turn) is None
    stray = [{"t": "metrics"}, {"t": "response", "data": "x"}, *turn[1:]]
    assert failure_of(stray) == ("violation: outside any turn (after its terminal frame, or "
                                 "before a user_msg)")
    assert rule("frame #12 (end): the last bot_text_chunk got no response") \
        == "the last bot_text_chunk got no response"


@pytest.mark.slow
def test_master_and_two_workers_against_the_simulator_see_no_violation(tmp_path):
    code, summary, out = load_run(tmp_path, "--users", "12", "--spawn-rate", "12",
                                  "--run-time", "6s", "--workers", "2")
    assert code == 0, out
    assert summary["workers"] == 2
    assert summary["violations"] == 0 and summary["lost_turns"] == 0, out
    assert summary["other_failures"] == 0, out
    assert summary["turns_completed"] > 0 and summary["reads"] > 0
    assert summary["sessions_held"] == summary["sessions_opened"] > 0
    names = {r["name"] for r in json.loads((tmp_path / "load" / "latest.json")
                                           .read_text())["rows"]}
    assert {"live text turn", "live voice turn", "jwt live text turn", "chat stream"} <= names
    assert "| sessions held |" in (tmp_path / "load" / "latest.md").read_text()


@pytest.mark.slow
def test_a_target_that_breaks_the_frame_order_is_counted(tmp_path):
    key = "abk_load_test_0123456789abcdef"
    with fault_target("response-before-text-chunk", tmp_path, key) as url:
        code, summary, out = load_run(tmp_path, "--target", url, "--api-key", key,
                                      "--users", "4", "--run-time", "4s", "--mix", "text=1")
    assert code == 1, out
    assert summary["violations"] > 0 and summary["lost_turns"] == 0, out
    assert "violation: the last bot_text_chunk got no response" in summary["violation_rules"]


@pytest.mark.slow
def test_live_limit_drives_the_limit_server_and_the_simulator_alike(tmp_path):
    """bench/live_limit.py at a few sessions: both targets answer every turn with the recorded
    frames in order (no lost turn, no violation); figures are printed, never asserted."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "live_limit.py"), "--sessions",
                           "8", "--turns", "2", "--rounds", "1", "--paced-turns", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    assert proc.returncode == 0 and lines, f"{proc.stdout}\n{proc.stderr}"
    doc = json.loads(lines[-1][len("BENCH_JSON "):])
    assert [r["target"] for r in doc["rows"]] == ["limit", "simulator"]
    for row in doc["rows"]:
        assert row["turns"] == 16 and row["lost"] == 0 and row["violations"] == 0, row
    assert doc["ratio"] is not None
