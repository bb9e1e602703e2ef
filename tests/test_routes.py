"""Absent-route detection (conformance/routes.py), shared by the spec fuzzing and the scope
matrix: a business 404/400 is never taken for a missing route, a framework miss always is, and
the target's own route list wins over any answer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conformance.routes import Answer, RouteList, absent, discover, route_miss


@pytest.mark.parametrize("answer, miss", [
    (Answer(405, '{"detail":"Method Not Allowed"}'), True),
    (Answer(404, '{"detail":"Not Found"}'), True),  # FastAPI / Starlette
    (Answer(404, '{"status":"error","message":"Not Found"}'), True),  # AstrBot's catch-all
    (Answer(404, "<html><body>404 Not Found</body></html>"), True),
    (Answer(404, ""), True),
    (Answer(404, '{"status":"error","message":"Bot b-1 not found"}'), False),  # names a thing
    (Answer(404, '{"detail":"Item not found"}'), False),
    (Answer(400, '{"status":"error","message":"Provider x not found"}'), False),
    (Answer(200, '{"status":"ok","data":{}}'), False),
    (Answer(401, '{"status":"error","message":"Missing API key"}'), False),
])
def test_route_miss_reads_the_body_shape(answer, miss):
    assert route_miss(answer) is miss


def test_absent_needs_every_answer_to_be_a_miss():
    bare = Answer(404, '{"status":"error","message":"Not Found"}')
    named = Answer(404, '{"status":"error","message":"Token abc not found"}')
    assert absent("GET", "/x", [bare, Answer(405)], None)
    assert not absent("GET", "/x", [bare, named], None)
    assert not absent("GET", "/x", [bare, Answer(401, '{"status":"error"}')], None)
    assert not absent("GET", "/x", [], None)  # nothing seen: nothing to conclude


def test_a_listed_route_is_never_absent_whatever_it_answered():
    listed = RouteList.parse("/api/v1/openapi.json", {"paths": {
        "/api/v1/files/tokens/{token}": {"get": {}}}})
    bare = Answer(404, '{"status":"error","message":"Not Found"}')
    # parameter names differ between documents: templates are compared without them
    assert not absent("GET", "/api/v1/files/tokens/{file_token}", [bare], listed)
    assert absent("POST", "/api/v1/files/tokens/{file_token}", [bare], listed)
    assert RouteList.parse("x", {"openapi": "3.1.0"}) is None
    assert RouteList.parse("x", ["not", "a", "document"]) is None


class _Served(BaseHTTPRequestHandler):
    routes = {"/api/v1/openapi.json": json.dumps(
        {"openapi": "3.1.0", "paths": {"/api/v1/bots": {"get": {}, "post": {}}}})}

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = self.routes.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write((body or "<html>nope</html>").encode())

    def log_message(self, *args):
        pass


def test_discover_reads_the_route_list_a_real_server_serves():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        found = discover(url, {}, timeout=5)
        assert found is not None and found.source == "/api/v1/openapi.json"
        assert found.lists("POST", "/api/v1/bots") and not found.lists("DELETE", "/api/v1/bots")
        _Served.routes = {}
        assert discover(url, {}, timeout=5) is None  # HTML 404s: no route list
    finally:
        server.shutdown()
        server.server_close()
