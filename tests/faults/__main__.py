"""Serve one fault as a target: `python -m tests.faults NAME [astrbot-sim options]`, e.g.
`python -m tests.faults no-bot-msg-without-tts --port 6190 --data-dir /tmp/f`. The fault's
patch is applied, then the simulator starts exactly as `astrbot-sim` does."""

from __future__ import annotations

import sys

from simulator import cli

from . import catalogue


def main(argv: list[str]) -> int:
    problems: list[str] = []
    faults = catalogue(problems)  # another area's problem must not stop this fault
    if not argv or argv[0] not in faults:
        print(f"usage: python -m tests.faults NAME [astrbot-sim options]; NAME one of: "
              f"{', '.join(faults)}", file=sys.stderr)
        return 2
    fault = faults[argv[0]]
    fault.patch()
    return cli.main([*fault.sim_args, *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
