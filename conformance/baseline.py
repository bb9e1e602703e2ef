"""Baselines: the known failures of a target, so CI gates on change, not on old news.

    # baselines/astrbot-4.26.2.yaml
    target: astrbot-4.26.2
    known:                       # requirement id -> the verdict it is known to get
      JWT-LIVE-002: {verdict: FAIL, why: "text_input is ignored (research DIFF-004)"}
    flaky: [LIVE-XXX-001]        # never gates, whatever its verdict

With a baseline the run passes when every gating verdict (FAIL, UNIMPLEMENTED, ERROR) is known
with that verdict; it fails on a new failure, and on a stale entry: a known failure that now
gets another verdict (remove it from the file: the target improved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .outcomes import ERROR, FAIL, UNIMPLEMENTED, SuiteError

GATING = (FAIL, UNIMPLEMENTED, ERROR)


@dataclass
class Baseline:
    path: str
    known: dict[str, str]  # requirement id -> expected verdict
    flaky: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: str | Path, catalogue_ids: set[str]) -> Baseline:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SuiteError(f"cannot read baseline {path}: {exc}") from exc
        known, problems = {}, []
        for rid, entry in (data.get("known") or {}).items():
            verdict = entry.get("verdict") if isinstance(entry, dict) else entry
            if rid not in catalogue_ids:
                problems.append(f"{rid}: not a requirement of the catalogue")
            elif verdict not in GATING:
                problems.append(f"{rid}: known verdict must be one of {', '.join(GATING)}")
            else:
                known[rid] = verdict
        flaky = set(data.get("flaky") or [])
        problems += [f"{rid}: not a requirement of the catalogue (flaky)"
                     for rid in sorted(flaky - catalogue_ids)]
        if problems:
            raise SuiteError(f"invalid baseline {path}:\n  " + "\n  ".join(problems))
        return cls(str(path), known, flaky)

    def compare(self, verdicts: dict[str, str]) -> dict:
        """How the run's verdicts (requirement id -> verdict) stand against the baseline."""
        expected, new, stale, flaky = [], [], [], []
        for rid, verdict in sorted(verdicts.items()):
            if rid in self.flaky:
                flaky.append({"id": rid, "verdict": verdict})
            elif rid in self.known:
                entry = {"id": rid, "verdict": verdict, "known": self.known[rid]}
                (expected if verdict == self.known[rid] else stale).append(entry)
            elif verdict in GATING:
                new.append({"id": rid, "verdict": verdict})
        # a stale entry that now gets another gating verdict is a change too: it gates
        return {"file": self.path, "expected": expected, "new": new, "stale": stale,
                "flaky": flaky, "passed": not new and not stale}


def from_results(doc: dict) -> str:
    """A baseline (YAML) accepting every gating verdict of a results.json document."""
    target = doc["run"].get("target", {}).get("name", "target")
    lines = [f"# Known failures of {target}, from run {doc['run'].get('id')}.",
             "# Keep `why` up to date; delete an entry when the target fixes it.",
             f"target: {target}", "known:"]
    for req in doc["requirements"]:
        if req["verdict"] in GATING:
            why = " ".join(req["reason"].split())[:150].replace('"', "'")
            lines.append(f'  {req["id"]}: {{verdict: {req["verdict"]}, why: "{why}"}}')
    return "\n".join(lines + ["flaky: []", ""])
