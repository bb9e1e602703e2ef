"""The benchmarks' machine readings (bench/live_bench.py): CPU steal, printed beside every
latency figure so that a run on a crowded virtual machine says so."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import live_bench  # noqa: E402


def test_steal_is_the_stolen_share_of_the_machine_time_between_two_readings():
    assert live_bench.steal_share((100, 1000), (130, 1100)) == pytest.approx(0.3)
    assert live_bench.steal_share((100, 1000), (100, 1100)) == 0.0
    # no reading, or no time between them: nothing to tell
    assert live_bench.steal_share(None, (1, 2)) is None
    assert live_bench.steal_share((1, 2), None) is None
    assert live_bench.steal_share((1, 2), (1, 2)) is None


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="Linux /proc/stat")
def test_the_host_reading_comes_from_proc_stat_and_only_grows():
    before = live_bench.host_cpu_jiffies()
    sum(i * i for i in range(200_000))  # some CPU time passes
    after = live_bench.host_cpu_jiffies()
    assert before is not None and after is not None
    fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    assert before[0] <= after[0] <= fields[7]  # steal is the 8th value of the cpu line
    assert before[1] <= after[1] <= sum(fields)
    share = live_bench.steal_share(before, after)
    assert share is None or 0.0 <= share <= 1.0
