"""conformance/observed.py: what a run saw on the wire, from its evidence alone. The logs here
are shaped as the suite's clients write them (conformance/clients/), with frames as real
AstrBot 4.26.2 sent them (reports of `./noxw -s real_astrbot`, research notes section 5)."""

from __future__ import annotations

import json

from conformance import observed, report
from conformance.redact import Redactor

from .test_report import full_run, requirement, validate

URL = "http://127.0.0.1:6185"
WS = "ws://127.0.0.1:6185"


def entry(direction: str, data, at: float = 1.0) -> dict:
    return {"at_ms": at, "dir": direction, "data": data}


def sse_log(title: str, events: list[dict], *, path: str = "/api/v1/chat") -> dict:
    """An SSE chat as conformance/clients/sse.py logs it: the request, status, events."""
    return {"title": title, "kind": "sse", "log": [
        entry(">>", {"method": "POST", "url": URL + path, "headers": {"X-API-Key": "***"},
                     "json": {"username": "u", "message": "Hello"}}),
        entry("<<", {"status": 200, "content_type": "text/event-stream; charset=utf-8"}),
        *(entry("<<", e) for e in events)]}


def ws_log(title: str, path: str, frames: list[tuple[str, dict]], kind: str = "websocket-live",
           ) -> dict:
    """A WebSocket log as conformance/clients/live.py writes it: connect, then frames."""
    return {"title": title, "kind": kind, "log": [
        entry(">>", {"connect": WS + path, "headers": {}}), entry("--", "connected"),
        *(entry(d, f) for d, f in frames)]}


def http_log(title: str, exchanges: list[tuple[str, str, int]]) -> dict:
    log = []
    for method, path, status in exchanges:
        log += [entry(">>", {"method": method, "url": URL + path, "headers": {}, "json": None}),
                entry("<<", {"status": status, "body": "{}"})]
    return {"title": title, "kind": "log", "log": log}


def run_doc(evidence: list[dict], verdicts: dict[str, str] | None = None, **run) -> dict:
    """A results document shaped as results.json, its evidence on one check."""
    verdicts = verdicts or {"OPEN-CHAT-001": "PASS"}
    reqs = [{"id": rid, "level": "MUST", "profile": "open-api", "area": rid.rsplit("-", 1)[0],
             "source": [{"seed": "002", "section": "x"}], "text": "t", "verdict": v,
             "reason": "" if v == "PASS" else f"why {rid} is {v}", "duration_s": 0.1,
             "checks": [{"nodeid": f"t::{rid}", "verdict": v, "message": "", "duration_s": 0.1,
                         "evidence": evidence if i == 0 else []}]}
            for i, (rid, v) in enumerate(sorted(verdicts.items()))]
    target = {"name": run.pop("name", "astrbot"), "base_url": URL,
              "version": run.pop("version", "4.26.2")}
    return {"schema": report.SCHEMA_ID,
            "run": {"id": run.pop("id", "run-a"), "started_at": "2026-12-01T10:00:00+00:00",
                    "target": target, **run},
            "summary": {}, "requirements": reqs, "operations": []}


CHAT_426 = [{"type": "session_id", "data": None, "session_id": "s1"},
            {"type": "user_message_saved", "data": {"id": 6, "created_at": "x"}},
            {"type": "plain", "data": "STUB-REPLY: ", "streaming": True, "message_id": "m"},
            {"type": "plain", "data": "Hello", "streaming": True, "message_id": "m"},
            {"type": "agent_stats", "data": {"token_usage": {}, "start_time": 1.0}},
            {"type": "complete", "data": "STUB-REPLY: Hello", "reasoning": "",
             "streaming": True, "message_id": "m"},
            {"type": "message_saved", "data": {"id": 7, "created_at": "x"}},
            {"type": "end", "data": "", "streaming": False, "message_id": "m"}]

UNIFIED_426 = [(">>", {"ct": "chat", "t": "send", "session_id": "s", "message_id": "m1",
                       "message": [{"type": "plain", "text": "slow"}]}),
               ("<<", {"ct": "chat", "type": "user_message_saved", "data": {"id": 1}}),
               ("<<", {"ct": "chat", "type": "plain", "data": "a", "message_id": "m1"}),
               (">>", {"ct": "chat", "t": "interrupt"}),
               ("<<", {"ct": "chat", "type": "plain", "data": "b", "message_id": "m1"}),
               ("<<", {"ct": "chat", "type": "end", "data": "", "message_id": "m1"}),
               ("<<", {"ct": "chat", "t": "error", "data": "INTERRUPTED",
                       "code": "INTERRUPTED"})]


