"""Frame and SSE event types the contract does not define are reported, not absorbed: against
a target that adds one (`run_started`, as AstrBot 4.29.3 does), the SHOULD requirement for that
channel is NON-STRICT and names the type with an example, while the schema requirements (a
frame of an unknown type has no schema to break) and everything else still PASS."""

from __future__ import annotations

import pytest

from conformance.frames import schemas, sse_types
from conformance.outcomes import NON_STRICT, PASS

from .broken_targets import ODD_TYPE
from .test_suite_runs import broken_target, run_suite, verdicts


def requirement(doc: dict, rid: str) -> dict:
    return next(r for r in doc["requirements"] if r["id"] == rid)


def test_the_contract_knows_the_webchat_types_and_not_the_odd_one():
    assert {"session_id", "plain", "complete", "end", "message_saved", "image"} <= sse_types()
    assert ODD_TYPE not in sse_types()
    check = schemas().check({"ct": "chat", "type": ODD_TYPE, "data": {}}, "chat", "server")
    assert check.ok and check.undocumented == ODD_TYPE  # the fallback no longer hides it
    check = schemas().check({"t": "turn_started"}, "live", "server")
    assert check.ok and check.undocumented == "turn_started"
    assert schemas().check({"type": "image", "data": "[IMAGE]a.jpg"}, "openchat",
                           "server").undocumented is None  # named by the chat mode
    assert not schemas().check({"t": "turn_started"}, "live", "client").ok  # ours: an error


@pytest.mark.slow
def test_an_undocumented_frame_type_is_non_strict_and_named(tmp_path):
    with broken_target("odd-frame", tmp_path) as url:
        _, doc = run_suite(tmp_path, "--base-url", url, "--setup-admin", "--profile",
                           "live-api,legacy-jwt-live",
                           "-k", "chat_mode or frame_type or unified")
    got = verdicts(doc)
    for rid in ("LIVE-FRAME-002", "JWT-FRAME-002"):
        assert got[rid] == NON_STRICT, (rid, got[rid])
        reason = requirement(doc, rid)["reason"]
        assert f"type '{ODD_TYPE}'" in reason and '"run_id": "run-1"' in reason, reason
    assert got["LIVE-FRAME-001"] == PASS and got["LIVE-CHAT-003"] == PASS, got
    assert got["JWT-UNI-002"] == PASS, got


@pytest.mark.slow
def test_an_undocumented_sse_event_type_is_non_strict_and_named(tmp_path):
    with broken_target("odd-event", tmp_path) as url:
        _, doc = run_suite(tmp_path, "--base-url", url, "--setup-admin", "--profile",
                           "open-api,openapi-v1",
                           "-k", "test_open_api or test_chat_parts")
    got = verdicts(doc)
    assert got["OPEN-CHAT-006"] == NON_STRICT, got
    reason = requirement(doc, "OPEN-CHAT-006")["reason"]
    assert f"type '{ODD_TYPE}'" in reason and "/api/v1/chat" in reason, reason
    for rid in ("OPEN-CHAT-001", "OPEN-CHAT-002", "OPEN-CHAT-003", "V1-CHAT-001"):
        assert got[rid] == PASS, (rid, got[rid])
