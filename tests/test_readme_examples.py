"""README "For client authors" stays true: its examples (each fenced block after a
`<!-- readme-example: NAME -->` line) run as written against a real `astrbot-sim` process
started with its defaults in a fresh data directory; only its port differs from 6185. The
shell blocks run under bash with curl, the Python blocks as subprocesses.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.launcher import simulator

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE = re.compile(r"<!-- readme-example: ([a-z-]+) -->\n```(\w+)\n(.*?)\n```", re.S)
NAMES = {"api-key", "live", "sse", "chat-mode", "client-report"}
RUN_TIMEOUT = 120  # seconds per example: bounds a hang, never judged as a speed


def examples() -> dict[str, tuple[str, str]]:
    return {name: (lang, code) for name, lang, code in EXAMPLE.findall(README.read_text())}


def run(example: str, url: str, tmp_path: Path, env: dict | None = None) -> str:
    lang, code = examples()[example]
    code = code.replace("127.0.0.1:6185", url.removeprefix("http://"))
    if lang == "python":
        script = tmp_path / f"{example}.py"
        script.write_text(code)
        command = [sys.executable, str(script)]
    else:
        assert lang == "bash", lang
        command = ["bash", "-eo", "pipefail", "-c", code]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{example} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def api_key(url: str, tmp_path: Path) -> str:
    key = run("api-key", url, tmp_path).strip().splitlines()[-1]
    assert key.startswith("abk_"), key
    return key


@pytest.fixture(scope="module")
def default_sim():
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    with simulator() as launched:  # its defaults: realistic timing, first-run state
        yield launched.url


def test_the_readme_has_every_example():
    assert set(examples()) == NAMES


def test_the_examples_run_as_written(default_sim, tmp_path):
    env = {"ASTRBOT_KEY": api_key(default_sim, tmp_path)}
    live = run("live", default_sim, tmp_path, env)
    assert "-> end" in live and "-> stop_play" in live, live
    assert "You said: Hello, what is the weather today?" in live
    sse = run("sse", default_sim, tmp_path, env)
    events = [line for line in sse.splitlines() if line.startswith("data: ")]
    assert '"type": "complete"' in sse and '"type": "end"' in events[-1], sse
    chat = run("chat-mode", default_sim, tmp_path, env)
    assert "'type': 'session_bound'" in chat and "-> {'ct': 'chat', 'type': 'end'" in chat, chat


def test_the_client_mode_example_grades_the_readme_clients(tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    with simulator(["--client-mode", "--client-report", str(tmp_path / "report")]) as launched:
        env = {"ASTRBOT_KEY": api_key(launched.url, tmp_path)}
        run("live", launched.url, tmp_path, env)
        run("chat-mode", launched.url, tmp_path, env)
        lines = run("client-report", launched.url, tmp_path).splitlines()
        verdicts = dict(line.split(" ", 2)[:2][::-1] for line in lines)
        assert set(verdicts.values()) <= {"PASS", "SKIPPED"}, lines
        assert verdicts["CLIENT-FRAME-002"] == verdicts["CLIENT-CT-001"] == "PASS", lines
        again = run("client-report", launched.url, tmp_path).splitlines()
        assert all(line.startswith("SKIPPED") for line in again), again  # DELETE: a new run
