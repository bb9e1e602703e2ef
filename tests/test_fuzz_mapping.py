"""The schemathesis mapping (conformance/fuzz.py) and the checks that report it stay in step,
and the fuzzing policy keeps writes and the outside world away from targets that may not take
them."""

from __future__ import annotations

from conformance import fuzz
from conformance.catalogue import load
from conformance.scenarios.http import test_openapi_fuzz as checks


def test_every_mapped_requirement_is_catalogued_and_checked():
    catalogue = load().requirements
    for key, listed in (("v1", checks.V1_CHECKS), ("legacy", checks.LEGACY_CHECKS)):
        ids = [p.values[0] for p in listed]
        assert ids == fuzz.requirements_of(key)
        assert all(rid in catalogue for rid in ids)


def test_every_operation_of_both_documents_is_listed():
    assert len(fuzz.operations("v1")) == 304
    legacy = fuzz.operations("legacy")
    assert {op.label for op in legacy} >= {"POST /api/v1/chat", "GET /api/v1/chat/sessions",
                                           "GET /api/v1/configs", "POST /api/v1/file",
                                           "POST /api/v1/im/message",
                                           "GET /api/v1/im/bots"}


def test_a_target_the_suite_did_not_start_gets_no_writes_and_no_outside_calls():
    ops = fuzz.operations("v1")
    sent = [op for op in ops if not fuzz.excluded(op, allow_writes=False, is_simulator=False)
            and op.label not in fuzz.STREAMING]  # chat: judged by its own bounded reader
    assert sent and all(op.method == "GET" for op in sent)
    assert not {op.label for op in sent} & fuzz.OUTSIDE
    writable = [op for op in ops if not fuzz.excluded(op, allow_writes=True, is_simulator=False)]
    assert any(op.method == "DELETE" for op in writable)
    assert not {op.label for op in writable} & (fuzz.OUTSIDE | fuzz.SELF_HARM)
    on_simulator = {op.label for op in ops
                    if not fuzz.excluded(op, allow_writes=True, is_simulator=True)}
    assert on_simulator >= fuzz.OUTSIDE and not on_simulator & fuzz.SELF_HARM


def test_absent_routes_are_told_apart_from_unknown_ids():
    from conformance.routes import Answer, RouteList

    result = fuzz.FuzzResult("v1", 1, {})
    result.statuses["GET /a"] = [Answer(404, '{"status":"error","message":"Not Found"}'),
                                 Answer(405, "")]
    result.statuses["GET /b/{id}"] = [Answer(404, '{"status":"error","message":"bot x not found"}')]
    assert result.absent("GET /a") and not result.absent("GET /b/{id}")
    assert result.verdict("GET /a", "V1-FUZZ-001", True)[0] == "UNIMPLEMENTED"
    # the target's own route list wins over a bare 404 (4.26.2's file tokens: HTTPException 404)
    result.route_list = RouteList("/api/v1/openapi.json", {("GET", "/a")})
    assert not result.absent("GET /a")


def test_a_link_that_did_not_carry_the_created_id_is_not_a_verdict():
    from types import SimpleNamespace as NS

    created = NS(response=NS(json=lambda: {"status": "ok", "data": {"id": "bot-1234"}}))

    def follow_up(uri, body=b""):
        return NS(request=NS(uri=uri, body=body))

    recorder = NS(interactions={"parent": created})
    node = NS(parent_id="parent")
    assert fuzz._link_resolved(recorder, node, follow_up("http://t/api/v1/bots/bot-1234"))
    assert fuzz._link_resolved(recorder, node, follow_up("http://t/x", b'{"bot_id":"bot-1234"}'))
    assert not fuzz._link_resolved(recorder, node, follow_up("http://t/x", b'{"bot_id": ""}'))
    # only whole values count: a created value inside the follow-up's literal path (the
    # provider's capability `embedding` in /embedding-dimension), or inside a longer value (the
    # template `properties` made of `.properties`), is not the link carrying it (full-depth
    # V1-FUZZ-006 on the simulator, 2026-12-03: both read as "Created resource not found")
    provider = NS(response=NS(json=lambda: {"status": "ok", "data": {
        "id": "%C2%A6", "capability": "embedding"}}))
    recorder = NS(interactions={"parent": provider})
    assert not fuzz._link_resolved(recorder, node, follow_up(
        "http://t/api/v1/providers/embedding-dimension", b'{"provider_id": "\\u00ef"}'))
    assert fuzz._link_resolved(recorder, node, follow_up(
        "http://t/api/v1/providers/embedding-dimension", b'{"provider_id": "%C2%A6"}'))
    assert fuzz._link_resolved(recorder, node, follow_up(
        "http://t/api/v1/providers/by-id?provider_id=%25C2%25A6"))
    assert fuzz._link_resolved(recorder, node, follow_up(
        "http://t/api/v1/providers/%25C2%25A6"))
    # the id `%C2%A6` put into the path unescaped is another id (`\xa6`) to the target, even
    # when the body names it whole (schemathesis unquotes path values before quoting them)
    assert not fuzz._link_resolved(recorder, node, follow_up(
        "http://t/api/v1/providers/%C2%A6", b'{"id": "%C2%A6", "enabled": false}'))
    template = NS(response=NS(json=lambda: {"status": "ok", "data": {"name": "properties"}}))
    recorder = NS(interactions={"parent": template})
    assert not fuzz._link_resolved(recorder, node, follow_up(
        "http://t/api/v1/t2i/templates/.properties"))
    # a body that is not JSON (a form, an upload) is searched as text
    assert fuzz._link_resolved(recorder, node, follow_up("http://t/x", b"name=properties&a=1"))


