"""conformance/surface.py: the OpenAPI document a target serves against the contract. Against
a document built here from the contract with deliberate changes, and against the documents
real AstrBot 4.26.2 and 4.29.3 serve (tests/data/served-openapi/, trimmed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conformance import surface
from conformance.contract import load_json, load_yaml

DATA = Path(__file__).resolve().parent / "data" / "served-openapi"


def from_contract() -> dict:
    """A served document listing exactly the contract's HTTP operations (both documents)."""
    paths: dict = {}
    for doc in (load_yaml("openapi-v1.yaml"), load_json("openapi-open-api-legacy.json")):
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method in surface.METHODS and not op.get("x-websocket"):
                    paths.setdefault(path, {})[method] = copy.deepcopy(op)
    return {"openapi": "3.1.0", "info": {"title": "built from the contract", "version": "1"},
            "paths": paths}


def served(name: str) -> dict:
    return json.loads((DATA / f"astrbot-{name}.json").read_text(encoding="utf-8"))


def keys(rows: list[dict]) -> set[str]:
    return {f"{r['method']} {r['path']}" for r in rows}


def test_the_contract_itself_shows_no_drift_but_its_websocket_routes():
    s = surface.summarize(from_contract(), "/api/v1/openapi.json")
    assert s["undocumented"] == [] and s["scope_differences"] == []
    assert keys(s["not_listed"]) == {"GET /api/v1/chat/ws", "GET /api/v1/live-chat/ws",
                                     "GET /api/v1/unified-chat/ws", "GET /api/v1/live/ws"}
    assert {r["status"] for r in s["not_listed"]} == {surface.UNKNOWN}
    assert all("WebSocket" in r["why"] for r in s["not_listed"])
    assert s["scopes"]["served_only"] == []


def test_renamed_path_parameters_and_trailing_slashes_are_the_same_route():
    doc = from_contract()
    item = doc["paths"].pop("/api/v1/webhooks/platforms/{webhook_uuid}")
    doc["paths"]["/api/v1/webhooks/platforms/{uuid}/"] = item
    bots = doc["paths"].pop("/api/v1/bots/{bot_id}")
    doc["paths"]["/api/v1/bots/{id}"] = bots
    s = surface.summarize(doc, "/api/v1/openapi.json")
    assert s["counts"]["undocumented"] == 0
    assert not [r for r in s["not_listed"] if "webhooks" in r["path"] or "bots" in r["path"]]


def test_deliberate_changes_are_each_found_and_cross_checked_with_the_run():
    doc = from_contract()
    doc["paths"]["/api/v1/trace/history"] = {"get": {"x-astrbot-scope": "data"}}
    del doc["paths"]["/api/v1/bots"]["post"]  # methods are compared per path
    del doc["paths"]["/api/v1/configs"]  # hidden, but the run saw it answer
    del doc["paths"]["/api/v1/plugins/validate/repo"]  # judged UNIMPLEMENTED
    del doc["paths"]["/api/v1/personas"]["get"]  # no answer either way
    doc["paths"]["/api/v1/chat/configs"]["get"]["x-astrbot-scope"] = "chat"
    doc["paths"]["/api/v1/chat"]["post"]["x-astrbot-sensitive-scopes"] = ["chat:admin"]
    doc["paths"]["/api/v1/chat"]["post"]["x-astrbot-scope"] = "chat"
    doc["components"] = {"schemas": {"KeyCreate": {"properties": {"scopes": {
        "type": "array", "items": {"enum": ["chat", "config:edit_admin"]}}}}}}
    operations = [
        {"document": "v1", "method": "POST", "path": "/api/v1/bots", "verdict": "PASS",
         "requirements": {"V1-FUZZ-001": "PASS"}},
        {"document": "legacy", "method": "GET", "path": "/api/v1/configs", "verdict": "PASS",
         "requirements": {"OPEN-FUZZ-001": "PASS"}},
        {"document": "v1", "method": "POST", "path": "/api/v1/plugins/validate/repo",
         "verdict": "UNIMPLEMENTED", "reason": "every request answered 405",
         "requirements": {"V1-SCOPE-002": "UNIMPLEMENTED"}},
        {"document": "v1", "method": "GET", "path": "/api/v1/chat/configs", "verdict": "FAIL",
         "requirements": {"V1-SCOPE-003": "FAIL"},
         "scope_matrix": {"lacking chat key": 200, "exact key": 403}}]
    s = surface.summarize(doc, "/api/v1/openapi.json", operations=operations)
    assert s["undocumented"] == [{"method": "GET", "path": "/api/v1/trace/history",
                                  "scope": "data"}]
    status = {f"{r['method']} {r['path']}": r["status"] for r in s["not_listed"]}
    assert status["POST /api/v1/bots"] == surface.ANSWERED
    assert status["GET /api/v1/configs"] == surface.ANSWERED
    assert status["POST /api/v1/plugins/validate/repo"] == surface.ABSENT
    assert status["GET /api/v1/personas"] == surface.UNKNOWN
    assert "GET /api/v1/bots" not in status
    (diff,) = s["scope_differences"]
    assert (diff["path"], diff["contract"], diff["served"]) == ("/api/v1/chat/configs",
                                                                 "config", "chat")
    assert "agrees with the served document" in diff["wire"]
    assert s["scopes"]["served_only"] == ["chat:admin", "config:edit_admin"]
    assert s["scopes"]["sensitive"] == {"chat:admin": ["POST /api/v1/chat"]}
    assert s["counts"] == {"undocumented": 1, "not_listed": len(s["not_listed"]), "absent": 1,
                           "served": 2, "scope_differences": 1}
    line = surface.headline(s)
    assert "1 undocumented operations" in line and "1 scope differences" in line
    assert "chat:admin" in line


