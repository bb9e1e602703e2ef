"""Baselines: known failures gate nothing, new failures and stale entries gate, flaky never."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.baseline import Baseline, from_results
from conformance.outcomes import SuiteError

IDS = {"A-B-001", "A-B-002", "A-B-003", "A-B-004"}


def baseline(tmp_path, data: dict) -> Baseline:
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(data))
    return Baseline.load(path, IDS)


def test_matching_run_passes(tmp_path):
    b = baseline(tmp_path, {"known": {"A-B-001": {"verdict": "FAIL"},
                                      "A-B-002": "UNIMPLEMENTED"}})
    gate = b.compare({"A-B-001": "FAIL", "A-B-002": "UNIMPLEMENTED", "A-B-003": "PASS"})
    assert gate["passed"] and len(gate["expected"]) == 2 and not gate["new"]


def test_new_failure_and_stale_entry_gate(tmp_path):
    b = baseline(tmp_path, {"known": {"A-B-001": "FAIL", "A-B-002": "FAIL"},
                            "flaky": ["A-B-004"]})
    gate = b.compare({"A-B-001": "PASS", "A-B-002": "ERROR", "A-B-003": "FAIL",
                      "A-B-004": "FAIL"})
    assert not gate["passed"]
    assert [e["id"] for e in gate["stale"]] == ["A-B-001", "A-B-002"]
    assert [e["id"] for e in gate["new"]] == ["A-B-003"]
    assert [e["id"] for e in gate["flaky"]] == ["A-B-004"]


def test_non_strict_and_skipped_never_gate(tmp_path):
    gate = baseline(tmp_path, {}).compare({"A-B-001": "NON-STRICT", "A-B-002": "SKIPPED"})
    assert gate["passed"]


@pytest.mark.parametrize("data, problem", [
    ({"known": {"NOPE-X-001": "FAIL"}}, "not a requirement"),
    ({"known": {"A-B-001": "PASS"}}, "known verdict must be"),
    ({"flaky": ["NOPE-X-001"]}, "flaky"),
])
def test_invalid_baselines_are_refused(tmp_path, data, problem):
    with pytest.raises(SuiteError, match=problem):
        baseline(tmp_path, data)


def test_a_baseline_made_from_a_run_accepts_that_run(tmp_path):
    doc = {"run": {"id": "r1", "target": {"name": "t"}}, "requirements": [
        {"id": "A-B-001", "verdict": "FAIL", "reason": 'it said "no"'},
        {"id": "A-B-002", "verdict": "PASS", "reason": ""},
        {"id": "A-B-003", "verdict": "UNIMPLEMENTED", "reason": "HTTP 403"}]}
    path = tmp_path / "made.yaml"
    path.write_text(from_results(doc))
    gate = Baseline.load(path, IDS).compare({r["id"]: r["verdict"] for r in doc["requirements"]})
    assert gate["passed"] and [e["id"] for e in gate["expected"]] == ["A-B-001", "A-B-003"]


def test_the_shipped_astrbot_baseline_is_valid():
    from conformance.catalogue import load

    shipped = Path(__file__).resolve().parent.parent / "baselines" / "astrbot-4.26.2.yaml"
    b = Baseline.load(shipped, set(load().requirements))
    assert b.known["JWT-LIVE-004"] == "FAIL" and b.known["LIVE-TURN-001"] == "UNIMPLEMENTED"


def test_a_known_failure_no_check_judged_is_not_stale(tmp_path):
    """A run narrowed with -k or --profile leaves known failures unjudged: not stale."""
    from conformance import report
    from conformance.catalogue import Requirement
    from conformance.redact import Redactor

    b = baseline(tmp_path, {"known": {"A-B-001": "FAIL", "A-B-002": "FAIL"}})
    judged = report.RequirementResult(Requirement("A-B-001", "MUST", "p", (), "t"),
                                      [report.CheckRecord("n", "FAIL")])
    unselected = report.RequirementResult(Requirement("A-B-002", "MUST", "p", (), "t"))
    doc = report.build([judged, unselected], {}, Redactor(), b)
    gate = doc["summary"]["baseline"]
    assert gate["passed"] and [e["id"] for e in gate["expected"]] == ["A-B-001"]
    assert not gate["stale"]
