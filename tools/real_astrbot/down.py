#!/usr/bin/env python3
"""Stop the processes up.py or session.py started for a release (by recorded PID only).

    python3 tools/real_astrbot/down.py                    # every release under .real-astrbot/
    python3 tools/real_astrbot/down.py --version 4.29.3   # one release (.real-astrbot/4.29.3)
    python3 tools/real_astrbot/down.py --root DIR --wipe  # one data directory, then delete it

A recorded PID is signalled only if /proc/<pid>/cmdline and its start time still match the
record (procs.py), so a reused PID is never touched. SIGTERM first, SIGKILL after --timeout.
``--wipe`` also deletes the data (astrbot-root, logs, run, target.toml) but keeps the venvs.
Stdlib only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from procs import stop_recorded

HERE = Path(__file__).resolve().parent
DEFAULT_HOME = HERE.parent.parent / ".real-astrbot"
# AstrBot first, so it does not log errors about vanished providers; "stub" is the old name
NAMES = ("suite", "astrbot", "providers", "stub")


def stop_root(root: Path, timeout: float = 15.0, say=print) -> bool:
    """Stop every process recorded under root/run; True when none of them runs any more."""
    return all([stop_recorded(root / "run", name, timeout, say) for name in NAMES])


def wipe(root: Path, say=print) -> None:
    """Delete a release's data (never a venv)."""
    for p in (root / "astrbot-root", root / "logs", root / "run"):
        if p.exists():
            shutil.rmtree(p)
            say(f"removed {p}")
    (root / "target.toml").unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=DEFAULT_HOME)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--version", action="append", help="a release (repeatable)")
    where.add_argument("--root", type=Path, help="a data directory")
    ap.add_argument("--wipe", action="store_true", help="also delete data, logs and target.toml")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds before SIGKILL")
    args = ap.parse_args()
    home = args.home.resolve()
    if args.root:
        roots = [args.root.resolve()]
    elif args.version:
        roots = [home / v for v in args.version]
    else:
        roots = sorted(p.parent for p in home.glob("*/run")) + ([home] if (home / "run").is_dir()
                                                                else [])
    status = 0
    for root in roots:
        print(f"{root}:")
        if not stop_root(root, args.timeout, lambda m: print(f"  {m}")):
            status = 1
            if args.wipe:
                print(f"  not wiping {root}: a process could not be stopped", file=sys.stderr)
            continue
        if args.wipe:
            wipe(root, lambda m: print(f"  {m}"))
    return status


if __name__ == "__main__":
    sys.exit(main())
