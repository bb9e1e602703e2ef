"""Request bodies are checked against the operation's JSON schema from the spec."""

from __future__ import annotations

import functools
from datetime import datetime
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ...contract import Operation, openapi_legacy, openapi_v1
from .envelope import ApiError
from .jsonbody import decode

FORMATS = FormatChecker(formats=())  # the formats the contract uses, checked without extra deps


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper() or not (value[-1] in "zZ" or value[-6] in "+-"):
        return False  # RFC 3339: a date, a time and an offset
    datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "zZ" else value)
    return True


@FORMATS.checks("uri", raises=ValueError)
def _uri(value) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


DOCUMENTS = {"v1": ("urn:astrbot:openapi-v1", openapi_v1),
             "legacy": ("urn:astrbot:openapi-legacy", openapi_legacy)}


def _nullable(node):
    """OpenAPI's `nullable: true` (seed 004 uses it in a 3.1 document) as JSON Schema: null is
    one more accepted type."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("nullable", False) is True and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    return node


@functools.cache
def _registry(document: str) -> Registry:
    uri, load = DOCUMENTS[document]
    resource = Resource.from_contents(_nullable(load()), default_specification=DRAFT202012)
    return Registry().with_resource(uri, resource)


def _json_schema_of(op: Operation) -> tuple[dict | None, bool]:
    body = op.spec.get("requestBody")
    if not body:
        return None, False
    media = body.get("content", {}).get("application/json")
    if media is None:
        return None, False
    return media.get("schema", {}), bool(body.get("required"))


def _merge_all_of(node, components: dict):
    """Seed 004 writes some bodies as allOf(UmoListRequest, {...}) while UmoListRequest says
    `additionalProperties: false`: read literally no body could satisfy both. The evident
    intent (one object with the properties of every branch) is what is validated; the suite
    reports the literal contradiction as a contract defect."""
    if isinstance(node, list):
        return [_merge_all_of(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _merge_all_of(v, components) for k, v in node.items()}
    branches = node.get("allOf")
    if not branches:
        return node
    resolved = [components[b["$ref"].rsplit("/", 1)[-1]] if "$ref" in b else b for b in branches]
    if not all(b.get("type") == "object" for b in resolved):
        return node
    merged = {"type": "object", "properties": {}, "required": []}
    for branch in resolved:
        merged["properties"].update(branch.get("properties", {}))
        merged["required"] += [r for r in branch.get("required", []) if r not in merged["required"]]
    if any(b.get("additionalProperties") is False for b in resolved):
        merged["additionalProperties"] = False
    rest = {k: v for k, v in node.items() if k != "allOf"}
    return {**merged, **rest}


@functools.cache
def body_validator(op: Operation) -> tuple[Draft202012Validator | None, bool]:
    schema, required = _json_schema_of(op)
    if schema is None:
        return None, False
    uri, load = DOCUMENTS[op.document]
    components = load().get("components", {}).get("schemas", {})
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    schema = _nullable(_merge_all_of(schema, components))
    return Draft202012Validator(_absolute_refs(schema, uri), registry=_registry(op.document),
                                format_checker=FORMATS), required


def _absolute_refs(node, uri: str):
    if isinstance(node, list):
        return [_absolute_refs(n, uri) for n in node]
    if isinstance(node, dict):
        return {k: (uri + v if k == "$ref" and v.startswith("#") else _absolute_refs(v, uri))
                for k, v in node.items()}
    return node


def _other_media(op: Operation) -> bool:
    content = (op.spec.get("requestBody") or {}).get("content", {})
    return any(media != "application/json" for media in content)


async def read_json_body(request, op: Operation):
    """The parsed and schema-checked JSON body, or None when the operation takes none (or the
    request uses another media type the operation declares: its handler reads that)."""
    validator, required = body_validator(op)
    if validator is None:
        return None
    if _other_media(op) and request.content_type not in ("application/json", ""):
        return None
    raw = await request.read()  # bounded by the app's client_max_size: 413 beyond it
    if not raw:  # absent; whitespace alone is malformed JSON (400 below)
        if required:
            raise ApiError(400, "Request body is required")
        return None
    body = decode(raw)  # depth, surrogates, numbers, duplicate keys: kernel/jsonbody.py
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "body"
        raise ApiError(400, f"Invalid request body at {where}: {first.message}")
    return body


def _parameter_objects(op: Operation) -> list[dict]:
    doc = openapi_v1() if op.document == "v1" else openapi_legacy()
    found = []
    for param in op.spec.get("parameters", []):
        if "$ref" in param:
            param = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        found.append(param)
    return found


@functools.cache
def query_validators(op: Operation) -> tuple[tuple[str, bool, Draft202012Validator], ...]:
    """(name, required, validator) for each query parameter of the operation."""
    uri = DOCUMENTS[op.document][0]
    result = []
    for param in _parameter_objects(op):
        if param.get("in") != "query":
            continue
        schema = param.get("schema", {})
        if "$ref" in schema:
            schema = {"$ref": uri + schema["$ref"]}
        result.append((param["name"], bool(param.get("required")),
                       Draft202012Validator(schema, registry=_registry(op.document),
                                            format_checker=FORMATS)))
    return tuple(result)


def _coerce(raw: str, validator: Draft202012Validator):
    kind = validator.schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw  # the validator reports the wrong type
    if kind == "boolean":
        return {"true": True, "false": False, "1": True, "0": False}.get(raw.lower(), raw)
    return raw


def read_query(request, op: Operation) -> dict:
    """The declared query parameters, coerced to their schema types and checked; a missing
    required one or an invalid value is a 400 before the handler runs."""
    values = {}
    for name, required, validator in query_validators(op):
        raw = request.query.get(name)
        if raw is None:
            if required:
                raise ApiError(400, f"Missing required query parameter: {name}")
            default = validator.schema.get("default")
            if default is not None:
                values[name] = default
            continue
        value = _coerce(raw, validator)
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            raise ApiError(400, f"Invalid query parameter {name}: {error.message}")
        values[name] = value
    return values
