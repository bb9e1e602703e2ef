"""Hostile JSON on every JSON operation of both documents (seed 004 and the legacy Open API),
over a real socket: deep nesting, lone surrogates, huge numbers, duplicate keys, bytes that are
not UTF-8. Each is answered with a 4xx error envelope (issue 15: 136 of 1,320 such bodies were
a 500), never a 5xx; lone surrogates in query values and path parameters too."""

from __future__ import annotations

import json

import pytest

from simulator.contract import openapi_legacy, openapi_v1, operations
from simulator.http.kernel import jsonbody

DEEP = 3000  # past Python's recursion limit (1,000)


def _json_operations():
    for op in operations():
        media = ((op.spec.get("requestBody") or {}).get("content") or {})
        if not op.websocket and "application/json" in media:
            yield op


def _resolve(schema: dict, doc: dict, seen: int = 0) -> dict:
    while "$ref" in schema and seen < 20:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema, seen = doc["components"]["schemas"][name], seen + 1
    return schema


def minimal(schema: dict, doc: dict, text: str, depth: int = 0):
    """A value of `schema` with every required field and every string set to `text`: a body
    that would pass the schema if `text` were harmless."""
    schema = _resolve(schema, doc)
    for key in ("allOf", "oneOf", "anyOf"):
        if schema.get(key):
            if key == "allOf":
                merged: dict = {}
                for branch in schema[key]:
                    value = minimal(branch, doc, text, depth + 1)
                    merged.update(value if isinstance(value, dict) else {})
                return merged
            return minimal(schema[key][0], doc, text, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {} if depth > 6 else {
            name: minimal(props.get(name, {}), doc, text, depth + 1)
            for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return text


def _url_of(op, doc: dict) -> str:
    path = op.path
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "hostile-x" + path[end + 1:]
    query = []
    for param in op.spec.get("parameters", []):
        if "$ref" in param:
            param = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        if param.get("in") == "query" and param.get("required"):
            query.append(f"{param['name']}={minimal(param.get('schema', {}), doc, 'x')}")
    return path + ("?" + "&".join(query) if query else "")


def _doc(op) -> dict:
    return openapi_v1() if op.document == "v1" else openapi_legacy()


def _body_schema(op) -> dict:
    return op.spec["requestBody"]["content"]["application/json"].get("schema", {})


HOSTILE = {
    "deep-arrays": lambda op: ("[" * DEEP + "]" * DEEP).encode(),
    "deep-objects": lambda op: ('{"a":' * DEEP + "1" + "}" * DEEP).encode(),
    "deep-inside-valid": lambda op: json.dumps(
        {**_as_dict(minimal(_body_schema(op), _doc(op), "x")), "extra": "@"}).replace(
            '"@"', "[" * DEEP + "]" * DEEP).encode(),
    "lone-surrogate": lambda op: json.dumps(
        minimal(_body_schema(op), _doc(op), "\ud800")).encode(),
    "huge-float": lambda op: b'{"a": 1e999999}',
    "huge-int": lambda op: b'{"a": 1' + b"0" * 10_000 + b"}",
    "duplicate-keys": lambda op: b'{"a": 1, "a": 2}',
    "not-utf8": lambda op: b'{"a": "\xff\xfe"}',
    "utf16": lambda op: '{"a": 1}'.encode("utf-16"),
}


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _envelope_ok(status: int, body) -> bool:
    return isinstance(body, dict) and body.get("status") == "error" \
        and isinstance(body.get("message"), str)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_every_json_operation_answers_hostile_json_with_a_4xx_envelope(sim, kind):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    ops = list(_json_operations())
    assert len(ops) > 50  # both documents' JSON operations, not an empty walk
    wrong = []
    for op in ops:
        if op.operation_id in ("logout", "updateAccount"):
            continue  # would end the walk's own session (their bodies are decoded the same way)
        status, body = await sim.call(op.method, _url_of(op, _doc(op)), data=HOSTILE[kind](op),
                                      headers={**auth, "Content-Type": "application/json"})
        if status >= 500 or (status >= 400 and not _envelope_ok(status, body)):
            wrong.append(f"{op.method} {op.path}: {status} {str(body)[:120]}")
    assert wrong == []


async def test_public_login_refuses_a_lone_surrogate(sim):
    await sim.admin_jwt()
    for body in ({"username": "\ud800", "password": "x"},
                 {"username": "admin", "password": "\udfff-pass"}):
        status, answer = await sim.call("POST", "/api/v1/auth/login",
                                        data=json.dumps(body).encode(),
                                        headers={"Content-Type": "application/json"})
        assert status == 400, answer
        assert _envelope_ok(status, answer) and "surrogate" in answer["message"]


async def test_a_valid_surrogate_pair_is_text_like_any_other(sim):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    status, body = await sim.call("POST", "/api/v1/personas", headers=auth, json={
        "persona_id": "emoji-\U0001f600", "system_prompt": "hi \U0001f600"})
    assert status == 200, body


@pytest.mark.parametrize("target", [
    "/api/v1/personas?page=%ED%A0%80",  # an encoded surrogate: decoded as U+FFFD by the URL parser
    "/api/v1/personas/%ED%A0%80",
    "/api/v1/conversations?keyword=%ED%B0%80",
])
async def test_surrogate_bytes_in_urls_never_reach_a_5xx(sim, target):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    status, body = await sim.call("GET", target, headers=auth)
    assert status < 500, body


def test_the_decoder_refuses_each_hostile_form_and_keeps_good_json():
    for raw in (b"[" * 70 + b"]" * 70, b'{"a":"\\ud800"}', b'{"\\udc00":1}', b"1e999999",
                b"1" + b"0" * 5000, b"-" + b"9" * 4301, b'{"a":1,"a":1}', b"\xff", b"NaN",
                b"[-Infinity]"):
        with pytest.raises(jsonbody.ApiError) as refused:
            jsonbody.decode(raw)
        assert refused.value.status == 400, raw
    nested = b"[" * jsonbody.MAX_DEPTH + b"]" * jsonbody.MAX_DEPTH
    assert jsonbody.decode(nested) is not None
    assert jsonbody.decode(b'{"a": "\\ud83d\\ude00", "n": -9223372036854775808}') == {
        "a": "\U0001f600", "n": -2 ** 63}
    assert jsonbody.decode(b"1" + b"0" * 4299) == 10 ** 4299  # valid JSON, within the limit
    assert jsonbody.decode(b"\xef\xbb\xbf[1.5]") == [1.5]


def test_check_text_refuses_a_surrogate_in_a_query_value():
    with pytest.raises(jsonbody.ApiError):
        jsonbody.check_text("query parameter", [("q", "a\udced")])
    jsonbody.check_text("query parameter", [("q", "\U0001f600")])


# -- a refused request leaves nothing behind ------------------------------------------------------
async def _session_ids(sim, auth) -> set[str]:
    status, body = await sim.call("GET", "/api/v1/chat/sessions?page_size=100", headers=auth)
    assert status == 200, body
    return {s["session_id"] for s in body["data"]["sessions"]}


@pytest.mark.parametrize("body", [
    {"message": "\ud800 hi", "session_id": "refused-surrogate"},
    {"message": "hi", "session_id": "refused-config", "config_id": "no-such-config"},
    {"message": [{"type": "reply", "message_id": "1"}], "session_id": "refused-reply-only"},
])
async def test_a_refused_chat_leaves_no_session_row(sim, body):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    before = await _session_ids(sim, auth)
    status, answer = await sim.call("POST", "/api/v1/chat", data=json.dumps(body).encode(),
                                    headers={**auth, "Content-Type": "application/json"})
    assert 400 <= status < 500 and _envelope_ok(status, answer), answer
    assert await _session_ids(sim, auth) == before
    assert sim.sim.store.chat_session(body["session_id"]) is None


async def test_the_chat_write_is_one_transaction(sim):
    """White-box: a user message SQLite cannot store takes its new session row with it."""
    store = sim.sim.store
    with pytest.raises(UnicodeEncodeError):
        store.open_chat("rolled-back", "admin", "2026-01-01T00:00:00+00:00",
                        [{"type": "plain", "text": "\ud800"}], "ckpt")
    assert store.chat_session("rolled-back") is None
    assert store.messages("rolled-back") == []


def _multipart(fields: dict[str, str], filename: bytes, data: bytes) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                .encode())
    out += (b'--B\r\nContent-Disposition: form-data; name="file"; filename="' + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n--B--\r\n")
    return out


async def test_an_upload_named_with_raw_bytes_is_stored_under_a_readable_name(sim):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    body = _multipart({}, b"a\xed\xa0\x80b.txt", b"hello")
    status, answer = await sim.call("POST", "/api/v1/files", data=body, headers={
        **auth, "Content-Type": "multipart/form-data; boundary=B"})
    assert status == 200, answer
    assert "\ufffd" in json.dumps(answer["data"], ensure_ascii=False)
    folder = sim.sim.config.data_dir / "attachments"
    assert len(list(folder.iterdir())) == 1  # one file, and it has its row


# -- no cost that grows with a number the client picks ---------------------------------------
async def test_a_chunk_index_beyond_the_upload_is_refused_and_costs_nothing(sim):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    status, session = await sim.call("POST", "/api/v1/backups/upload/init", headers=auth,
                                     json={"filename": "big.zip", "total_size": 10})
    assert status == 200, session
    upload_id = session["data"]["upload_id"]
    for index in (30_000_001, 10, -1, 10 ** 4000):  # 10 bytes: at most 10 chunks, 0..9
        body = _multipart({"upload_id": upload_id, "chunk_index": str(index)}, b"c", b"x")
        status, answer = await sim.call(
            "POST", "/api/v1/backups/upload/chunk", headers={
                **auth, "Content-Type": "multipart/form-data; boundary=B"},
            data=body.replace(b'name="file"', b'name="chunk"'))
        assert status == 400 and _envelope_ok(status, answer), (str(index)[:20], answer)
    folder = sim.sim.config.data_dir / "backup_uploads" / upload_id
    assert not folder.exists() or list(folder.iterdir()) == []
    status, answer = await sim.call("POST", "/api/v1/backups/upload/complete", headers=auth,
                                    json={"upload_id": upload_id})
    assert status == 409 and "missing chunks [0]" in answer["message"], answer


def _query_operations():
    for op in operations():
        if op.websocket:
            continue
        doc = _doc(op)
        for param in op.spec.get("parameters", []):
            if "$ref" in param:
                param = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
            if param.get("in") == "query":
                yield op, param["name"]


@pytest.mark.parametrize("value", ["%ED%A0%80", "%ED%B0%80%ED%A0%80", "%FF%FE", "a%00b",
                                   "9" * 5000])
async def test_every_query_parameter_takes_hostile_values_without_a_5xx(sim, value):
    auth = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    pairs = list(_query_operations())
    assert len(pairs) > 50
    wrong = []
    for op, name in pairs:
        if op.operation_id in ("logout", "updateAccount"):
            continue
        url = _url_of(op, _doc(op))
        url += ("&" if "?" in url else "?") + f"{name}={value}"
        status, body = await sim.call(op.method, url, headers=auth)
        if status >= 500 or (status >= 400 and not _envelope_ok(status, body)):
            wrong.append(f"{op.method} {op.path} ?{name}: {status} {str(body)[:100]}")
    assert wrong == []


# -- JSON and YAML inside an uploaded archive -------------------------------------------------
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))


