"""Start a throw-away simulator for `astrbot-conformance run --simulator`: a separate process
(`python -m simulator`) on a free loopback port with a temporary data directory. The suite
talks to it over the network only, as to any other target.

The simulator's timing profile is chosen here, explicitly: `instant` by default (the suite
places its races with directives; benchmarks measure the server, not modelled providers), or
None for the simulator's own default (`realistic`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .outcomes import SuiteError

STARTUP_TIMEOUT = 30.0
DEFAULT_TIMING_PROFILE = "instant"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(url: str) -> bool:
    """Whether the target at `url` answers setup-status (one second at most)."""
    try:
        with urllib.request.urlopen(url + "/api/v1/auth/setup-status", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    """Stop a process this run started, by its PID: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass(frozen=True)
class Launched:
    url: str
    process: subprocess.Popen


@contextmanager
def simulator(extra_args: list[str] | None = None, env: dict | None = None,
              log_path: Path | None = None,
              timing_profile: str | None = DEFAULT_TIMING_PROFILE):
    """Yield a fresh simulator (its base URL and process); stop it, by its PID, afterwards."""
    profile_args = ["--timing-profile", timing_profile] if timing_profile else []
    with tempfile.TemporaryDirectory(prefix="astrbot-sim-") as data_dir:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(log_path or Path(data_dir) / "simulator.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", data_dir, "--log-level", "WARNING", *profile_args,
             *(extra_args or [])],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not ready(url):
                if proc.poll() is not None:
                    log.flush()
                    tail = Path(log.name).read_text(errors="replace")[-2000:]
                    raise SuiteError(f"the simulator exited with {proc.returncode} at start-up:"
                                     f"\n{tail}")
                if time.monotonic() > deadline:
                    raise SuiteError(f"the simulator did not answer within {STARTUP_TIMEOUT} s")
                time.sleep(0.1)
            yield Launched(url, proc)
        finally:
            stop(proc)
            log.close()
