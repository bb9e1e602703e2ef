"""Verdicts, their roll-up per requirement, the report files and redaction."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conformance import report
from conformance.catalogue import Requirement
from conformance.outcomes import (
    ERROR,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    SuiteError,
    Unimplemented,
    Violation,
    worst,
)
from conformance.plugin import classify
from conformance.redact import Redactor

KEY = "abk_SECRETsecret123456789"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImEifQ.c2lnbmF0dXJl"


def excinfo(exc: BaseException) -> pytest.ExceptionInfo:
    try:
        raise exc
    except BaseException as raised:  # noqa: BLE001
        return pytest.ExceptionInfo.from_exc_info((type(raised), raised, raised.__traceback__))


@pytest.mark.parametrize("exc, strict, verdict", [
    (None, True, PASS),
    (AssertionError("x"), True, FAIL),
    (AssertionError("x"), False, NON_STRICT),
    (Violation("x"), True, FAIL),
    (Unimplemented("no route"), True, UNIMPLEMENTED),
    (SuiteError("bad config"), True, ERROR),
    (KeyError("data"), True, ERROR),
    (ConnectionRefusedError(), True, ERROR),
])
def test_classify(exc, strict, verdict):
    got, _ = classify(None if exc is None else excinfo(exc), strict)
    assert got == verdict


def test_a_skip_is_skipped():
    with pytest.raises(pytest.skip.Exception) as info:
        pytest.skip("not in profile")
    assert classify(info, True) == (SKIPPED, "not in profile")


def test_worst_verdict_wins():
    assert worst([PASS, NON_STRICT, PASS]) == NON_STRICT
    assert worst([PASS, ERROR, UNIMPLEMENTED]) == ERROR
    assert worst([ERROR, FAIL]) == FAIL
    assert worst([SKIPPED, PASS]) == PASS
    assert worst([]) == SKIPPED


def requirement(rid: str, level: str = "MUST") -> Requirement:
    return Requirement(rid, level, "live-api", ({"seed": "001", "section": "#### `end`"},),
                       f"text of {rid}")


def sample_doc() -> dict:
    results = []
    for rid, verdict in [("A-B-001", PASS), ("A-B-002", FAIL), ("A-B-003", UNIMPLEMENTED),
                         ("A-B-004", ERROR), ("A-B-005", NON_STRICT)]:
        res = report.RequirementResult(requirement(rid))
        res.checks.append(report.CheckRecord(
            f"t::{rid}", verdict, message=f"{verdict} with key {KEY} and ?api_key={KEY}",
            evidence=[{"title": "log", "log": [{"at_ms": 1.0, "dir": ">>",
                                                 "data": {"headers": {"X-API-Key": KEY},
                                                          "token": JWT}}]}]))
        results.append(res)
    results.append(report.RequirementResult(requirement("A-B-006"), skip_reason="no check"))
    return report.build(results, {"id": "r1", "target": {"name": "t", "base_url": "u"},
                                  "profiles": ["live-api"]}, Redactor())


def test_summary_and_conformance_flag():
    summary = sample_doc()["summary"]
    assert (summary[PASS], summary[FAIL], summary[UNIMPLEMENTED], summary[ERROR],
            summary[NON_STRICT], summary[SKIPPED], summary["total"]) == (1, 1, 1, 1, 1, 1, 6)
    assert summary["conformant"] is False
    only_soft = report.summarize([report.RequirementResult(requirement("A-B-001"), [
        report.CheckRecord("t", NON_STRICT)])])
    assert only_soft["conformant"] is True


def test_files_are_written_and_secrets_redacted(tmp_path):
    paths = report.write(sample_doc(), tmp_path)
    for path in paths.values():
        text = path.read_text()
        assert KEY not in text and JWT not in text, path.name
    doc = json.loads(paths["json"].read_text())
    assert [r["verdict"] for r in doc["requirements"]] == [
        PASS, FAIL, UNIMPLEMENTED, ERROR, NON_STRICT, SKIPPED]
    assert doc["requirements"][5]["reason"] == "no check"
    suite = ET.parse(paths["junit"]).getroot()
    assert suite.get("tests") == "6" and suite.get("failures") == "2" \
        and suite.get("errors") == "1" and suite.get("skipped") == "1"
    cases = {c.get("name").split()[0]: c for c in suite}
    assert cases["A-B-002"].find("failure").get("type") == FAIL
    assert cases["A-B-003"].find("failure").get("type") == UNIMPLEMENTED
    assert cases["A-B-004"].find("error") is not None
    assert cases["A-B-001"].find("failure") is None
    md = paths["markdown"].read_text()
    assert "**Not conformant**" in md and md.index("| FAIL |") < md.index("| PASS |")


def test_redactor_masks_known_and_shaped_secrets_but_not_prose():
    redactor = Redactor()
    redactor.add("hunter2-password")
    scrubbed = redactor.scrub({
        "a": "login with hunter2-password", "b": f"Authorization: Bearer {KEY}",
        "c": f"ws://h/api/v1/live/ws?api_key={KEY[4:]}&username=alice", "d": [JWT],
        "e": '{"password": "plain-text-pw"}',
        "doc": "send `Authorization: Bearer <api_key>` or `?api_key=<key>`"})
    flat = json.dumps(scrubbed)
    for secret in ("hunter2-password", KEY, KEY[4:], JWT, "plain-text-pw"):
        assert secret not in flat
    assert "username=alice" in flat
    assert scrubbed["doc"] == "send `Authorization: Bearer <api_key>` or `?api_key=<key>`"


def test_nothing_judged_is_not_conformant():
    skipped = report.RequirementResult(requirement("A-B-001"), skip_reason="deselected")
    assert report.summarize([skipped])["conformant"] is False
