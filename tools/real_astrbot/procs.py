"""The processes a real-AstrBot deployment starts, and how they are stopped: by PID only.

Each process is recorded in ``<run>/<name>.pid`` and ``<run>/<name>.json`` (its exact argv and
its start time in /proc). A recorded PID is signalled only while both still match, so a PID
the kernel has since given to another program is never touched. ``up.py`` records, ``down.py``
and ``session.py`` stop. Stdlib only (Linux: /proc).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path


def proc_info(pid: int) -> tuple[list[str], str, str] | None:
    """(argv, start time, state) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0"), fields[19], fields[0]


def alive(pid: int, meta: dict) -> bool:
    """Whether `pid` is still the very process `meta` recorded (not a zombie, not a reuse)."""
    info = proc_info(pid)
    return (
        bool(info) and info[2] != "Z" and info[0] == meta["argv"] and info[1] == meta["starttime"]
    )


def recorded(run_dir: Path, name: str) -> tuple[int, dict] | None:
    """(pid, meta) recorded for `name`, or None when nothing (readable) is recorded."""
    try:
        pid = int((run_dir / f"{name}.pid").read_text().strip())
        meta = json.loads((run_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return pid, meta


def running(run_dir: Path, name: str) -> tuple[int, dict] | None:
    """(pid, meta) of the recorded process `name` if it is still running."""
    rec = recorded(run_dir, name)
    return rec if rec and alive(*rec) else None


def tail(path: Path, n: int = 40) -> str:
    """The last `n` lines of a log, colours removed."""
    try:
        text = re.sub(r"\x1b\[[0-9;]*m", "", path.read_text(errors="replace"))
        return "\n".join(text.splitlines()[-n:])
    except OSError:
        return "(no log)"


def _signal_until_gone(pid: int, is_alive, timeout: float, say) -> bool:
    """SIGTERM, then SIGKILL after `timeout` s; True once the process is gone."""
    say(f"SIGTERM pid {pid}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_alive():
        time.sleep(0.1)
    if is_alive():
        say(f"still running after {timeout:.0f} s, SIGKILL pid {pid}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return True
        for _ in range(50):
            if not is_alive():
                break
            time.sleep(0.1)
    return not is_alive()


def stop_recorded(run_dir: Path, name: str, timeout: float = 15.0, say=print) -> bool:
    """Stop the process recorded as `name` if it is still the one recorded (else touch
    nothing); forget the record once it is gone. True when nothing of it runs any more."""
    if not (run_dir / f"{name}.pid").exists():
        return True
    rec = recorded(run_dir, name)
    if rec is None:
        say(f"{name}: unreadable record in {run_dir}; not touching anything")
        return False
    pid, meta = rec
    gone = not alive(pid, meta) or _signal_until_gone(
        pid, lambda: alive(pid, meta), timeout, lambda m: say(f"{name}: {m}"))
    if gone:
        (run_dir / f"{name}.pid").unlink(missing_ok=True)
        (run_dir / f"{name}.json").unlink(missing_ok=True)
    else:
        say(f"{name}: pid {pid} did not exit")
    return gone


class Processes:
    """The processes one deployment started, in start order. Each is held as a Popen (our
    child: its PID cannot be reused before we reap it) and recorded in `run_dir` (so down.py,
    another process, can stop it too). ``stop_all`` stops them newest first."""

    def __init__(self, run_dir: Path, say=print):
        self.run_dir, self.say = run_dir, say
        self.started: list[tuple[str, subprocess.Popen]] = []
        run_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], cwd: Path, env: dict | None = None,
              logfile: Path | None = None, new_session: bool = True,
              extra: dict | None = None) -> subprocess.Popen:
        """Start `argv` (output appended to `logfile`, else inherited) and record it. With
        `new_session` it has its own session, so a Ctrl-C in the terminal does not reach it:
        it is stopped by PID, in order."""
        out = None
        if logfile is not None:
            out = open(logfile, "ab")  # noqa: SIM115 (closed below; the child keeps its copy)
            out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start {argv}\n".encode())
            out.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT if out else None,
                                    start_new_session=new_session)
        finally:
            if out is not None:
                out.close()
        self.started.append((name, proc))
        # /proc shows the new argv once the child has exec'd: wait for it (a few ms) to record
        # the start time down.py compares
        info = None
        for _ in range(100):
            info = proc_info(proc.pid)
            if proc.poll() is not None or (info and info[0] == argv):
                break
            time.sleep(0.02)
        if proc.poll() is None and info and info[0] == argv:
            meta = {"argv": argv, "starttime": info[1], "cwd": str(cwd), **(extra or {})}
            (self.run_dir / f"{name}.json").write_text(json.dumps(meta) + "\n")
            (self.run_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        return proc

    def stop_all(self, timeout: float = 15.0) -> bool:
        """Stop every process started here that still runs, newest first; True when all are
        gone."""
        ok = True
        while self.started:
            name, proc = self.started.pop()
            if proc.poll() is None:
                gone = _signal_until_gone(proc.pid, lambda p=proc: p.poll() is None, timeout,
                                          lambda m, n=name: self.say(f"{n}: {m}"))
                ok = ok and gone
                if not gone:  # the record stays, for down.py
                    self.say(f"{name}: pid {proc.pid} did not exit")
                    continue
                self.say(f"{name}: stopped")
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
            (self.run_dir / f"{name}.json").unlink(missing_ok=True)
        return ok
