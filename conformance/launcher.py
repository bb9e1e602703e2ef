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
from contextlib import ExitStack, contextmanager
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
    with simulators(1, extra_args, env, timing_profile,
                    log_paths=[log_path] if log_path else None) as (launched,):
        yield launched


@contextmanager
def simulators(count: int, extra_args: list[str] | None = None, env: dict | None = None,
               timing_profile: str | None = DEFAULT_TIMING_PROFILE,
               log_paths: list[Path] | None = None):
    """Yield `count` fresh simulators, each its own port and data directory, started at once
    (each takes ~1 s of CPU to come up: on two cores they start side by side); stop every one,
    by its PID, afterwards, also when one of them did not come up."""
    profile_args = ["--timing-profile", timing_profile] if timing_profile else []
    with ExitStack() as stack:
        started, ports = [], set()
        for n in range(count):
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="astrbot-sim-"))
            port = free_port()
            while port in ports:  # none has bound its port yet: the OS may offer one twice
                port = free_port()
            ports.add(port)
            path = log_paths[n] if log_paths else Path(data_dir) / "simulator.log"
            log = stack.enter_context(open(path, "w"))  # noqa: SIM115
            proc = subprocess.Popen(
                [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
                 "--data-dir", data_dir, "--log-level", "WARNING", *profile_args,
                 *(extra_args or [])],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
            stack.callback(stop, proc)  # stopped before its log and data go (LIFO)
            started.append((Launched(f"http://127.0.0.1:{port}", proc), log))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for launched, log in started:
            _wait_ready(launched, log, deadline)
        yield [launched for launched, _ in started]


def _wait_ready(launched: Launched, log, deadline: float) -> None:
    proc = launched.process
    while not ready(launched.url):
        if proc.poll() is not None:
            log.flush()
            tail = Path(log.name).read_text(errors="replace")[-2000:]
            raise SuiteError(f"the simulator exited with {proc.returncode} at start-up:"
                             f"\n{tail}")
        if time.monotonic() > deadline:
            raise SuiteError(f"the simulator did not answer within {STARTUP_TIMEOUT} s")
        time.sleep(0.1)