def test_a_200_with_the_error_envelope_is_a_rejection_not_an_acceptance():
    from types import SimpleNamespace as NS

    def answer(status, body):
        return NS(status_code=status, json=lambda: body)

    assert fuzz._error_envelope(answer(200, {"status": "error", "message": "Missing key"}))
    assert not fuzz._error_envelope(answer(200, {"status": "ok", "data": {}}))
    assert not fuzz._error_envelope(answer(500, {"status": "error", "message": "boom"}))
    assert set(fuzz.REJECTIONS) <= set(fuzz.CHECKS)


def test_refusals_that_are_not_the_targets_fault_are_told_apart():
    from types import SimpleNamespace as NS

    def case(path="/api/v1/bots/b1/test", query=None, body=None, media="application/json"):
        return NS(formatted_path=path, query=query or {}, path_parameters={}, body=body,
                  media_type=media)

    label = "POST /api/v1/bots/{bot_id}/test"
    assert fuzz.refusal_excused(label, case()) == ""  # a plain refusal: the target's
    # an empty path parameter leaves `//`: the URL is another operation's
    assert "POST /api/v1/bots/test" in fuzz.refusal_excused(label, case("/api/v1/bots//test"))
    assert "surrogate" in fuzz.refusal_excused(label, case(body={"name": "x\udb4c"}))
    assert "multipart" in fuzz.refusal_excused(label, case(body={"a\x1b": "1"},
                                                           media="multipart/form-data"))
    assert "NOTE-EMPTY-KEY" in fuzz.refusal_excused("GET /api/v1/file",
                                                    case("/api/v1/file", {"attachment_id": ""}))


def test_an_answer_is_documented_by_a_declared_status_or_the_error_envelope():
    label = "GET /api/v1/bots"
    assert fuzz.documented("v1", label, 200, "anything: FUZZ-002 judges declared bodies")
    assert fuzz.documented("v1", label, 404, '{"status":"error","message":"Bot x not found"}')
    assert not fuzz.documented("v1", label, 422, '{"detail":[{"type":"missing"}]}')
    assert not fuzz.documented("v1", label, 405, '{"detail":"Method Not Allowed"}')
    assert not fuzz.documented("v1", label, 400, "<html>Bad Request</html>")
    assert not fuzz.documented("v1", label, 201, '{"status":"ok","data":{}}')
    assert fuzz.documented("v1", label, 500, "boom")  # FUZZ-001's business, not counted twice
    legacy = "GET /api/v1/im/bots"
    assert fuzz.documented("legacy", legacy, 401, "seed 002 declares 401")
    assert fuzz.documented("legacy", legacy, 400, '{"status":"error","message":"Missing key"}')
    assert not fuzz.documented("legacy", legacy, 422, '{"detail":"x"}')


def test_reproducers_hide_credentials_but_not_generated_values():
    """schemathesis' default markers filter any key holding "key" or "session": a reproducer
    of a refused `rule_key` read `"rule_key": "[Filtered]"`. The credentials stay filtered."""
    from schemathesis.core.output.sanitization import is_sensitive_key

    cfg = fuzz._config("v1", "http://127.0.0.1:1", {}, 0, "quick", 1.0, None)
    sanitization = cfg.output.sanitization
    def hidden(name):
        return is_sensitive_key(name, sanitization.keys_to_sanitize,
                                sanitization.sensitive_markers)
    assert not [k for k in ("rule_key", "session_id", "provider_key", "key_id", "max_tokens",
                            "umo") if hidden(k)]
    assert all(hidden(k) for k in ("Authorization", "password", "api_key", "jwt_secret",
                                   "new_password", "Cookie"))


