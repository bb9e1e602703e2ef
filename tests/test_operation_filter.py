"""`--operations` (conformance/selection.py): the checks that walk the OpenAPI documents'
operation list walk only the selected operations, the report says so, a pattern that matches
nothing is a usage error, and a planted fault is found exactly when its operation is selected.
Real simulator processes, real sockets on 127.0.0.1."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conformance.documents import operations
from conformance.outcomes import EXIT_USAGE, FAIL, PASS, ConfigurationError
from conformance.selection import Selection, matches, parse, select_operations
from conformance.target import TargetSettings

from .broken_targets import FAULTS
from .test_suite_runs import RUN_TIMEOUT, broken_target, run_suite, verdicts

ROOT = Path(__file__).resolve().parent.parent
WALKERS = "test_v1_document or test_legacy_document or test_scope_matrix"


def _op(key: str, label: str):
    return next(op for op in operations(key) if op.label == label)


# matching ---------------------------------------------------------------------------------------
def test_a_pattern_matches_method_and_path_or_the_operation_id():
    personas = _op("v1", "GET /api/v1/personas")
    assert matches("GET /api/v1/personas", personas)
    assert matches("get /api/v1/personas", personas)  # the method is upper-cased
    assert matches("* /api/v1/personas", personas)
    assert matches("/api/v1/persona*", personas)  # a path alone: any method
    assert matches(personas.operation_id, personas)
    assert not matches("GET /API/v1/personas", personas)  # the path's case is kept
    assert not matches("POST /api/v1/personas", personas)
    assert not matches("GET /api/v1/personas/*", personas)


def test_the_selection_keeps_document_order_and_counts_both_documents():
    chosen = select_operations("POST /api/v1/personas*,listPlugins")
    labels = [op.label for op in chosen.of("v1")]
    assert labels == [op.label for op in operations("v1") if op.label in labels]
    assert "GET /api/v1/plugins" in labels and "POST /api/v1/personas" in labels
    assert all(op.label.startswith("POST /api/v1/personas") or op.operation_id == "listPlugins"
               for op in chosen.of("v1"))
    selected, total = chosen.counts()
    assert selected == len(labels) + len(chosen.of("legacy"))
    assert total == len(operations("v1")) + len(operations("legacy"))
    assert "operations: " in chosen.describe() and f"of {total} selected" in chosen.describe()
    assert Selection().describe() == "" and Selection().as_run() is None
    assert len(Selection().of("v1")) == len(operations("v1"))


@pytest.mark.parametrize("text", ["GET /api/v1/nothing-here", "noSuchOperation",
                                  "* /API/V1/PERSONAS", " , ,"])
def test_a_pattern_that_matches_nothing_is_a_configuration_error(text):
    with pytest.raises(ConfigurationError) as caught:
        TargetSettings.resolve({"base_url": "http://127.0.0.1:1", "operations": text}, env={})
    assert "--operations" in str(caught.value)
    if text.strip(" ,"):
        assert repr(text.strip()) in str(caught.value)


def test_the_setting_comes_from_the_environment_and_the_config_file(tmp_path):
    env = {"ASTRBOT_CONFORMANCE_BASE_URL": "http://127.0.0.1:1",
           "ASTRBOT_CONFORMANCE_OPERATIONS": "listPlugins , GET /api/v1/personas"}
    assert TargetSettings.resolve(env=env).operations == "listPlugins,GET /api/v1/personas"
    config = tmp_path / "target.toml"
    config.write_text('[target]\nbase_url = "http://127.0.0.1:1"\n'
                      'operations = ["listPlugins", "GET /api/v1/personas"]\n')
    settings = TargetSettings.resolve({"config": str(config)}, env={})
    assert settings.selection.patterns == ("listPlugins", "GET /api/v1/personas")
    assert parse("") == () and not TargetSettings.resolve(
        {"base_url": "http://127.0.0.1:1"}, env={}).selection.active


def test_a_bad_pattern_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--simulator", "--report-dir",
         str(tmp_path / "report"), "--operations", "GET /api/v1/personas,GET /api/v1/nope"],
        cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == EXIT_USAGE
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'GET /api/v1/nope'" in lines[0], proc.stderr
    assert "personas'" not in lines[0]  # only the pattern that matched nothing is named
    assert not (tmp_path / "report").exists()  # nothing was sent or judged


# real runs --------------------------------------------------------------------------------------
def _walked(doc: dict, rid: str) -> dict[str, int]:
    """Per part of the fuzzing (its check's id): how many operations its evidence counts."""
    req = next(r for r in doc["requirements"] if r["id"] == rid)
    counts = {}
    for check in req["checks"]:
        for e in check["evidence"]:
            for entry in e["log"]:
                text = str(entry.get("data"))
                if text.startswith(f"per-operation verdicts for {rid}: "):
                    verdicts = ast.literal_eval(text.split(": ", 1)[1])
                    counts[check["nodeid"].split("[")[1].split("-")[0]] = sum(verdicts.values())
    return counts


@pytest.mark.slow
def test_a_filtered_run_walks_only_the_selected_operations(tmp_path):
    pattern = "GET /api/v1/personas,listPlugins"
    code, doc = run_suite(tmp_path, "--simulator", "--profile", "openapi-v1,open-api",
                          "--operations", pattern, "-k", WALKERS)
    jsonschema.validate(doc, json.loads((ROOT / "specs" / "results.schema.json").read_text()))
    assert code == 0
    ledger = {(op["document"], f"{op['method']} {op['path']}") for op in doc["operations"]}
    assert ledger == {("v1", "GET /api/v1/personas"), ("v1", "GET /api/v1/plugins")}
    ops = doc["run"]["operations_filter"]
    assert ops["patterns"] == pattern.split(",") and ops["selected"] == 2
    assert sorted(ops["labels"]) == ["v1 GET /api/v1/personas", "v1 GET /api/v1/plugins"]
    # the fuzz evidence counts the two operations, one in each of the first two parts, both
    # in the stateful part; the other parts had none (SKIPPED), no other operation was judged
    assert _walked(doc, "V1-FUZZ-001") == {"ops1": 1, "ops2": 1, "whole": 2}
    assert "GET /api/v1/personas" in json.dumps(doc["requirements"])
    assert "/api/v1/bot-types" not in json.dumps([r for r in doc["requirements"]
                                                  if r["id"].startswith("V1-FUZZ")])
    # the legacy document has none of them: its checks are not judged, not passed
    assert all(v == "SKIPPED" for rid, v in verdicts(doc, "open-api").items()
               if rid.startswith("OPEN-FUZZ")), verdicts(doc, "open-api")
    assert verdicts(doc)["V1-FUZZ-001"] == PASS and verdicts(doc)["V1-SCOPE-003"] == PASS
    # V1-SCOPE-006 applies to dashboard-only operations: none selected, so not a vacuous PASS
    assert verdicts(doc)["V1-SCOPE-006"] == "SKIPPED"
    line = f"operations: 2 of {ops['total']} selected (--operations {pattern})"
    assert doc["summary"]["operations_filter"] == line
    assert "conformant on the selected operations: " in (tmp_path / "report" /
                                                         "summary.md").read_text()
    assert line in (tmp_path / "report" / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["wrong-type"])
def test_a_planted_fault_is_found_exactly_when_its_operation_is_selected(tmp_path, mode):
    label, rid = FAULTS[mode]
    with broken_target(mode, tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--profile", "openapi-v1",
                              "--allow-writes", "--setup-admin", "-k", "test_v1_document",
                              "--operations", f"{label},GET /api/v1/personas")
    assert code == 1 and verdicts(doc)[rid] == FAIL
    failing = {f"{op['method']} {op['path']}" for op in doc["operations"]
               if op["requirements"].get(rid) == FAIL}
    assert failing == {label}
    assert label in next(r for r in doc["requirements"] if r["id"] == rid)["reason"]
    other = tmp_path / "not-selected"  # a fresh target: its own data, set up again
    other.mkdir()
    with broken_target(mode, other) as url:
        code, doc = run_suite(other, "--base-url", url, "--profile", "openapi-v1",
                              "--allow-writes", "--setup-admin", "-k", "test_v1_document",
                              "--operations", "GET /api/v1/personas")
    assert code == 0 and verdicts(doc)[rid] == PASS
    assert {f"{op['method']} {op['path']}" for op in doc["operations"]} == {
        "GET /api/v1/personas"}
    assert label not in json.dumps(doc["requirements"])
