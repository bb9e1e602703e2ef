"""What a conformance run prints while it runs and when it ends.

Three output modes (`--astrbot-output`, set by `astrbot-conformance run`):

- `pytest`   pytest's own output (`-v` of the CLI, and the plain pytest-plugin route), then the
             verdict table;
- `progress` (the CLI's default) pytest's reporter is muted: one line per phase with counts
             (checks done, requirements judged, operations fuzzed of total), then the table;
- `quiet`    (`-q`) only the final table and the report paths.

In the muted modes the run's last lines are always the verdict table and its headline, never a
pytest summary ("1 failed") contradicting them. The table lists what did not pass; rows with the
same verdict and reason are folded into one, so an endpoint that is absent for 49 requirements
is one line, not 49.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext

from _pytest._io import TerminalWriter

from .outcomes import ERROR, FAIL, NON_STRICT, PASS, SKIPPED, UNIMPLEMENTED

MODES = ("pytest", "progress", "quiet")
FOLD_AT = 4  # rows with one verdict and reason, in one profile, folded from this many
PROGRESS_EVERY_S = 10.0  # at most one progress line per phase this often
ROW_ORDER = (FAIL, UNIMPLEMENTED, ERROR, NON_STRICT, SKIPPED)


class Console:
    def __init__(self, config, mode: str):
        self.config = config
        self.mode = mode if mode in MODES else "pytest"
        self.out = TerminalWriter(sys.stdout)
        self.started = time.monotonic()
        self.total_items = 0
        self.done_items = 0
        self.phase = None
        self.phase_items = 0
        self.phase_verdicts: dict[str, int] = {}
        self._last_progress: dict[str, float] = {}
        self._sink = None
        self.muted = False

    # pytest's reporter ---------------------------------------------------------------------
    def mute_pytest(self) -> None:
        """Send pytest's own terminal output to nowhere (progress and quiet modes)."""
        if self.mode == "pytest":
            return
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            self._sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (closed at end)
            reporter._tw = TerminalWriter(self._sink)
            self.muted = True

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def _uncaptured(self):
        capman = self.config.pluginmanager.getplugin("capturemanager")
        return capman.global_and_fixture_disabled() if capman is not None else nullcontext()

    def line(self, text: str = "", **markup) -> None:
        """One line to the user's terminal, even while pytest captures a check's output."""
        with self._uncaptured():
            self.out.line(text, **markup)
            self.out.flush()

    def internal_error(self, text: str) -> None:
        last = [x for x in str(text).splitlines() if x.strip()][-1:] or ["?"]
        print(f"astrbot-conformance: internal error: {last[0]}", file=sys.stderr)

    # progress ------------------------------------------------------------------------------
    def collected(self, items: int, requirements: int, profiles: list[str],
                  operations: str = "") -> None:
        self.total_items = items
        if self.mode == "progress":
            self.line(f"{items} checks for {requirements} requirements "
                      f"({', '.join(profiles)})" + (f"; {operations}" if operations else ""))

    def check_starting(self, nodeid: str, judged: int, total: int) -> None:
        """Before each check: a line for the phase (scenario module) that just ended."""
        phase = nodeid.split("::", 1)[0]
        if phase != self.phase:
            self._end_phase(judged, total)
            self.phase, self.phase_items, self.phase_verdicts = phase, 0, {}

    def check_done(self, nodeid: str, verdicts: list[str], judged: int, total: int) -> None:
        self.done_items += 1
        self.phase_items += 1
        for v in verdicts:
            self.phase_verdicts[v] = self.phase_verdicts.get(v, 0) + 1
        self._judged = (judged, total)

    def finish_checks(self) -> None:
        self._end_phase(*getattr(self, "_judged", (0, 0)))
        self.phase = None

    def _end_phase(self, judged: int, total: int) -> None:
        if self.mode != "progress" or self.phase is None:
            return
        counts = " ".join(f"{n} {v}" for v, n in sorted(self.phase_verdicts.items()))
        self.line(f"[{self.done_items:>4}/{self.total_items} checks, {judged}/{total} "
                  f"requirements judged, {self._elapsed()}] {self.phase}: "
                  f"{self.phase_items} checks ({counts})")

    def fuzz_progress(self, document: str, phase: str, done: int, total: int) -> None:
        """Called by the schemathesis runner as operations finish (conformance/fuzz.py)."""
        if self.mode != "progress":
            return
        key = f"{document} {phase}"
        now = time.monotonic()
        first = key not in self._last_progress
        if not first and now - self._last_progress[key] < PROGRESS_EVERY_S and done < total:
            return
        if not first and done >= total and self._last_progress[key] < 0:
            return  # the complete line was printed already
        self._last_progress[key] = -1.0 if done >= total else now
        text = f"  schemathesis {document} {phase}: {done} of {total} operations"
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:  # an xdist worker's stdout is its channel to the controller: its stderr is
            # the user's terminal (the controller prints the phase lines, conformance/parallel)
            with self._uncaptured():
                print(f"{text} [{worker}, {self._elapsed()}]", file=sys.__stderr__, flush=True)
        else:
            self.line(f"{text} [{self._elapsed()}]")

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"{s // 60}:{s % 60:02d}"

    # the end -------------------------------------------------------------------------------
    def table(self, results, redactor, headline: str, gate: dict | None, paths: dict,
              score_lines: list[str], write=None) -> None:
        """The final verdict table: every requirement with `-v`, else what did not pass
        (folded), the score per profile, the report paths, then the headline last."""
        write = write or self.line
        ranked = sorted(results, key=lambda r: r.requirement.id)
        if self.mode == "pytest":
            for r in ranked:
                write(_row(r.verdict, r.requirement.id, r.requirement.level,
                           "" if r.verdict == PASS else redactor.scrub(r.reason)))
        else:
            for verdict, rid, level, reason in fold(
                    [r for r in ranked if r.verdict != PASS], redactor):
                write(_row(verdict, rid, level, reason))
        for line in score_lines:
            write(line)
        if gate:
            write(f"baseline {gate['file']}: {'PASSED' if gate['passed'] else 'FAILED'} "
                  f"({len(gate['expected'])} known, {len(gate['new'])} new, "
                  f"{len(gate['stale'])} stale, {len(gate['flaky'])} flaky)")
            for entry in gate["new"]:
                write(f"  new {entry['verdict']}: {entry['id']}")
            for entry in gate["stale"]:
                write(f"  stale: {entry['id']} is {entry['verdict']}, the baseline says "
                      f"{entry['known']}")
        for kind, path in paths.items():
            write(f"report {kind}: {path}")
        write(headline)


def _row(verdict: str, rid: str, level: str, reason: str) -> str:
    line = f"{verdict:<13} {rid:<16} {level:<6}"
    if reason:
        line += " " + " ".join(reason.split())[:150]
    return line.rstrip()


def fold(results, redactor) -> list[tuple[str, str, str, str]]:
    """Rows (verdict, id, level, reason) of `results`, worst first; FOLD_AT or more with the
    same profile, verdict and reason become one row naming how many and the first and last."""
    groups: dict[tuple, list] = {}
    for r in results:
        reason = " ".join(redactor.scrub(r.reason).split())
        groups.setdefault((r.requirement.profile, r.verdict, reason[:150]), []).append(r)
    order = {v: i for i, v in enumerate(ROW_ORDER)}
    rows = []
    for (profile, verdict, reason), members in sorted(
            groups.items(), key=lambda kv: (order.get(kv[0][1], 9), kv[1][0].requirement.id)):
        if len(members) >= FOLD_AT:
            ids = [m.requirement.id for m in members]
            rows.append((verdict, f"{len(ids)} {profile}", "", f"({ids[0]} .. {ids[-1]}) "
                         + reason))
        else:
            rows += [(verdict, m.requirement.id, m.requirement.level, reason) for m in members]
    return rows