def test_a_long_error_envelope_is_judged_whole_not_cut_short():
    """A 400 whose envelope echoes a long rejected body (the simulator's "Invalid request body
    at message: [...]") was judged on its first 2,000 bytes, no longer JSON: a false
    V1-FUZZ-007 on a conformant target (full depth). The answer is judged whole; the evidence
    stays short."""
    import json
    from types import SimpleNamespace as NS

    def recorded(body: bytes):
        response = NS(status_code=400, content=body)
        case = NS(value=NS(operation=NS(label="GET /api/v1/bots"),
                           as_curl_command=lambda headers: "curl ..."))
        return NS(cases={"c1": case}, interactions={"c1": NS(response=response)}, checks={})

    rid = fuzz.requirement_id("v1", fuzz.UNDOCUMENTED)
    long_envelope = json.dumps({"status": "error", "message": "Invalid request body at message: "
                                + "x" * 5000}).encode()
    result = fuzz.FuzzResult("v1", 0, {})
    fuzz._record(result, recorded(long_envelope))
    judged = result.judged[("GET /api/v1/bots", rid)]
    assert judged.passed == 1 and not judged.failures
    result = fuzz.FuzzResult("v1", 0, {})
    fuzz._record(result, recorded(b'{"detail": "' + b"x" * 5000 + b'"}'))
    (failure,) = result.judged[("GET /api/v1/bots", rid)].failures
    assert len(failure.response) <= 600 and len(failure.message) < 400  # evidence stays short


def test_platform_webhooks_answer_in_the_platform_format():
    """Seed 004's webhooks are public and declare no body: a platform's own error body on a
    4xx is documented there (AstrBot 4.27+: `{"error": ...}`), and nowhere else."""
    webhook = "GET /api/v1/webhooks/platforms/{webhook_uuid}"
    raw = '{"error": "platform not found"}'
    assert fuzz.platform_format("v1", webhook)
    assert fuzz.documented("v1", webhook, 404, raw)
    assert not fuzz.platform_format("v1", "GET /api/v1/backups/{filename}")  # no body, not public
    assert not fuzz.platform_format("v1", "POST /api/v1/auth/login")  # public, with a body
    assert not fuzz.documented("v1", "GET /api/v1/bots", 404, raw)


def test_a_read_after_a_delete_of_the_created_resource_is_not_a_missing_resource():
    """seed 004's /by-id variants name the id in the query: schemathesis does not see that
    `DELETE /api/v1/bots/{bot_id}` removed what `GET /api/v1/bots/by-id?bot_id=` reads."""
    from types import SimpleNamespace as NS

    from conformance.fuzz_links import deleted_before

    def step(at, method, uri, status, body=None):
        return NS(timestamp=at, request=NS(method=method, uri=uri, body=b""),
                  response=NS(status_code=status, json=lambda: body))

    create = step(1, "POST", "http://t/api/v1/bots", 200,
                  {"status": "ok", "data": {"id": "bot-1234", "type": "telegram"}})
    read = step(5, "GET", "http://t/api/v1/bots/by-id?bot_id=bot-1234", 404)
    node = NS(parent_id="c")

    def recorder(*others):
        return NS(interactions={"c": create, **{str(n): o for n, o in enumerate(others)},
                                "r": read})

    gone = step(3, "DELETE", "http://t/api/v1/bots/bot-1234", 200)
    assert deleted_before(recorder(gone), node, read)
    assert not deleted_before(recorder(), node, read)
    assert not deleted_before(recorder(step(3, "DELETE", "http://t/api/v1/bots/bot-1234", 404)),
                              node, read)  # the delete was refused: still there
    assert not deleted_before(recorder(step(7, "DELETE", "http://t/api/v1/bots/bot-1234", 200)),
                              node, read)  # after the read
    # a delete of something else the create named (its type), not of the resource
    assert not deleted_before(recorder(step(3, "DELETE", "http://t/api/v1/x/telegram", 200)),
                              node, read)
    # nor of another resource whose id begins with this one's: whole values only
    assert not deleted_before(recorder(step(3, "DELETE", "http://t/api/v1/bots/bot-12345", 200)),
                              node, read)