def test_types_fields_and_codes_per_channel_and_direction():
    doc = run_doc([sse_log("POST /api/v1/chat without session_id", CHAT_426),
                   ws_log("chat-mode interrupt on /api/v1/unified-chat/ws",
                          "/api/v1/unified-chat/ws?token=***", UNIFIED_426,
                          "websocket-unified")])
    seen = observed.observe(doc)
    sse = seen["channels"]["sse POST /api/v1/chat"]
    assert list(sse["received"]) == sorted({e["type"] for e in CHAT_426})
    assert sse["received"]["plain"]["count"] == 2
    assert sse["received"]["plain"]["fields"] == ["data", "message_id", "streaming", "type"]
    assert sse["received"]["agent_stats"]["data_fields"] == ["start_time", "token_usage"]
    assert "data_fields" not in sse["received"]["plain"]  # its data is a string
    assert sse["sent"] == {}
    uni = seen["channels"]["ws /api/v1/unified-chat/ws"]  # the query is not part of it
    assert set(uni["sent"]) == {"chat:send", "chat:interrupt"}
    assert set(uni["received"]) == {"chat:user_message_saved", "chat:plain", "chat:end",
                                    "chat:error"}
    assert uni["received"]["chat:error"]["fields"] == ["code", "ct", "data", "t"]
    assert uni["error_codes"] == ["INTERRUPTED"] and uni["logs"] == 1
    assert seen["http_statuses"] == {"POST /api/v1/chat": [200]}  # a handshake that passed


def test_exchange_sequences_collapse_repeats_and_mark_what_the_suite_sent():
    doc = run_doc([sse_log("POST /api/v1/chat without session_id", CHAT_426),
                   ws_log("chat-mode interrupt", "/api/v1/unified-chat/ws", UNIFIED_426,
                          "websocket-unified"),
                   http_log("setup-status", [("GET", "/api/v1/auth/setup-status", 200)])])
    ex = observed.observe(doc)["exchanges"]
    assert ex["POST /api/v1/chat without session_id"] == [
        "session_id user_message_saved plain+ agent_stats complete message_saved end"]
    assert ex["chat-mode interrupt"] == [
        ">chat:send chat:user_message_saved chat:plain >chat:interrupt chat:plain chat:end "
        "chat:error(INTERRUPTED)"]
    assert "setup-status" not in ex  # plain HTTP is no chat exchange


def test_the_same_title_keeps_each_distinct_sequence_once():
    one = sse_log("POST /api/v1/chat", CHAT_426)
    other = sse_log("POST /api/v1/chat", CHAT_426[:2] + CHAT_426[-1:])
    doc = run_doc([one, json.loads(json.dumps(one)), other])
    assert observed.observe(doc)["exchanges"]["POST /api/v1/chat"] == [
        "session_id user_message_saved end",
        "session_id user_message_saved plain+ agent_stats complete message_saved end"]


def test_http_statuses_use_the_contract_templates_and_every_request_form():
    curl = {"title": "schemathesis", "kind": "http", "log": [
        entry(">>", "curl -X DELETE -H 'Authorization: [Filtered]' "
                    f"{URL}/api/v1/bots/abc-123"),
        entry("<<", {"status": 404, "body": "{}"}),
        entry(">>", f"curl -X POST '{URL}/api/v1/api-keys' -d '{{}}'"),
        entry("<<", {"status": 500, "body": "Internal Server Error"}),
        entry(">>", {"method": "GET", "path": "/api/v1/logs/live", "json": None}),
        entry("<<", {"status": 200, "content_type": "text/event-stream", "bad": [],
                     "events": [{"type": "log", "data": {"level": "INFO"}}]})]}
    refused = {"title": "probe", "kind": "websocket-live", "log": [
        entry(">>", {"connect": WS + "/api/v1/live/ws?api_key=***&username=a", "headers": {}}),
        entry("<<", {"handshake_status": 403})]}
    doc = run_doc([curl, refused, http_log("x", [("GET", "/api/v1/bots/by-id", 400),
                                                 ("GET", "/api/v1/unknown/thing", 404)])])
    seen = observed.observe(doc)
    assert seen["http_statuses"] == {
        "DELETE /api/v1/bots/{bot_id}": [404], "GET /api/v1/bots/by-id": [400],
        "GET /api/v1/live/ws": [403], "GET /api/v1/logs/live": [200],
        "GET /api/v1/unknown/thing": [404], "POST /api/v1/api-keys": [500]}
    assert seen["channels"]["sse GET /api/v1/logs/live"]["received"]["log"]["data_fields"] \
        == ["level"]
    assert seen["exchanges"]["probe"] == ["handshake(403)"]


