"""Verdicts, their roll-up per requirement, the report files and redaction."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

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
    # the wire rule (outcomes.py): a target that stops accepting connections mid-run fails
    (ConnectionRefusedError(), True, FAIL),
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
        and suite.get("errors") == "1" and suite.get("skipped") == "2"  # NON-STRICT too
    cases = {c.get("name").split()[0]: c for c in suite.iter("testcase")}
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


# --- the report files: schema, scores, JUnit, summary.md, reports/latest -----------------------

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "specs" / "results.schema.json")
                    .read_text())


def validate(doc: dict) -> None:
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(SCHEMA, format_checker=Draft202012Validator
                                         .FORMAT_CHECKER).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def full_run(doc: dict) -> dict:
    doc["run"].update(started_at="2026-12-01T10:00:00+00:00", duration_s=1.5, depth="quick",
                      seed=1)
    return doc


def test_results_match_their_schema_and_the_schema_can_fail():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(SCHEMA)
    doc = full_run(sample_doc())
    validate(doc)
    broken = json.loads(json.dumps(doc))
    broken["requirements"][1]["verdict"] = "KINDA"
    broken["summary"]["scores"]["live-api"]["MUST"].pop("judged")
    del broken["run"]["ended_at"]
    with pytest.raises(AssertionError) as info:
        validate(broken)
    for where in ("verdict", "judged", "ended_at"):
        assert where in str(info.value)


def test_scores_count_must_and_should_apart_and_never_count_error_against_the_target():
    results = [report.RequirementResult(requirement(rid, level), [report.CheckRecord("t", v)])
               for rid, level, v in [("A-B-001", "MUST", PASS), ("A-B-002", "MUST", FAIL),
                                     ("A-B-003", "MUST", UNIMPLEMENTED),
                                     ("A-B-004", "MUST", ERROR), ("A-B-005", "SHOULD", PASS),
                                     ("A-B-006", "SHOULD", NON_STRICT)]]
    results.append(report.RequirementResult(requirement("A-B-007", "MUST")))  # skipped
    scores = report.scores(results)["live-api"]
    assert list(scores) == ["MUST", "SHOULD"]
    must, should = scores["MUST"], scores["SHOULD"]
    assert (must["total"], must["judged"], must[PASS], must[FAIL], must[UNIMPLEMENTED],
            must[ERROR], must[SKIPPED]) == (5, 3, 1, 1, 1, 1, 1)
    assert must["score"] == round(1 / 3, 4)  # the ERROR and the SKIPPED are not judged
    assert (should["judged"], should[NON_STRICT], should["score"]) == (2, 1, 0.5)
    line = report.score_line("live-api", scores)
    assert line.startswith("live-api: MUST 1/3, SHOULD 1/2 (")
    assert "1 UNIMPLEMENTED" in line and "1 FAIL" in line and "1 ERROR" in line


def test_junit_shows_every_verdict_and_is_valid_xml_even_with_control_characters(tmp_path):
    doc = full_run(sample_doc())
    doc["requirements"][1]["reason"] = "garbage \x00\x1b[31m\x07 from the target \ud800"
    doc["requirements"][1]["duration_s"] = 2.25
    suite = ET.fromstring(report.junit_xml(doc))  # parses: every character is XML
    cases = {c.get("name").split()[0]: c for c in suite.iter("testcase")}
    props = {k: {p.get("name"): p.get("value") for p in c.iter("property")}
             for k, c in cases.items()}
    assert {k: p["verdict"] for k, p in props.items()} == {
        "A-B-001": PASS, "A-B-002": FAIL, "A-B-003": UNIMPLEMENTED, "A-B-004": ERROR,
        "A-B-005": NON_STRICT, "A-B-006": SKIPPED}
    assert cases["A-B-002"].get("time") == "2.250"
    assert "\x00" not in cases["A-B-002"].find("failure").get("message")
    soft = cases["A-B-005"].find("skipped")
    assert soft.get("type") == NON_STRICT and soft.get("message").startswith("NON-STRICT (MUST)")
    assert cases["A-B-003"].find("failure").get("message").startswith("UNIMPLEMENTED")
    assert suite.get("skipped") == "2"  # NON-STRICT and SKIPPED


def test_summary_md_lists_what_did_not_pass_first_and_escapes_table_cells():
    doc = full_run(sample_doc())
    doc["requirements"][1]["reason"] = "a | b\nsecond line <details> " + "x" * 400
    md = report.markdown(doc)
    first_table = md.index("### Requirements that did not pass")
    assert md.index("| FAIL |") > first_table
    assert md.index("<details><summary>All 6 requirements") > md.index("| FAIL |")
    row = next(x for x in md.splitlines() if x.startswith("| FAIL |"))
    assert "a \\| b second line &lt;details&gt;" in row
    assert row.count(" | ") == 4 and row.endswith("... |")  # five cells, cut short
    assert md.count("<details><summary>") == md.count("</details>")  # (one more in a fence)
    assert "- live-api: MUST 1/4" in md
    assert len(md) < 65536  # fits a GitHub comment


def test_summary_md_stays_short_with_much_evidence():
    doc = full_run(sample_doc())
    big = [{"at_ms": float(i), "dir": "<<", "data": {"t": "bot_text_chunk", "data": "y" * 150}}
           for i in range(200)]
    for req in doc["requirements"]:
        for check in req["checks"]:
            check["evidence"] = [{"title": "log", "log": big}]
    doc["requirements"] *= 60
    md = report.markdown(doc)
    assert len(md) < 120_000 and "left out to keep this short" in md


def test_reports_latest_points_at_the_newest_run(tmp_path):
    reports = tmp_path / "reports"
    first = report.write(full_run(sample_doc()), reports / "run-1")
    latest = reports / "latest"
    assert (latest / "results.json").read_text() == first["json"].read_text()
    doc = full_run(sample_doc())
    doc["run"]["id"] = "run-2"
    report.write(doc, reports / "run-2")
    assert json.loads((latest / "results.json").read_text())["run"]["id"] == "run-2"
    assert latest.is_symlink() and not list(reports.glob(".latest-*"))
    other = report.write(full_run(sample_doc()), tmp_path / "elsewhere")  # not under reports/
    assert other["html"].exists() and not (tmp_path / "latest").exists()


def test_the_html_marks_the_frames_a_failure_names():
    from conformance.html_report import mark_rules

    log = [{"at_ms": 1.0, "dir": ">>", "data": {"t": "text_input"}},
           {"at_ms": 2.0, "dir": "<<", "data": {"t": "user_msg"}},
           {"at_ms": 3.0, "dir": "<<", "data": {"t": "end"}},
           {"at_ms": 4.0, "dir": "<<", "data": {"t": "bot_msg"}, "violation": "after end"}]
    res = report.RequirementResult(requirement("A-B-001"), [report.CheckRecord(
        "t", FAIL, "turn: frame #2 (end): a new turn opened", evidence=[
            {"title": "turn", "log": log}])])
    doc = mark_rules(report.build([res], {"target": {}}, Redactor()))
    marked = [e.get("marks") for e in doc["requirements"][0]["checks"][0]["evidence"][0]["log"]]
    assert marked == [None, None, ["frame #2 (end): a new turn opened"], ["after end"]]


def test_the_quiet_table_folds_rows_with_one_reason():
    from conformance.console import fold

    same = [report.RequirementResult(requirement(f"A-B-00{i}"), [report.CheckRecord(
        "t", UNIMPLEMENTED, "handshake answered 403")]) for i in range(1, 6)]
    other = report.RequirementResult(requirement("A-C-001"), [report.CheckRecord(
        "t", FAIL, f"no busy error with {KEY}")])
    rows = fold([*same, other], Redactor())
    assert rows[0][:2] == (FAIL, "A-C-001") and KEY not in rows[0][3]  # worst first, redacted
    assert rows[1] == (UNIMPLEMENTED, "5 live-api", "",
                       "(A-B-001 .. A-B-005) handshake answered 403")
    assert len(rows) == 2
    assert len(fold(same[:3], Redactor())) == 3  # too few to fold


def test_allure_results_get_the_run_wide_checks_and_lose_their_secrets(tmp_path):
    from conformance import allure_results

    leaked = tmp_path / "0-result.json"
    leaked.write_text(json.dumps({"statusDetails": {"message": f"GET /x?api_key={KEY}"}}))
    sweep = report.RequirementResult(requirement("A-B-001"), [report.CheckRecord(
        "<frame-order invariants over all 2 live frame logs>", FAIL, "frame #2 (end): late",
        evidence=[{"title": "turn", "log": [{"at_ms": 1.0, "dir": "<<", "data": {"t": "end"}}]}])])
    doc = report.build([sweep], {"target": {"base_url": "http://127.0.0.1:1"}, "profiles": ["x"],
                                 "depth": "quick", "seed": 3}, Redactor())
    allure_results.finish(tmp_path, doc["run"], Redactor(), doc["requirements"])
    assert KEY not in leaked.read_text()
    assert "seed=3" in (tmp_path / "environment.properties").read_text()
    results = [json.loads(p.read_text()) for p in tmp_path.glob("*-result.json") if p != leaked]
    assert len(results) == 1 and results[0]["status"] == "failed"
    labels = {(x["name"], x["value"]) for x in results[0]["labels"]}
    assert {("epic", "live-api"), ("feature", "A-B"), ("story", "A-B-001"),
            ("severity", "critical")} <= labels
    attached = tmp_path / results[0]["attachments"][0]["source"]
    assert json.loads(attached.read_text())["title"] == "turn"


@pytest.mark.parametrize("verdicts, extra, title", [
    ([PASS, NON_STRICT], {}, "Conformant"),
    ([PASS, FAIL], {}, "Not conformant"),
    ([PASS, ERROR], {}, "Not judged"),
    ([ERROR], {"preflight": "cannot reach it"}, "Not judged: preflight failed"),
])
def test_the_html_headline_says_what_the_exit_status_says(verdicts, extra, title):
    from conformance.html_report import render

    results = [report.RequirementResult(requirement(f"A-B-00{i}"), [report.CheckRecord("t", v)])
               for i, v in enumerate(verdicts, 1)]
    doc = report.build(results, {"target": {"base_url": "u"}}, Redactor())
    doc["summary"].update(extra)
    page = render(doc)
    assert f'<h1 id="headline">{title}</h1>' in page
    blob = page.split('<script type="application/json" id="data">', 1)[1].split("</script>")[0]
    assert json.loads(blob)["requirements"][0]["id"] == "A-B-001"  # the embedded data parses


def test_hostile_text_from_the_target_cannot_end_the_embedded_data():
    from conformance.html_report import render

    hostile = '</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)>'
    res = report.RequirementResult(requirement("A-B-001"), [report.CheckRecord(
        "t", FAIL, hostile, evidence=[{"title": hostile, "log": [
            {"at_ms": 1.0, "dir": "<<", "data": hostile}]}])])
    page = render(report.build([res], {"target": {"name": hostile}}, Redactor()))
    assert hostile not in page and "<img src=x" not in page
    assert page.count("</script>") == 2  # the data block's and the page script's own