@pytest.mark.parametrize("seen, verdict", [({"lacking chat key": 200, "exact key": 403},
                                            "agrees with the served document"),
                                           ({"lacking chat key": 403, "exact key": 200},
                                            "agrees with the contract"),
                                           ({}, "not probed")])
def test_what_the_scope_matrix_saw_decides_which_document_the_wire_agrees_with(seen, verdict):
    row = {"scope_matrix": seen}
    assert verdict in surface._wire("config", "chat", row)


def test_a_websocket_route_is_served_when_frames_crossed_it_absent_when_refused():
    observed = {"channels": {"ws /api/v1/chat/ws": {"received": {"pong": {}}}}}
    requirements = [{"id": "LIVE-CONN-001", "verdict": "UNIMPLEMENTED",
                     "reason": "WebSocket handshake to /api/v1/live/ws answered HTTP 403: the "
                               "target has no such endpoint"}]
    s = surface.summarize(from_contract(), "x", observed=observed, requirements=requirements)
    status = {r["path"]: r["status"] for r in s["not_listed"]}
    assert status["/api/v1/chat/ws"] == surface.ANSWERED
    assert status["/api/v1/live/ws"] == surface.ABSENT
    assert status["/api/v1/live-chat/ws"] == surface.UNKNOWN


def test_real_astrbot_4_26_2_serves_the_contract_but_hidden_routes():
    s = surface.summarize(served("4.26.2"), "/api/v1/openapi.json")
    assert s["served_operations"] == 300 and s["undocumented"] == []
    assert keys(s["not_listed"]) == {
        "GET /api/v1/chat/ws", "GET /api/v1/live-chat/ws", "GET /api/v1/unified-chat/ws",
        "GET /api/v1/live/ws", "GET /api/v1/configs", "POST /api/v1/im/message",
        "POST /api/v1/plugins/validate/repo"}
    assert s["scope_differences"] == [] and s["scopes"]["served_only"] == []


def test_real_astrbot_4_29_3_new_routes_and_sensitive_scopes_and_no_false_webhook_drift():
    s = surface.summarize(served("4.29.3"), "/api/v1/openapi.json")
    assert s["served_operations"] == 321 and s["counts"]["undocumented"] == 22
    assert {"GET /api/v1/chat/runs/{run_id}/stream", "POST /api/v1/files/upload/init",
            "GET /api/v1/trace/history"} <= keys(s["undocumented"])
    assert {"GET /api/v1/plugins/page/assets"} <= keys(s["not_listed"])
    assert not [r for r in s["undocumented"] + s["not_listed"] if "webhook" in r["path"]]
    assert s["scopes"]["served_only"] == ["chat:admin", "config:edit_admin"]
    assert s["scopes"]["sensitive"]["chat:admin"] == ["POST /api/v1/chat"]
    assert {(d["path"], d["served"]) for d in s["scope_differences"]} == {
        ("/api/v1/chat/configs", "chat"), ("/api/v1/bot-types/{bot_type}/registration",
                                           "config")}


def test_a_target_without_a_document_says_why():
    s = surface.summarize(None, reason="the target serves no OpenAPI document")
    assert s == {"document": None, "reason": "the target serves no OpenAPI document"}
    assert "no document" in surface.headline(s)
    assert surface.summarize({"paths": "nope"})["document"] is None
    assert "not recorded" in surface.headline(None)


def test_the_document_routes_py_fetches_from_a_target_is_the_one_compared():
    """routes.discover (what the run calls at its end, conformance/plugin.py) over a real
    loopback socket, serving 4.29.3's document at /api/v1/openapi.json."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from conformance import routes

    body = (DATA / "astrbot-4.29.3.json").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            found = self.path == "/api/v1/openapi.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if found else b'{"detail": "Not Found"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        found = routes.discover(f"http://127.0.0.1:{server.server_port}", {}, 5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert found is not None and found.source == "/api/v1/openapi.json"
    s = surface.summarize(found.document, found.source)
    assert s["served_operations"] == 321 and s["scopes"]["served_only"] == [
        "chat:admin", "config:edit_admin"]


def test_the_report_records_it_and_shows_one_line_with_the_lists_folded(tmp_path):
    from conformance import html_report, report
    from conformance.redact import Redactor

    from .test_report import full_run, validate

    def build(served):
        return full_run(report.build([], {"id": "r", "target": {"name": "t", "base_url": "u"},
                                          "profiles": ["openapi-v1"]}, Redactor(),
                                     served=served))

    doc = build(("/api/v1/openapi.json", served("4.29.3")))
    validate(doc)
    assert doc["served_surface"]["counts"]["undocumented"] == 22
    md = report.markdown(doc)
    assert "**Served surface (/api/v1/openapi.json): 22 undocumented operations, " in md
    assert "<details><summary>Undocumented operations (served, not in the contract) (22)" in md
    assert "`chat:admin` (sensitive on POST /api/v1/chat)" in md
    page = html_report.render(doc)
    assert '<details class="ops surface"><summary>Served surface' in page
    none = build(("the target serves no OpenAPI document the suite can read", None))
    validate(none)
    assert none["served_surface"] == {
        "document": None, "reason": "the target serves no OpenAPI document the suite can read"}
    assert "Served surface: no document" in report.markdown(none)
    assert "served_surface" not in build(None)
    broken = json.loads(json.dumps(doc))
    broken["served_surface"]["not_listed"][0]["status"] = "maybe"
    with pytest.raises(AssertionError):
        validate(broken)
