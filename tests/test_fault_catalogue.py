"""The fault catalogue (tests/faults/) is whole and well formed, the kill matrix classifies
verdicts as documented, and the runner, run as `nox -s mutants` runs it, judges a fault over
the network and writes its matrix. The whole catalogue runs in `./noxw -s mutants`."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conformance.catalogue import load
from tests.faults import catalogue
from tests.faults.mutants import CI_SUBSET, Row, classify, must_without_fault

from .test_client_mode import BAD_CLIENTS
from .test_suite_runs import ROOT

FAULTS = catalogue([])  # its problems fail the test below, not the collection


def rows() -> list[Row]:
    out = [Row(f.name, f.area, "server", f.doc, list(f.breaks), list(f.may), [])
           for f in FAULTS.values()]
    return out + [Row(c.__name__, "client", "client", "", [rid], [], [])
                  for rid, c in BAD_CLIENTS]


def test_the_catalogue_loads_without_a_problem():
    problems: list[str] = []
    catalogue(problems)
    assert problems == []


def test_every_must_requirement_has_a_fault_that_breaks_it():
    assert must_without_fault(rows()) == []


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_is_named_documented_and_names_known_requirements(name):
    fault = FAULTS[name]
    ids = set(load().requirements)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
    assert len(fault.doc.split()) >= 6, "say what changed and why it is plausible"
    assert set(fault.breaks) <= ids and set(fault.may) <= ids
    assert not set(fault.breaks) & set(fault.may)
    if fault.allowed:
        assert fault.profiles, "an allowed variation names the profiles it is judged in"


def test_the_ci_subset_names_faults_of_the_catalogue():
    clients = {f"client-{c.__name__.replace('_', '-')}" for _, c in BAD_CLIENTS}
    assert set(CI_SUBSET) <= set(FAULTS) | clients
    areas = {FAULTS[n].area for n in CI_SUBSET if n in FAULTS}
    assert areas == {f.area for f in FAULTS.values()}, "one fault of every area at least"


def row(breaks=(), may=()) -> Row:
    return Row("f", "area", "server", "doc", list(breaks), list(may), [])


@pytest.mark.parametrize("breaks, may, verdicts, status", [
    (["A-001"], [], {"A-001": "FAIL", "B-001": "PASS"}, "killed"),
    (["A-001"], [], {"A-001": "NON-STRICT"}, "killed"),  # a SHOULD broken
    (["A-001"], ["B-001"], {"A-001": "FAIL", "B-001": "FAIL"}, "killed"),  # collateral
    (["A-001"], [], {"A-001": "PASS"}, "survived"),
    (["A-001"], [], {"A-001": "UNIMPLEMENTED"}, "survived"),
    (["A-001"], [], {"A-001": "PASS", "B-001": "FAIL"}, "wrong requirement"),
    (["A-001", "C-001"], [], {"A-001": "FAIL", "C-001": "PASS"}, "partial"),
    (["A-001"], [], {"A-001": "FAIL", "B-001": "FAIL"}, "blamed"),
    (["A-001"], [], {"A-001": "FAIL", "B-001": "ERROR"}, "not judged"),
    (["A-001"], ["B-001"], {"A-001": "FAIL", "B-001": "ERROR"}, "killed"),  # collateral
    (["A-001"], [], {"A-001": "ERROR"}, "not judged"),
    ([], [], {"A-001": "PASS", "B-001": "SKIPPED"}, "clean"),
    ([], [], {"A-001": "NON-STRICT"}, "blamed"),  # an allowed variation blamed at all
])
def test_the_matrix_classifies_a_run(breaks, may, verdicts, status):
    r = row(breaks, may)
    classify(r, verdicts)
    assert r.status == status
    assert r.ok == (status in ("killed", "clean"))


@pytest.mark.slow
def test_the_runner_judges_faults_over_the_network_and_writes_the_matrix(tmp_path):
    out = tmp_path / "mutants"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.mutants", "sse-comments-and-ids",
         "client-binary-frame", "--jobs", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((out / "matrix.json").read_text())
    status = {f["name"]: f["status"] for f in doc["faults"]}
    assert status == {"sse-comments-and-ids": "clean", "client-binary-frame": "killed"}
    assert (out / "runs" / "sse-comments-and-ids" / "results.json").exists()
    assert not list(out.glob("runs/*-admin.toml")), "the throw-away admin file is removed"
    md = (out / "matrix.md").read_text()
    assert "| `client-binary-frame` | client | CLIENT-FRAME-001 | CLIENT-FRAME-001 |" in md
    assert "2 faults (1 server, 1 client)" in md