@pytest.mark.parametrize("files", [
    {"metadata.yaml": "name: astrbot_plugin_h\n", "_conf_schema.json": "[" * DEEP + "]" * DEEP},
    {"metadata.yaml": "name: astrbot_plugin_h\n", "_conf_schema.json": '{"a": "\\ud800"}'},
    {"metadata.yaml": "name: astrbot_plugin_h\n", "_conf_schema.json": '{"a": {}, "a": {}}'},
    {"metadata.yaml": "name: astrbot_plugin_h\nnest: " + "[" * DEEP + "]" * DEEP + "\n"},
    {"metadata.yaml": 'name: astrbot_plugin_h\ndesc: "\\ud800"\n'},
    {"metadata.yaml": "name: astrbot_plugin_h\n" + LAUGHS + "desc: *i\n"},
], ids=["deep-schema", "surrogate-schema", "duplicate-schema", "deep-yaml", "surrogate-yaml",
        "laughs-yaml"])
async def test_a_plugin_archive_with_hostile_metadata_is_a_400(sim, files):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    body = _multipart({}, b"p.zip", buffer.getvalue())
    status, answer = await sim.call("POST", "/api/v1/plugins/install/upload", data=body,
                                    headers={"Authorization": f"Bearer {await sim.admin_jwt()}",
                                             "Content-Type": "multipart/form-data; boundary=B"})
    assert status == 400 and _envelope_ok(status, answer), answer
    assert "metadata" in answer["message"] or "_conf_schema" in answer["message"], answer
