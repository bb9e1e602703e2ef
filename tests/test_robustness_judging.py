"""The robustness profile's HTTP judging on exchanges the wire broke: a body that got no answer
is ROB-HTTP-001's FAIL (the wire rule's words), never an ERROR of the envelope check
(ROB-HTTP-005 judges only answered 4xx), as real AstrBot 4.29.3 showed."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenarios.robustness import http_fire as hf
from conformance.scenarios.robustness import test_http_hostile as judging

OP = "POST /api/v1/sessions/rules/delete"
HUNG = hf.Exchange(OP, "field/umo/surrogate", None,
                   broke=f"no answer to {OP} (field/umo/surrogate) within 10 s")


def bodies(*exchanges):
    return {OP: object()}, list(exchanges), Transcript("hostile bodies", kind="http")


def test_a_body_without_an_answer_fails_the_status_rule_with_the_wire_words():
    evidence: list = []
    with pytest.raises(AssertionError) as failed:
        judging.test_hostile_bodies_never_get_a_5xx(bodies(HUNG), evidence)
    assert "1 of 1 hostile bodies got a 5xx or no answer" in str(failed.value)
    assert evidence and evidence[0].entries


def test_the_envelope_rule_judges_only_answered_refusals():
    judging.test_a_refused_hostile_body_gets_the_error_envelope(bodies(HUNG), [])
    served = hf.Exchange(OP, "deep/list/2000", 200, '{"status": "ok", "data": null}')
    judging.test_a_refused_hostile_body_gets_the_error_envelope(bodies(served), [])
