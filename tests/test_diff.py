"""`astrbot-conformance diff A B` (conformance/diff.py): two results documents built here from
a small template, A shaped as real AstrBot 4.26.2 answered the suite and B as 4.29.3 does
(research notes section 6: `run_started`, `message_saved` earlier, chat-mode sends that run
concurrently on the unified socket, the `chat:admin` and `config:edit_admin` scopes). Every
kind of change is found; an identical pair has none and exits 0."""

from __future__ import annotations

import copy
import json

import pytest

from conformance import cli, diff, observed, surface

from .test_observed import CHAT_426, UNIFIED_426, http_log, run_doc, sse_log, ws_log
from .test_surface import served

CHAT_429 = [CHAT_426[0], CHAT_426[1],
            {"type": "run_started", "data": {"run_id": "r1"}, "streaming": False,
             "message_id": "r1"},
            {"type": "message_saved", "data": {"id": 7, "created_at": "x"}},
            *CHAT_426[2:4],
            {"type": "agent_stats", "data": {"token_usage": {}, "start_time": 1.0,
                                             "current_context_tokens": 9}},
            CHAT_426[5], CHAT_426[7]]
UNIFIED_429 = [UNIFIED_426[0],
               ("<<", {"ct": "chat", "type": "user_message_saved", "data": {"id": 1}}),
               ("<<", {"ct": "chat", "type": "plain", "data": "a", "message_id": "m1"}),
               (">>", {"ct": "chat", "t": "interrupt"}),
               ("<<", {"ct": "chat", "t": "error", "data": "INTERRUPTED",
                       "code": "INTERRUPTED"}),
               ("<<", {"ct": "chat", "t": "error", "data": "Duplicate active message_id",
                       "code": "DUPLICATE_MESSAGE_ID"})]
SSE_TITLE = "POST /api/v1/chat without session_id"
UNI_TITLE = "chat mode: interrupt a slow reply on /api/v1/unified-chat/ws"


def operations(version: str) -> list[dict]:
    rows = [{"document": "v1", "method": "GET", "path": "/api/v1/chat/configs",
             "operation_id": "listChatConfigs", "verdict": "FAIL", "reason": "lacking chat key",
             "requirements": {"V1-SCOPE-003": "FAIL"},
             "scope_matrix": {"lacking chat key": 200, "exact key": 403}},
            {"document": "v1", "method": "POST", "path": "/api/v1/plugins/validate/repo",
             "operation_id": "validatePluginRepo", "verdict": "UNIMPLEMENTED", "reason": "405",
             "requirements": {"V1-SCOPE-002": "UNIMPLEMENTED"},
             "scope_matrix": {"none": 405}}]
    if version == "4.29.3":
        rows[1].update(verdict="PASS", requirements={"V1-SCOPE-002": "PASS"},
                       scope_matrix={"none": 401}, reason="")
        rows.append({"document": "v1", "method": "GET", "path": "/api/v1/trace/history",
                     "operation_id": "x", "verdict": "PASS", "reason": "",
                     "requirements": {"V1-SCOPE-001": "PASS"}})
    return rows


def release(version: str) -> dict:
    """A results document as the suite writes it for real AstrBot `version`."""
    new = version == "4.29.3"
    evidence = [sse_log(SSE_TITLE, CHAT_429 if new else CHAT_426),
                ws_log(UNI_TITLE, "/api/v1/unified-chat/ws?token=***",
                       UNIFIED_429 if new else UNIFIED_426, "websocket-unified"),
                http_log("POST /api/v1/chat as the reserved admin username",
                         [("POST", "/api/v1/chat", 400 if new else 200)])]
    verdicts = {"JWT-UNI-004": "FAIL" if new else "PASS", "OPEN-CHAT-001": "PASS",
                "V1-SCOPE-003": "FAIL"}
    if new:
        verdicts["V1-AUTH-011"] = "PASS"
    else:
        verdicts["V1-AUTH-009"] = "PASS"
    doc = run_doc(evidence, verdicts, name=f"astrbot-{version}", version=version,
                  id=f"run-{version}")
    doc["operations"] = operations(version)
    doc["observed"] = observed.observe(doc)
    doc["served_surface"] = surface.summarize(served(version), "/api/v1/openapi.json",
                                              operations=doc["operations"],
                                              observed=doc["observed"],
                                              requirements=doc["requirements"])
    return doc


@pytest.fixture
def pair(tmp_path):
    a, b = tmp_path / "astrbot-4.26.2", tmp_path / "astrbot-4.29.3"
    a.mkdir()
    b.mkdir()
    (a / "results.json").write_text(json.dumps(release("4.26.2")))
    (b / "results.json").write_text(json.dumps(release("4.29.3")))
    return a, b


