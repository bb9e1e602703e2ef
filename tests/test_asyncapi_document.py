"""Validate specs/live-api.asyncapi.yaml (AstrBot Live API and Open API chat WebSockets).

No network: the AsyncAPI 3.0.0 JSON Schema is vendored in tests/data (see its README).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "specs" / "live-api.asyncapi.yaml"
ASYNCAPI_SCHEMA_PATH = ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json"
DOC_URI = "urn:astrbot-conformance:live-api.asyncapi"

LIVE_CLIENT = {"start_speaking", "speaking_part", "end_speaking", "text_input", "interrupt"}
LIVE_SERVER = {
    "metrics",
    "user_msg",
    "bot_delta_chunk",
    "bot_text_chunk",
    "response",
    "bot_msg",
    "stop_play",
    "end",
    "error",
}
CHAT_CLIENT = {"bind", "send", "interrupt"}
CHAT_SERVER = {
    "session_bound",
    "plain",
    "image",
    "record",
    "file",
    "agent_stats",
    "user_message_saved",
    "message_saved",
    "attachment_saved",
    "complete",
    "end",
    "error",
    "forwarded",
}

OPENCHAT_CLIENT = {"send", "ping"}
OPENCHAT_SERVER = {
    "pong",
    "session_id",
    "plain",
    "agent_stats",
    "complete",
    "message_saved",
    "end",
    "error",
    "forwarded",
}

LIVE_KEYS = {f"live_client_{t}" for t in LIVE_CLIENT} | {f"live_server_{t}" for t in LIVE_SERVER}
CHAT_KEYS = {f"chat_client_{t}" for t in CHAT_CLIENT} | {f"chat_server_{t}" for t in CHAT_SERVER}
CONNECT_KEYS = {"connect_server_error"}
OPENCHAT_KEYS = {f"openchat_client_{t}" for t in OPENCHAT_CLIENT} | {
    f"openchat_server_{t}" for t in OPENCHAT_SERVER
}
EXPECTED_MESSAGE_KEYS = LIVE_KEYS | CHAT_KEYS | CONNECT_KEYS | OPENCHAT_KEYS
MODES = {"live", "chat", "connect", "openchat"}

EXPECTED_CHANNELS = {
    "liveOpenApi": ("/api/v1/live/ws", LIVE_KEYS | CHAT_KEYS | CONNECT_KEYS),
    "liveChatJwt": ("/api/v1/live-chat/ws", LIVE_KEYS),
    "liveChatLegacy": ("/api/live_chat/ws", LIVE_KEYS),
    "unifiedChatJwt": ("/api/v1/unified-chat/ws", LIVE_KEYS | CHAT_KEYS),
    "unifiedChatLegacy": ("/api/unified_chat/ws", LIVE_KEYS | CHAT_KEYS),
    "openChat": ("/api/v1/chat/ws", OPENCHAT_KEYS),
}

CITATION = re.compile(
    r"\bSeed 00[0-9]\b|\b(?:LIVE|CHAT-WS|CHAT|SSE|OWS|AUTH|DIFF|VER|REST)-\d{3}\b"
)

DIALECTS = {
    "draft7": (Draft7Validator, DRAFT7),
    "draft2020-12": (Draft202012Validator, DRAFT202012),
}


# --------------------------------------------------------------------------- helpers


@cache
def _load_doc_text() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def load_doc() -> dict[str, Any]:
    # Fresh copy per call so no test can mutate another's view.
    return yaml.safe_load(_load_doc_text())


DOC = load_doc()
MESSAGES: dict[str, dict[str, Any]] = DOC["components"]["messages"]
MESSAGE_KEYS = sorted(MESSAGES)
EXAMPLE_CASES = [
    pytest.param(key, i, id=f"{key}[{ex.get('name', i)}]")
    for key in MESSAGE_KEYS
    for i, ex in enumerate(MESSAGES[key].get("examples", []))
]


@cache
def payload_validator(key: str, dialect: str = "draft7"):
    """Validator for one message payload, resolving internal $refs against the whole doc."""
    validator_cls, spec = DIALECTS[dialect]
    resource = Resource.from_contents(load_doc(), default_specification=spec)
    registry = Registry().with_resource(DOC_URI, resource)
    schema = {"$ref": f"{DOC_URI}#/components/messages/{key}/payload"}
    return validator_cls(schema, registry=registry)


def is_valid(key: str, instance: Any, dialect: str = "draft7") -> bool:
    return payload_validator(key, dialect).is_valid(instance)


def resolve_pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only internal refs are expected, got {ref!r}"
    node: Any = doc
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable ref {ref!r}"
        node = node[part]
    return node


def iter_refs(node: Any):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from iter_refs(v)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def frame(key: str) -> dict[str, str]:
    return MESSAGES[key]["x-astrbot-frame"]


def channels_of(key: str) -> set[str]:
    return {name for name, ch in DOC["channels"].items() if key in ch["messages"]}


# --------------------------------------------------------------------------- document level


def test_document_is_plain_json_data():
    """YAML must not produce non-JSON values (dates, non-string keys, ...)."""

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                assert isinstance(k, str), f"non-string key {k!r} at {path}"
                walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")
        else:
            assert node is None or isinstance(node, str | int | float | bool), (
                f"non-JSON value {node!r} ({type(node).__name__}) at {path}"
            )

    walk(DOC, "#")
    json.dumps(DOC)


def test_yaml_has_no_duplicate_keys():
    """PyYAML silently keeps the last of two equal keys; refuse that."""

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(k, deep=True) for k, _ in node.value]
        dupes = sorted({str(k) for k in keys if keys.count(k) > 1})
        assert not dupes, f"duplicate keys {dupes} at {node.start_mark}"
        return yaml.SafeLoader.construct_mapping(loader, node, deep=True)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    yaml.load(_load_doc_text(), Loader=StrictLoader)


def test_vendored_asyncapi_schema_is_self_contained():
    schema = json.loads(ASYNCAPI_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("http://json-schema.org/draft-07/schema")
    assert schema["properties"]["asyncapi"]["const"] == "3.0.0"

    def structural_refs(node: Any):
        # "examples" hold sample AsyncAPI snippets, not schema refs.
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "examples":
                    continue
                if k == "$ref" and isinstance(v, str):
                    yield v
                else:
                    yield from structural_refs(v)
        elif isinstance(node, list):
            for item in node:
                yield from structural_refs(item)

    external = [r for r in structural_refs(schema) if not r.startswith("#")]
    assert external == [], "bundled schema should need no registry"


def test_document_validates_against_asyncapi_3_0_0_schema():
    schema = json.loads(ASYNCAPI_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(DOC), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:20]
    )


def test_info_block():
    assert DOC["asyncapi"] == "3.0.0"
    info = DOC["info"]
    assert info["version"] == "0.1.0"
    assert info["title"]
    for needle in (
        "seed 001",
        "seed 000",
        "seed 004",
        "openChatWebSocket",
        "LIVE-029",
        "OWS-001",
        "OWS-012",
        "AUTH-025",
        "CHAT-WS-004",
        "SSE-005",
    ):
        assert needle.lower() in info["description"].lower(), needle


def test_info_lists_every_research_id_cited_elsewhere():
    research_id = re.compile(r"\b(?:LIVE|CHAT-WS|CHAT|SSE|OWS|AUTH|DIFF|VER|REST)-\d{3}\b")
    rest = {k: v for k, v in DOC.items() if k != "info"}
    cited = set(research_id.findall(json.dumps(rest, ensure_ascii=False)))
    listed = set(research_id.findall(DOC["info"]["description"]))
    assert cited <= listed, sorted(cited - listed)


def test_all_internal_refs_resolve():
    for ref in iter_refs(DOC):
        resolve_pointer(DOC, ref)


def test_message_keys_are_exactly_the_expected_set():
    assert set(MESSAGES) == EXPECTED_MESSAGE_KEYS


# --------------------------------------------------------------------------- per message


@pytest.mark.parametrize("key", MESSAGE_KEYS)
def test_message_metadata(key: str):
    msg = MESSAGES[key]
    for field in ("name", "title", "summary", "description"):
        assert isinstance(msg.get(field), str) and msg[field].strip(), f"{key}: missing {field}"
    assert CITATION.search(msg["description"]), f"{key}: description cites no seed/research ID"

    fr = msg.get("x-astrbot-frame")
    assert isinstance(fr, dict), f"{key}: missing x-astrbot-frame"
    assert set(fr) == {"mode", "direction", "discriminator", "type"}
    assert fr["mode"] in MODES
    assert fr["direction"] in {"client", "server"}
    assert fr["discriminator"] in {"t", "type"}
    assert isinstance(fr["type"], str) and fr["type"]

    suffix = "forwarded" if fr["type"] == "*" else fr["type"]
    assert key == f"{fr['mode']}_{fr['direction']}_{suffix}"
    if fr["type"] != "*":
        assert msg["name"] == fr["type"]

    payload = msg.get("payload")
    assert isinstance(payload, dict) and payload.get("type") == "object", f"{key}: payload"
    disc_schema = payload["properties"][fr["discriminator"]]
    if fr["discriminator"] not in payload["required"]:
        # Only an absent `t` that the server reads as a default type may be omitted (OWS-003).
        assert disc_schema.get("default") == fr["type"], f"{key}: discriminator not required"
    if fr["type"] == "*":
        assert "const" not in disc_schema
    else:
        assert disc_schema.get("const") == fr["type"]

    assert msg.get("examples"), f"{key}: needs at least one example"


@pytest.mark.parametrize("key", MESSAGE_KEYS)
def test_discriminator_and_ct_rules(key: str):
    fr = frame(key)
    payload = MESSAGES[key]["payload"]
    props = payload["properties"]
    if fr["direction"] == "client":
        # Client frames are always t-keyed; ct is optional.
        assert fr["discriminator"] == "t"
        assert "ct" not in payload["required"]
        assert payload.get("additionalProperties") is False
    elif fr["mode"] == "live":
        assert fr["discriminator"] == "t"
        assert "ct" not in props and payload.get("additionalProperties") is False
    elif fr["mode"] == "chat":
        assert "ct" in payload["required"]
        expected_disc = "t" if fr["type"] == "error" else "type"
        assert fr["discriminator"] == expected_disc
    elif fr["mode"] == "openchat":
        # /api/v1/chat/ws server frames are type-keyed and never carry ct (OWS-001).
        assert fr["discriminator"] == "type"
        assert "ct" not in props and "t" not in props
        for example in MESSAGES[key]["examples"]:
            assert not is_valid(key, {**example["payload"], "ct": "chat"}), key
    else:  # connect
        assert fr["discriminator"] == "type"
        assert "ct" not in props and payload.get("additionalProperties") is False


def test_optional_discriminator_only_on_openchat_send():
    optional = sorted(
        k
        for k in MESSAGE_KEYS
        if frame(k)["discriminator"] not in MESSAGES[k]["payload"]["required"]
    )
    assert optional == ["openchat_client_send"]


def test_frame_identities_are_unique():
    identities = Counter(
        (f["mode"], f["direction"], f["type"]) for f in (frame(k) for k in MESSAGE_KEYS)
    )
    dupes = [ident for ident, n in identities.items() if n > 1]
    assert not dupes


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize(("key", "index"), EXAMPLE_CASES)
def test_example_validates_against_own_payload(key: str, index: int, dialect: str):
    example = MESSAGES[key]["examples"][index]
    validator = payload_validator(key, dialect)
    errors = list(validator.iter_errors(example["payload"]))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(("key", "index"), EXAMPLE_CASES)
def test_example_matches_no_other_message(key: str, index: int):
    """Server frames are unambiguous across all modes that share a channel with them (the
    openchat error and the connect error share one envelope but never one socket); client
    frames within their mode."""
    instance = MESSAGES[key]["examples"][index]["payload"]
    fr = frame(key)
    candidates = [
        k
        for k in MESSAGE_KEYS
        if frame(k)["direction"] == fr["direction"]
        and (
            frame(k)["mode"] == fr["mode"]
            or (fr["direction"] == "server" and channels_of(k) & channels_of(key))
        )
    ]
    matching = [k for k in candidates if is_valid(k, instance)]
    assert matching == [key]


# --------------------------------------------------------------------------- channels & ops


def test_channels_addresses_and_messages():
    channels = DOC["channels"]
    assert set(channels) == set(EXPECTED_CHANNELS)
    for name, (address, expected_keys) in EXPECTED_CHANNELS.items():
        ch = channels[name]
        assert ch["address"] == address
        assert ch.get("description")
        assert set(ch["messages"]) == expected_keys, name
        for msg_key, ref_obj in ch["messages"].items():
            assert set(ref_obj) == {"$ref"}
            assert ref_obj["$ref"] == f"#/components/messages/{msg_key}"
            assert msg_key in MESSAGES


def test_channel_ws_bindings():
    channels = DOC["channels"]
    for name in EXPECTED_CHANNELS:
        ws = channels[name]["bindings"]["ws"]
        assert ws["method"] == "GET"
        query = ws["query"]
        assert query["type"] == "object" and query["properties"]

    open_query = channels["liveOpenApi"]["bindings"]["ws"]["query"]
    assert "username" in open_query["required"]
    assert {"api_key", "username", "ct"} <= set(open_query["properties"])
    assert open_query["properties"]["ct"]["enum"] == ["live", "chat"]
    assert open_query["properties"]["ct"]["default"] == "live"
    headers = channels["liveOpenApi"]["bindings"]["ws"]["headers"]
    assert "Authorization" in headers["properties"]

    for name in ("liveChatJwt", "liveChatLegacy", "unifiedChatJwt", "unifiedChatLegacy"):
        query = channels[name]["bindings"]["ws"]["query"]
        assert query["required"] == ["token"]

    # /api/v1/chat/ws: seed 004 query parameters plus the AUTH-023 headers; no username query.
    open_chat = channels["openChat"]["bindings"]["ws"]
    assert set(open_chat["query"]["properties"]) == {"api_key", "key"}
    assert "required" not in open_chat["query"]
    assert set(open_chat["headers"]["properties"]) == {"X-API-Key", "Authorization"}
    auth = re.compile(open_chat["headers"]["properties"]["Authorization"]["pattern"])
    assert auth.search("Bearer abk_1") and auth.search("ApiKey abk_1")
    assert not auth.search("Basic abk_1")
    assert channels["openChat"]["x-astrbot-mode-selection"] == {"by": "forced", "mode": "openchat"}


def test_open_chat_operations_name_every_api_key_carrier():
    schemes = DOC["components"]["securitySchemes"]
    carriers = set()
    for op_name in ("openChatReceive", "openChatSend"):
        op = DOC["operations"][op_name]
        for ref_obj in op["security"]:
            scheme = resolve_pointer(DOC, ref_obj["$ref"])
            carriers.add((scheme.get("in", "header"), scheme.get("name", "Authorization")))
    assert carriers == {
        ("query", "api_key"),
        ("query", "key"),
        ("header", "X-API-Key"),
        ("header", "Authorization"),
    }
    assert schemes["apiKeyBearer"]["scheme"] == "bearer"
    assert "ApiKey" in schemes["apiKeyAuthorization"]["description"]


def test_operations_cover_each_channel_once_per_direction():
    ops = DOC["operations"]
    seen: Counter[tuple[str, str]] = Counter()
    for op_name, op in ops.items():
        channel_ref = op["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/")
        ch_name = channel_ref.removeprefix("#/channels/")
        assert ch_name in DOC["channels"], op_name
        seen[(ch_name, op["action"])] += 1

        direction = "client" if op["action"] == "receive" else "server"
        channel_msgs = DOC["channels"][ch_name]["messages"]
        referenced = []
        for ref_obj in op["messages"]:
            ref = ref_obj["$ref"]
            prefix = f"#/channels/{ch_name}/messages/"
            assert ref.startswith(prefix), f"{op_name}: {ref} is not a message of its channel"
            msg_key = ref.removeprefix(prefix)
            assert msg_key in channel_msgs, f"{op_name}: unknown channel message {msg_key}"
            assert frame(msg_key)["direction"] == direction, f"{op_name}: {msg_key}"
            referenced.append(msg_key)
        assert len(referenced) == len(set(referenced))
        expected = {k for k in channel_msgs if frame(k)["direction"] == direction}
        assert set(referenced) == expected, op_name

    expected_pairs = {(c, a) for c in EXPECTED_CHANNELS for a in ("send", "receive")}
    assert set(seen) == expected_pairs
    assert all(n == 1 for n in seen.values())


# --------------------------------------------------------------------------- contract details


def test_seed_examples_are_carried_verbatim():
    """Spot-check frames copied from seeds 000/001."""

    def payloads(key: str) -> list[Any]:
        return [ex["payload"] for ex in MESSAGES[key]["examples"]]

    assert {"t": "user_msg", "data": {"text": "Hello there", "ts": 1710000000000}} in payloads(
        "live_server_user_msg"
    )
    assert {"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"} in payloads(
        "live_server_error"
    )
    assert {
        "t": "error",
        "data": "message must be non-empty text",
        "code": "INVALID_MESSAGE_FORMAT",
    } in payloads("live_server_error")
    assert {
        "ct": "chat",
        "t": "error",
        "code": "INVALID_MESSAGE_FORMAT",
        "data": "message must be list",
    } in payloads("chat_server_error")
    assert {
        "type": "error",
        "code": "INVALID_MESSAGE",
        "data": "ct must be 'live' or 'chat'",
    } in payloads("connect_server_error")


def test_openchat_captured_frames_are_carried():
    """Frames captured on AstrBot 4.26.2 over /api/v1/chat/ws (real-astrbot-notes 5.3)."""

    def payloads(key: str) -> list[Any]:
        return [ex["payload"] for ex in MESSAGES[key]["examples"]]

    assert {"t": "ping"} in payloads("openchat_client_ping")
    assert {"type": "pong"} in payloads("openchat_server_pong")
    assert {"t": "send", "message": "hello", "username": "alice"} in payloads(
        "openchat_client_send"
    )
    assert {"message": "hello", "username": "alice"} in payloads("openchat_client_send")
    for data, code in (
        ("Missing API key", "UNAUTHORIZED"),
        ("Invalid API key", "UNAUTHORIZED"),
        ("Missing key: username", "BAD_USER"),
        ("Missing key: message", "INVALID_MESSAGE"),
        ("Unsupported message type: interrupt", "INVALID_MESSAGE"),
        ("message must be an object", "INVALID_MESSAGE"),
    ):
        assert {"type": "error", "code": code, "data": data} in payloads("openchat_server_error")
    codes = set(MESSAGES["openchat_server_error"]["payload"]["properties"]["code"]["examples"])
    assert codes == {
        "INVALID_MESSAGE",
        "BAD_USER",
        "SESSION_ERROR",
        "CONFIG_ERROR",
        "PROCESSING_ERROR",
        "UNAUTHORIZED",
    }


def test_openchat_forwarded_excludes_the_modelled_types():
    excluded = set(
        MESSAGES["openchat_server_forwarded"]["payload"]["properties"]["type"]["not"]["enum"]
    )
    modelled = {frame(k)["type"] for k in OPENCHAT_KEYS if frame(k)["direction"] == "server"}
    assert excluded == (modelled - {"*"}) | {"user_message_saved", "attachment_saved"}


def test_metrics_known_keys_are_typed():
    metrics = DOC["components"]["schemas"]["LiveMetricsData"]["properties"]
    for k in (
        "wav_assemble_time",
        "llm_ttft",
        "llm_total_time",
        "tts_total_time",
        "tts_first_frame_time",
        "speak_to_first_frame",
        "wav_to_tts_total_time",
    ):
        assert metrics[k]["type"] == "number", k
    for k in ("stt", "tts", "chat_model"):
        assert metrics[k]["type"] == "string", k
    assert metrics["input_type"]["enum"] == ["audio", "text"]


def test_message_part_matches_legacy_openapi_fields():
    legacy = json.loads((ROOT / "specs" / "openapi-open-api-legacy.json").read_text("utf-8"))
    legacy_part = legacy["components"]["schemas"]["MessagePart"]
    ours = DOC["components"]["schemas"]["MessagePart"]
    assert set(ours["properties"]) == set(legacy_part["properties"])
    assert ours["properties"]["type"]["enum"] == legacy_part["properties"]["type"]["enum"]
    assert ours["required"] == legacy_part["required"]


VALID_EXTRA = [
    ("live_client_text_input", {"t": "text_input", "text": "  hi  ", "ct": "live"}),
    ("live_server_metrics", {"t": "metrics", "data": {"input_type": "text"}}),
    ("live_server_metrics", {"t": "metrics", "data": {"some_future_stat": 1}}),
    ("live_server_error", {"t": "error", "data": "x", "code": "SOMETHING_NEW"}),
    ("live_server_response", {"t": "response", "data": ""}),
    ("chat_client_send", {"t": "send", "message": [{"type": "plain", "text": "hi"}]}),
    # seed 001: the message-part schema of POST /api/v1/chat, where seed 004 allows a string
    ("chat_client_send", {"ct": "chat", "t": "send", "message": "hi"}),
    ("chat_server_plain", {"ct": "chat", "type": "plain", "data": "x", "reasoning": "r"}),
    (
        "chat_server_forwarded",
        {"ct": "chat", "type": "video", "data": "[VIDEO]clip.mp4", "message_id": "m"},
    ),
    # openchat (/api/v1/chat/ws)
    ("openchat_client_send", {"message": {"a": 1}, "username": "alice"}),
    ("openchat_client_send", {"t": "send", "message": True, "username": "alice"}),
    ("openchat_client_send", {"message": "hi", "username": "bob", "message_id": 5.5}),
    ("openchat_client_send", {"message": "hi", "username": "bob", "config_name": "default"}),
    ("openchat_server_error", {"type": "error", "code": "SOMETHING_NEW", "data": "x"}),
    ("openchat_server_plain", {"type": "plain", "data": "x", "chain_type": "reasoning"}),
    ("openchat_server_end", {"type": "end", "data": "", "future_key": 1}),
    ("openchat_server_forwarded", {"type": "video", "data": "[VIDEO]clip.mp4"}),
    ("openchat_server_forwarded", {"type": "run_started", "data": {"run_id": "r1"}}),
]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize(("key", "instance"), VALID_EXTRA)
def test_schemas_accept_valid_variants(key: str, instance: Any, dialect: str):
    assert is_valid(key, instance, dialect)


INVALID = [
    # live server
    ("live_server_user_msg", {"t": "user_msg", "data": {"text": 1}}),
    ("live_server_user_msg", {"t": "user_msg", "data": {"text": "hi", "ts": 1.5}}),
    ("live_server_user_msg", {"t": "user_msg", "data": {"text": "hi", "ts": "1710000000000"}}),
    ("live_server_user_msg", {"t": "user_msg", "data": {"text": "hi"}}),
    ("live_server_response", {"t": "response", "data": "not base64!"}),
    ("live_server_response", {"t": "response", "data": "AAA"}),
    ("live_server_response", {"t": "response", "data": {"audio": "AAAA"}}),
    ("live_server_bot_delta_chunk", {"t": "bot_delta_chunk", "data": "Hel"}),
    ("live_server_bot_delta_chunk", {"t": "bot_delta_chunk", "data": {"text": ""}}),
    ("live_server_metrics", {"t": "metrics", "data": {"input_type": "video"}}),
    ("live_server_metrics", {"t": "metrics", "data": {"llm_ttft": "0.84"}}),
    ("live_server_metrics", {"t": "metrics", "data": {"stt": 5}}),
    ("live_server_metrics", {"t": "metrics", "data": {}}),
    ("live_server_error", {"t": "error", "data": {"msg": "x"}}),
    ("live_server_error", {"t": "error"}),
    ("live_server_end", {"t": "end", "ct": "chat"}),
    ("live_server_end", {"t": "stop_play"}),
    # live client
    ("live_client_text_input", {"t": "text_input", "text": ""}),
    ("live_client_text_input", {"t": "text_input", "text": "   "}),
    ("live_client_text_input", {"t": "text_input"}),
    ("live_client_text_input", {"t": "text_input", "text": 42}),
    ("live_client_text_input", {"t": "text_input", "message": "hi"}),
    ("live_client_start_speaking", {"t": "start_speaking", "stamp": ""}),
    ("live_client_start_speaking", {"t": "start_speaking"}),
    ("live_client_end_speaking", {"t": "end_speaking", "stamp": 1}),
    ("live_client_speaking_part", {"t": "speaking_part", "data": "%%%"}),
    ("live_client_speaking_part", {"t": "speaking_part", "data": ""}),
    ("live_client_speaking_part", {"t": "speaking_part"}),
    ("live_client_interrupt", {"t": "interrupt", "ct": "chat"}),
    ("live_client_interrupt", {"type": "interrupt"}),
    # chat client
    ("chat_client_send", {"ct": "chat", "t": "send", "message": []}),
    (
        "chat_client_send",
        {"ct": "chat", "t": "send", "message": [{"type": "reply", "message_id": "1"}]},
    ),
    ("chat_client_send", {"ct": "chat", "t": "send", "message": [{"type": "text", "text": "x"}]}),
    ("chat_client_send", {"ct": "chat", "t": "send", "message": [{"type": "plain"}]}),
    ("chat_client_send", {"ct": "chat", "t": "send", "message": [{"type": "image"}]}),
    (
        "chat_client_send",
        {"ct": "chat", "t": "send", "message_id": 5, "message": [{"type": "plain", "text": "x"}]},
    ),
    ("chat_client_send", {"ct": "live", "t": "send", "message": [{"type": "plain", "text": "x"}]}),
    ("chat_client_bind", {"ct": "chat", "t": "bind"}),
    ("chat_client_bind", {"ct": "chat", "t": "bind", "session_id": ""}),
    # chat server
    ("chat_server_plain", {"type": "plain", "data": "Hello"}),
    ("chat_server_plain", {"ct": "live", "type": "plain", "data": "Hello"}),
    ("chat_server_plain", {"ct": "chat", "type": "plain", "data": "x", "streaming": "yes"}),
    ("chat_server_end", {"type": "end", "data": ""}),
    ("chat_server_image", {"ct": "chat", "type": "image", "data": "file.jpg"}),
    ("chat_server_error", {"ct": "chat", "t": "error", "data": "oops"}),
    ("chat_server_error", {"t": "error", "data": "oops", "code": "PROCESSING_ERROR"}),
    ("chat_server_error", {"ct": "chat", "type": "error", "data": "x", "code": "X"}),
    ("chat_server_session_bound", {"ct": "chat", "type": "session_bound", "session_id": "s"}),
    (
        "chat_server_session_bound",
        {"ct": "chat", "type": "session_bound", "session_id": "s", "message_id": "sub_1"},
    ),
    ("chat_server_message_saved", {"ct": "chat", "type": "message_saved", "data": {"id": "1"}}),
    (
        "chat_server_user_message_saved",
        {"ct": "chat", "type": "user_message_saved", "data": {"id": 1, "created_at": "x"}},
    ),
    (
        "chat_server_attachment_saved",
        {"ct": "chat", "type": "attachment_saved", "data": {"id": "a", "type": "audio"}},
    ),
    ("chat_server_forwarded", {"ct": "chat", "type": "plain", "data": "x"}),
    ("chat_server_forwarded", {"type": "video", "data": "x"}),
    # connect
    ("connect_server_error", {"type": "error", "code": "FORBIDDEN", "data": "x"}),
    ("connect_server_error", {"type": "error", "code": "UNAUTHORIZED"}),
    ("connect_server_error", {"ct": "chat", "type": "error", "code": "BAD_USER", "data": "x"}),
    ("connect_server_error", {"t": "error", "code": "BAD_USER", "data": "x"}),
    # openchat client
    ("openchat_client_send", {"t": "send", "username": "alice"}),
    ("openchat_client_send", {"t": "send", "message": None, "username": "alice"}),
    ("openchat_client_send", {"t": "send", "message": "hello"}),
    ("openchat_client_send", {"t": "send", "message": "hello", "username": "  "}),
    ("openchat_client_send", {"t": "send", "message": "", "username": "alice"}),
    ("openchat_client_send", {"t": "send", "message": [], "username": "alice"}),
    (
        "openchat_client_send",
        {"message": [{"type": "reply", "message_id": 1}], "username": "alice"},
    ),
    ("openchat_client_send", {"t": "ping", "message": "hello", "username": "alice"}),
    ("openchat_client_send", {"ct": "chat", "t": "send", "message": "x", "username": "a"}),
    ("openchat_client_send", {"message": "x", "username": "a", "message_id": True}),
    ("openchat_client_ping", {}),
    ("openchat_client_ping", {"t": "ping", "ct": "chat"}),
    # openchat server
    ("openchat_server_error", {"type": "error", "data": "Missing API key"}),
    ("openchat_server_error", {"type": "error", "code": "", "data": "x"}),
    ("openchat_server_error", {"t": "error", "code": "BAD_USER", "data": "x"}),
    ("openchat_server_error", {"ct": "chat", "type": "error", "code": "X", "data": "x"}),
    ("openchat_server_plain", {"ct": "chat", "type": "plain", "data": "Hello"}),
    ("openchat_server_plain", {"type": "plain", "data": 1}),
    ("openchat_server_session_id", {"type": "session_id", "data": None, "message_id": "m"}),
    (
        "openchat_server_session_id",
        {"type": "session_id", "data": "x", "session_id": "s", "message_id": "m"},
    ),
    ("openchat_server_session_id", {"type": "session_id", "data": None, "session_id": "s"}),
    ("openchat_server_pong", {"type": "pong", "ct": "chat"}),
    ("openchat_server_pong", {"t": "pong"}),
    (
        "openchat_server_message_saved",
        {
            "type": "message_saved",
            "data": {"id": 1, "created_at": "2026-03-16T10:00:00Z", "llm_checkpoint_id": "u"},
            "session_id": "s",
        },
    ),
    (
        "openchat_server_message_saved",
        {"type": "message_saved", "data": {"id": 1, "created_at": "2026-03-16T10:00:00Z"}},
    ),
    (
        "openchat_server_message_saved",
        {"type": "message_saved", "data": {"id": "1", "created_at": "x"}, "session_id": "s"},
    ),
    ("openchat_server_agent_stats", {"ct": "chat", "type": "agent_stats", "data": {}}),
    ("openchat_server_end", {"ct": "chat", "type": "end", "data": ""}),
    ("openchat_server_complete", {"type": "complete"}),
    ("openchat_server_forwarded", {"type": "plain", "data": "x"}),
    ("openchat_server_forwarded", {"type": "user_message_saved", "data": {}}),
    ("openchat_server_forwarded", {"ct": "chat", "type": "image", "data": "[IMAGE]a.jpg"}),
]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize(("key", "instance"), INVALID)
def test_schemas_reject_invalid_frames(key: str, instance: Any, dialect: str):
    assert not is_valid(key, instance, dialect), f"{key} accepted {instance!r}"
