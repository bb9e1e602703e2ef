"""Issue 4's walk, on the conformant run: `astrbot-conformance run --simulator` (a real process,
once per module) fuzzes every operation of both documents of a fresh simulator, valid and
invalid input, every phase. The run is all PASS, its report keeps no secret, and per operation
(results.json): every response declared and schema-valid, never a 5xx (a 501 "not implemented"
is a 5xx: it fails FUZZ-001), and every operation exercised (FUZZ-001 PASS, never SKIPPED)
except the WebSocket paths and those that would end the suite's own session.

One walk, not two (issue 16): this module's run is the conformant run and the walk at once."""

from __future__ import annotations

import re

import pytest

from conformance import fuzz
from conformance.outcomes import ERROR, FAIL, PASS, SKIPPED, UNIMPLEMENTED
from simulator.app import handler_table
from simulator.contract import operations

from .test_suite_runs import run_suite, verdicts

PREFIX = {"v1": "V1", "legacy": "OPEN"}  # a document's requirement ids: V1-FUZZ-001 ...
DEFECT = "contract defect, no valid request exists: "


def test_every_http_operation_has_a_handler():
    handlers = handler_table()
    missing = [op.operation_id for op in operations()
               if not op.websocket and op.operation_id not in handlers]
    assert missing == []


@pytest.fixture(scope="module")
def conformant(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conformant-run")
    code, doc = run_suite(tmp, "--simulator", hang_guard=900)  # every check: minutes
    return {"code": code, "doc": doc, "dir": tmp / "report"}


@pytest.mark.slow
def test_simulator_is_conformant_and_the_report_keeps_no_secret(conformant):
    doc = conformant["doc"]
    bad = {k: v for k, v in verdicts(doc).items() if v != PASS}
    assert conformant["code"] == 0 and not bad, bad  # no NON-STRICT either (issue 10)
    ops = doc["operations"]
    assert len(ops) == 304 + 7 and doc["summary"]["operations"]["total"] == 311
    assert not [op for op in ops if op["verdict"] in (FAIL, ERROR, UNIMPLEMENTED)]
    assert doc["summary"]["conformant"] is True
    text = (conformant["dir"] / "results.json").read_text()
    assert not re.search(r"abk_[A-Za-z0-9_\-]{8,}", text), "an API key reached the report"
    assert not re.search(r"eyJ[A-Za-z0-9_\-]+\.", text), "a JWT reached the report"
    assert (conformant["dir"] / "junit.xml").exists()


def walked(doc: dict, key: str) -> dict[str, dict]:
    """label -> results.json's operation entry, for one document."""
    return {f"{op['method']} {op['path']}": op for op in doc["operations"]
            if op["document"] == key}


def off_schema_or_5xx(doc: dict, key: str) -> dict[str, dict]:
    """Operations whose FUZZ-001 (no 5xx) or FUZZ-002 (declared, schema-valid answer) did not
    pass, or that are ERROR or UNIMPLEMENTED (a 501 on every case reads as no route)."""
    rids = [f"{PREFIX[key]}-{s}" for s in (fuzz.SERVER_ERROR, fuzz.SCHEMA)]
    return {label: {"verdict": op["verdict"], "reason": op["reason"],
                    **{rid: op["requirements"].get(rid) for rid in rids}}
            for label, op in walked(doc, key).items()
            if op["verdict"] in (FAIL, ERROR, UNIMPLEMENTED)
            or any(op["requirements"].get(rid) not in (PASS, SKIPPED) for rid in rids)}


def not_exercised(doc: dict, key: str) -> dict[str, str]:
    """Operations of the document without a single judged answer (FUZZ-001 not PASS), other
    than the WebSocket paths, those that would end the suite's session, and contract defects
    (no valid request exists); an operation missing from the report counts too."""
    ops = walked(doc, key)
    allowed = fuzz.SELF_HARM | {op.label for op in fuzz.operations(key) if op.websocket}
    rid = f"{PREFIX[key]}-{fuzz.SERVER_ERROR}"
    missing = {}
    for op in fuzz.operations(key):
        entry = ops.get(op.label)
        if entry is None:
            missing[op.label] = "not in the report"
        elif entry["requirements"].get(rid) != PASS and not (
                op.label in allowed or entry["reason"].startswith(DEFECT)):
            missing[op.label] = f"{rid} {entry['requirements'].get(rid)}: {entry['reason']}"
    return missing


@pytest.mark.slow
@pytest.mark.parametrize("key", ["v1", "legacy"])
def test_no_operation_answers_5xx_or_off_its_schema(conformant, key):
    doc = conformant["doc"]
    assert walked(doc, key), "the run fuzzed no operation of this document"
    assert off_schema_or_5xx(doc, key) == {}
    errors = {r["id"]: r["reason"] for r in doc["requirements"]
              if r["id"].startswith(f"{PREFIX[key]}-FUZZ-") and r["verdict"] != PASS}
    assert errors == {}


@pytest.mark.slow
@pytest.mark.parametrize("key", ["v1", "legacy"])
def test_every_operation_was_exercised(conformant, key):
    assert not_exercised(conformant["doc"], key) == {}


def test_the_walk_checks_can_fail():
    """The two rules above on a report of a walk gone wrong: a 501, an answer off its schema,
    an operation never exercised, one missing from the report."""
    def op(label, verdict, reqs, reason=""):
        method, _, path = label.partition(" ")
        return {"document": "v1", "method": method, "path": path, "verdict": verdict,
                "requirements": reqs, "reason": reason}

    labels = [o.label for o in fuzz.operations("v1") if not o.websocket
              and o.label not in fuzz.SELF_HARM]
    doc = {"operations": [
        op(labels[0], FAIL, {"V1-FUZZ-001": FAIL, "V1-FUZZ-002": PASS}, "501 Not Implemented"),
        op(labels[1], FAIL, {"V1-FUZZ-001": PASS, "V1-FUZZ-002": FAIL}),
        op(labels[2], PASS, {"V1-FUZZ-001": SKIPPED, "V1-FUZZ-002": SKIPPED},
           "no case of this operation exercised this check"),
        *[op(label, PASS, {"V1-FUZZ-001": PASS, "V1-FUZZ-002": PASS})
          for label in labels[4:]]]}
    assert set(off_schema_or_5xx(doc, "v1")) == {labels[0], labels[1]}
    assert set(not_exercised(doc, "v1")) >= {labels[0], labels[2], labels[3]}
    assert off_schema_or_5xx(doc, "legacy") == {}