def test_each_kind_of_change_between_two_releases_is_found():
    result = diff.compare(release("4.26.2"), release("4.29.3"))
    req = result["requirements"]
    assert req["changed"] == [{"id": "JWT-UNI-004", "level": "MUST", "a": "PASS", "b": "FAIL",
                               "reason": "why JWT-UNI-004 is FAIL"}]
    assert req["added"] == [{"id": "V1-AUTH-011", "verdict": "PASS"}]
    assert req["removed"] == [{"id": "V1-AUTH-009", "verdict": "PASS"}]
    ops = result["operations"]
    assert ops["added"] == ["v1 GET /api/v1/trace/history"]
    assert ops["removed"] == []
    assert ops["changed"][0]["operation"] == "v1 POST /api/v1/plugins/validate/repo"
    assert (ops["changed"][0]["a"], ops["changed"][0]["b"]) == ("UNIMPLEMENTED", "PASS")
    assert ops["scope_matrix"] == [{"operation": "v1 POST /api/v1/plugins/validate/repo",
                                    "credential": "none", "a": 405, "b": 401}]
    assert "v1 POST /api/v1/plugins/validate/repo: scope matrix none 405->401" in \
        diff.render_text(result, "a", "b")
    s = result["surface"]
    # 4.26.2 declared only `file`; the contract's own names are no new scopes
    assert s["scope_names_b_only"] == ["chat:admin", "config:edit_admin"]
    assert s["counts"] == ["served_operations: 300 -> 321", "served_with_scope: 2 -> 239"]
    assert [x.split(" ")[0] for x in s["sensitive_b_only"]] == ["chat:admin",
                                                                "config:edit_admin"]
    assert "GET /api/v1/chat/runs/{run_id}/stream (undocumented)" in s["listed_in_b_only"]
    assert "POST /api/v1/plugins/validate/repo (contract operation; A does not list it and the " \
        "run judged it UNIMPLEMENTED)" in s["listed_in_b_only"]
    assert "GET /api/v1/plugins/page/assets (contract operation; B does not list it; its run " \
        "did not show whether it exists)" in s["listed_in_a_only"]
    assert not [x for x in s["listed_in_a_only"] + s["listed_in_b_only"] if "webhook" in x]
    assert any(x.startswith("GET /api/v1/chat/configs: contract config, served chat; the wire "
                            "agrees with the served document")
               for x in s["scope_differences_b_only"])
    o = result["observed"]
    assert "sse POST /api/v1/chat received: + run_started (B only; fields data, message_id, " \
        "streaming, type)" in o["types"]
    assert "ws /api/v1/unified-chat/ws received: - chat:end (A only)" in o["types"]
    assert "sse POST /api/v1/chat received agent_stats: +data.current_context_tokens" \
        in o["fields"]
    assert "ws /api/v1/unified-chat/ws error codes: +DUPLICATE_MESSAGE_ID" in o["codes"]
    changed = {x["title"]: x for x in o["exchanges"]}
    assert changed[SSE_TITLE]["a"] == [
        "session_id user_message_saved plain+ agent_stats complete message_saved end"]
    assert changed[SSE_TITLE]["b"] == [
        "session_id user_message_saved run_started message_saved plain+ agent_stats complete "
        "end"]
    assert changed[UNI_TITLE]["b"] == [">chat:send chat:user_message_saved chat:plain "
                                       ">chat:interrupt chat:error(INTERRUPTED) "
                                       "chat:error(DUPLICATE_MESSAGE_ID)"]
    assert o["http_statuses"] == ["POST /api/v1/chat: 200 -> 200,400"]  # SSE 200 + the 400
    assert diff.exit_status(result, "verdict") == 1
    assert diff.exit_status(result, "surface") == 1
    assert diff.exit_status(result, "any") == 1
    assert diff.exit_status(result, "none") == 0


def test_an_identical_pair_has_no_change_and_exits_0(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(release("4.29.3")))
    result = diff.compare(release("4.29.3"), release("4.29.3"))
    assert not diff.has_changes(result)
    for fail_on in diff.FAIL_ON:
        assert cli.main(["diff", str(path), str(tmp_path), "--fail-on", fail_on]) == 0
    assert "No change between the two runs." in capsys.readouterr().out


def test_a_verdict_change_alone_fails_verdict_but_not_surface():
    a = release("4.26.2")
    b = copy.deepcopy(a)
    b["requirements"][0]["verdict"] = "FAIL"
    result = diff.compare(a, b)
    assert diff.exit_status(result, "verdict") == 1
    assert diff.exit_status(result, "surface") == 0
    b = copy.deepcopy(a)
    b["observed"]["exchanges"][SSE_TITLE] = ["session_id end"]
    result = diff.compare(a, b)
    assert diff.exit_status(result, "verdict") == 0 and diff.exit_status(result, "any") == 1


