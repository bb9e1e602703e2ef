"""conformance/launcher.py: the throw-away simulators of `run --simulator`, started side by
side, each on its own port and data directory, all stopped by their PID afterwards, also when
one of them does not come up."""

from __future__ import annotations

import glob
import os
import urllib.request
from pathlib import Path

import pytest

from conformance import launcher
from conformance.outcomes import SuiteError


def simulators_of_this_process() -> list[int]:
    """PIDs of the running simulators this process started, from /proc."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            argv = Path(stat).with_name("cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue  # it ended meanwhile
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"simulator" in argv:
            found.append(int(Path(stat).parent.name))
    return found


def test_two_simulators_answer_on_their_own_ports_and_are_gone_afterwards():
    with launcher.simulators(2) as started:
        urls = [s.url for s in started]
        assert len(set(urls)) == 2
        for url in urls:
            with urllib.request.urlopen(url + "/api/v1/auth/setup-status", timeout=10) as resp:
                assert resp.status == 200
        dirs = {s.process.args[s.process.args.index("--data-dir") + 1] for s in started}
        assert len(dirs) == 2 and all(Path(d).is_dir() for d in dirs)
        assert sorted(simulators_of_this_process()) == sorted(s.process.pid for s in started)
    assert all(s.process.poll() is not None for s in started)
    assert simulators_of_this_process() == []
    assert not any(Path(d).exists() for d in dirs)


def test_a_simulator_that_does_not_come_up_is_one_error_and_leaves_none_running():
    with pytest.raises(SuiteError, match="exited with 2 at start-up"), \
            launcher.simulators(2, extra_args=["--no-such-option"]):
        pytest.fail("yielded simulators that never came up")
    assert simulators_of_this_process() == []
