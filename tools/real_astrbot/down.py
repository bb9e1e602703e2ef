#!/usr/bin/env python3
"""Stop the AstrBot and stub processes that up.py started (by recorded PID only).

A recorded PID is signalled only if /proc/<pid>/cmdline and its start time still match what
up.py recorded, so a reused PID is never touched. SIGTERM first, SIGKILL after --timeout.
``--wipe`` also deletes the data (astrbot-root, logs, run, target.toml) but keeps the venvs.
Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parent.parent / ".real-astrbot"
NAMES = ("astrbot", "stub")  # AstrBot first, so it does not log errors about a vanished stub


def proc_info(pid: int) -> tuple[list[str], str, str] | None:
    """(argv, start time, state) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0"), fields[19], fields[0]


def alive(pid: int, meta: dict) -> bool:
    info = proc_info(pid)
    return (
        bool(info) and info[2] != "Z" and info[0] == meta["argv"] and info[1] == meta["starttime"]
    )


def stop(run_dir: Path, name: str, timeout: float) -> bool:
    pid_file, meta_file = run_dir / f"{name}.pid", run_dir / f"{name}.json"
    if not pid_file.exists():
        print(f"{name}: no pid file, nothing to stop")
        return True
    try:
        pid = int(pid_file.read_text().strip())
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as e:
        print(f"{name}: unreadable pid/meta file ({e}); not touching anything")
        return False
    if not alive(pid, meta):
        print(f"{name}: pid {pid} is not running (or is another program now); nothing to stop")
        pid_file.unlink(missing_ok=True)
        meta_file.unlink(missing_ok=True)
        return True
    print(f"{name}: SIGTERM pid {pid}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid, meta):
        time.sleep(0.2)
    if alive(pid, meta):
        print(f"{name}: still running after {timeout:.0f} s, SIGKILL pid {pid}")
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not alive(pid, meta):
                break
            time.sleep(0.1)
    if alive(pid, meta):
        print(f"{name}: pid {pid} did not exit", file=sys.stderr)
        return False
    print(f"{name}: stopped")
    pid_file.unlink(missing_ok=True)
    meta_file.unlink(missing_ok=True)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--wipe", action="store_true", help="also delete data, logs and target.toml")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds before SIGKILL")
    args = ap.parse_args()
    root = args.root.resolve()
    run_dir = root / "run"
    stopped = all([stop(run_dir, name, args.timeout) for name in NAMES])
    if args.wipe:
        if not stopped:
            print("not wiping: a process could not be stopped", file=sys.stderr)
            return 1
        for p in (root / "astrbot-root", root / "logs", run_dir):
            if p.exists():
                shutil.rmtree(p)
                print(f"removed {p}")
        (root / "target.toml").unlink(missing_ok=True)
    return 0 if stopped else 1


if __name__ == "__main__":
    sys.exit(main())