def test_old_results_without_observed_or_served_surface_still_compare():
    a, b = release("4.26.2"), release("4.29.3")
    for doc in (a, b):
        del doc["observed"], doc["served_surface"]
    result = diff.compare(a, b)
    assert result["surface"] == {}  # neither recorded one: nothing to say
    assert any("run_started" in x for x in result["observed"]["types"])  # from the evidence
    del a["operations"]
    assert diff.compare(a, b)["operations"]["added"]


def test_the_text_and_markdown_name_both_runs_and_every_section(pair, capsys):
    a, b = pair
    assert cli.main(["diff", str(a), str(b)]) == 1
    text = capsys.readouterr().out
    assert text.startswith("A: astrbot-4.26.2 4.26.2, 2026-12-01T10:00:00+00:00, run "
                           "run-4.26.2")
    assert "\nB: astrbot-4.29.3 4.29.3," in text
    for heading in ("Requirements whose verdict changed (1)", "Requirements new or gone",
                    "Operations", "Served surface", "Observed on the wire",
                    "Exchange sequences that changed (2)"):
        assert f"\n{heading}\n" in text
    assert "  JWT-UNI-004  MUST    PASS          -> FAIL           why JWT-UNI-004 is FAIL" \
        in text
    assert "sensitive scope in B only: chat:admin (POST /api/v1/chat)" in text
    assert cli.main(["diff", str(a), str(b), "--format", "markdown", "--fail-on", "none"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## AstrBot conformance: what changed")
    assert "| `JWT-UNI-004` | MUST | PASS | FAIL | why JWT-UNI-004 is FAIL |" in md
    assert "### Served surface" in md and "```text" in md
    assert "<details><summary>" in md  # long sections are folded


@pytest.mark.parametrize("content, message", [(None, "no results.json at"),
                                              ("not json", "cannot read"),
                                              ('{"run": {}}', "not a conformance results")])
def test_a_missing_or_invalid_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(release("4.26.2")))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert cli.main(["diff", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_bad_options_are_usage_errors():
    with pytest.raises(SystemExit) as info:
        cli.main(["diff", "a", "b", "--fail-on", "sometimes"])
    assert info.value.code == 2


def test_an_operation_b_does_not_list_but_answered_is_no_drift():
    a, b = release("4.26.2"), release("4.29.3")
    b["operations"].append({"document": "v1", "method": "GET",
                            "path": "/api/v1/plugins/page/assets", "operation_id": "x",
                            "verdict": "PASS", "reason": "",
                            "requirements": {"V1-FUZZ-001": "PASS"}})
    b["served_surface"] = surface.summarize(served("4.29.3"), "/api/v1/openapi.json",
                                            operations=b["operations"])
    listed = diff.compare(a, b)["surface"]["listed_in_a_only"]
    assert "GET /api/v1/plugins/page/assets (contract operation; B does not list it, but " \
        "answered it: served in both)" in listed


@pytest.mark.slow
def test_a_real_simulator_run_records_both_and_diffs_clean_with_itself(tmp_path, capsys):
    """The suite run as a user runs it (a subprocess against a simulator it starts): its
    results.json carries `observed` and `served_surface` (the simulator serves no OpenAPI
    document), matches the schema, and diffs clean with itself and not with a changed copy."""
    from .test_report import validate
    from .test_suite_runs import run_suite

    code, doc = run_suite(tmp_path, "--simulator", "--profile", "open-api", "-k", "sse or chat")
    assert code == 0
    assert doc["served_surface"]["document"] is None and doc["served_surface"]["reason"]
    sse = doc["observed"]["channels"]["sse POST /api/v1/chat"]["received"]
    assert {"user_message_saved", "plain", "end"} <= set(sse)
    validate(doc)
    report_dir = tmp_path / "report"
    assert cli.main(["diff", str(report_dir), str(report_dir), "--fail-on", "any"]) == 0
    changed = copy.deepcopy(doc)
    del changed["observed"]  # computed again from the evidence, which now lacks `end`
    for req in changed["requirements"]:
        for check in req["checks"]:
            for ev in check["evidence"]:
                ev["log"] = [e for e in ev["log"] if not (
                    isinstance(e["data"], dict) and e["data"].get("type") == "end")]
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    capsys.readouterr()
    assert cli.main(["diff", str(report_dir), str(tmp_path / "changed.json"), "--fail-on",
                     "any"]) == 1
    assert "type sse POST /api/v1/chat received: - end (A only)" in capsys.readouterr().out


def test_a_code_gone_where_the_suite_sent_other_frames_is_flagged_not_asserted():
    a, b = release("4.26.2"), release("4.29.3")
    channel = b["observed"]["channels"]["ws /api/v1/unified-chat/ws"]
    del channel["sent"]["chat:interrupt"]
    channel["error_codes"] = []
    codes = diff.compare(a, b)["observed"]["codes"]
    assert "ws /api/v1/unified-chat/ws error codes: -INTERRUPTED [the suite sent other frame " \
        "types here: see sent]" in codes
