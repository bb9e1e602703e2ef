"""The boundary cases (conformance/boundaries.py) are planned from the documents, both sides of
each bound, every time (not left to the fuzzer's draw), and their verdicts name the document
and, where the two documents disagree, the contract note."""

from __future__ import annotations

from conformance import boundaries, fuzz
from conformance.boundaries import ABSENT, Outcome


def _cases(key: str, writes: bool) -> dict[str, list]:
    sent = {op.label for op in fuzz.operations(key)
            if not fuzz.excluded(op, allow_writes=writes, is_simulator=False)
            and op.label not in fuzz.STREAMING}
    return {op.label: op.cases for op in boundaries.plan(key, fuzz.document(key), sent, writes)}


def test_page_bounds_of_both_documents_are_always_planned():
    legacy = {(c.name, c.value, c.inside) for c in _cases("legacy", False)[
        "GET /api/v1/chat/sessions"]}
    assert {("page", 0, False), ("page", 1, True), ("page_size", 100, True),
            ("page_size", 101, False), ("username", ABSENT, False)} <= legacy
    v1 = {(c.name, c.value, c.inside) for c in _cases("v1", False)["GET /api/v1/chat/sessions"]}
    assert {("page", 0, False), ("page_size", 200, True), ("page_size", 201, False)} <= v1


def test_reads_only_unless_writes_are_allowed_and_extra_fields_are_planned_with_them():
    assert all(label.startswith("GET ") for label in _cases("v1", False))
    writes = _cases("v1", True)
    im = writes["POST /api/v1/im/messages"]
    assert any(c.name == boundaries.EXTRA_FIELD and not c.inside for c in im)
    assert not any(label.startswith(("POST /api/v1/auth/", "POST /api/v1/chat "))
                   for label in writes)


def _outcome(case, status, body):
    return Outcome(case, status, body, boundaries.accepted(status, body), "curl ...")


def test_verdicts_name_the_document_the_bound_and_the_conflict_note():
    cases = {(c.name, c.value): c for c in _cases("legacy", False)["GET /api/v1/chat/sessions"]}
    result = fuzz.FuzzResult("legacy", 1, {})
    ok = '{"status":"ok","message":null,"data":{"sessions":[]}}'
    base = _outcome(cases[("page", 1)], 200, ok)
    fuzz.record_boundaries(result, {"GET /api/v1/chat/sessions": (base, [
        _outcome(cases[("page", 0)], 200, ok),  # accepted below the minimum: FUZZ-003
        _outcome(cases[("page_size", 101)], 400, '{"status":"error","message":"too big"}'),
        _outcome(cases[("page_size", 100)], 422, '{"detail":[{"type":"x"}]}')])})
    verdict, why = result.verdict("GET /api/v1/chat/sessions", "OPEN-FUZZ-003", True)
    assert verdict == "FAIL" and "page=0" in why and "seed 002" in why
    verdict, why = result.verdict("GET /api/v1/chat/sessions", "OPEN-FUZZ-004", False)
    assert verdict == "NON-STRICT" and "page_size=100" in why and "NOTE-PAGE-SIZE" in why
    verdict, why = result.verdict("GET /api/v1/chat/sessions", "OPEN-FUZZ-007", False)
    assert verdict == "NON-STRICT" and "422" in why  # FastAPI's body is not the envelope
    assert boundaries.accepted(200, ok) and not boundaries.accepted(
        200, '{"status":"error","message":"Missing key"}')