def test_a_json_answer_to_a_chat_and_a_close_are_tokens_too():
    envelope = {"title": "POST /api/v1/chat with one `text` part", "kind": "sse", "log": [
        entry(">>", {"method": "POST", "url": URL + "/api/v1/chat", "headers": {}, "json": {}}),
        entry("<<", {"status": 200, "content_type": "application/json"}),
        entry("<<", {"body": '{"status":"error","message":"Message content is empty"}'})]}
    closed = ws_log("without token", "/api/v1/live-chat/ws",
                    [("<<", {"close": 1008, "reason": "Missing authentication token"})])
    seen = observed.observe(run_doc([envelope, closed]))
    assert seen["exchanges"]["POST /api/v1/chat with one `text` part"] == ["envelope(error)"]
    assert seen["exchanges"]["without token"] == ["close(1008)"]
    assert seen["channels"]["ws /api/v1/live-chat/ws"]["close_codes"] == [1008]


def test_lists_are_capped_and_say_so():
    frames = [("<<", {"t": f"type_{i}", **{f"f{j}": j for j in range(70)}}) for i in range(100)]
    seen = observed.observe(run_doc([ws_log("flood", "/api/v1/live/ws", frames)]))
    channel = seen["channels"]["ws /api/v1/live/ws"]
    assert len(channel["received"]) == observed.TYPE_LIMIT
    assert len(channel["received"]["type_0"]["fields"]) == observed.FIELD_LIMIT
    assert seen["truncated"]
    assert seen["exchanges"]["flood"][0].endswith(f" ...(+{100 - observed.TOKEN_LIMIT})")
    assert len(json.dumps(seen)) < 60_000


def test_an_old_results_file_gets_it_computed_and_a_new_one_carries_it():
    doc = run_doc([sse_log("chat", CHAT_426)])
    assert "observed" not in doc
    assert observed.of(doc) == observed.observe(doc)
    res = report.RequirementResult(requirement("A-B-001"))
    res.checks.append(report.CheckRecord("t::x", "PASS", evidence=[sse_log("chat", CHAT_426)]))
    built = full_run(report.build([res], {"id": "r", "target": {"name": "t", "base_url": "u"},
                                          "profiles": ["live-api"]}, Redactor()))
    assert built["observed"]["exchanges"]["chat"] == [
        "session_id user_message_saved plain+ agent_stats complete message_saved end"]
    assert observed.of(built) is built["observed"]
    validate(built)
    broken = json.loads(json.dumps(built))
    broken["observed"]["channels"]["sse POST /api/v1/chat"]["received"]["end"]["count"] = "x"
    try:
        validate(broken)
    except AssertionError as exc:
        assert "count" in str(exc)
    else:
        raise AssertionError("the schema accepted a broken observed object")


def test_a_shape_ignores_races_but_keeps_order_new_types_and_repeats():
    busy_early = (">text_input metrics user_msg bot_delta_chunk >text_input "
                  "error(PROCESSING_ERROR) bot_delta_chunk+ bot_text_chunk response end")
    busy_late = (">text_input metrics user_msg bot_delta_chunk >text_input bot_delta_chunk+ "
                 "error(PROCESSING_ERROR) bot_delta_chunk+ bot_text_chunk response end")
    assert observed.shape(busy_early) == observed.shape(busy_late) == (
        "metrics user_msg bot_delta_chunk* error(PROCESSING_ERROR) bot_text_chunk response end")
    old = "session_id user_message_saved plain+ agent_stats complete message_saved end"
    new = "session_id user_message_saved run_started message_saved plain+ agent_stats complete end"
    assert observed.shape(old) != observed.shape(new)
    assert observed.shape("plain+ plain") == "plain"
    assert observed.shape("a b a ...(+3)") == "a* b"
