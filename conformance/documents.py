"""The two OpenAPI documents as the fuzzing reads them: their operations, the requirement id of
a check per document, and what an answer must be to count as documented (a declared status, a
4xx with the document's error envelope, the platform webhooks' own format) or as the declared
200 body (its JSON schema validator)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from .contract import load_json, load_yaml

# document key -> (spec file, requirement prefix)
DOCUMENTS = {"v1": ("openapi-v1.yaml", "V1"), "legacy": ("openapi-open-api-legacy.json", "OPEN")}


@dataclass(frozen=True)
class DocOperation:
    document: str
    method: str
    path: str
    operation_id: str
    websocket: bool = False

    @property
    def label(self) -> str:  # schemathesis' label for the operation
        return f"{self.method} {self.path}"


def document(key: str) -> dict:
    name = DOCUMENTS[key][0]
    return load_yaml(name) if name.endswith(".yaml") else load_json(name)


def operations(key: str) -> list[DocOperation]:
    return list(_operations(key))


@functools.cache
def labels(key: str) -> frozenset[str]:
    return frozenset(op.label for op in _operations(key))


@functools.cache
def _operations(key: str) -> tuple[DocOperation, ...]:
    found = []
    for path, item in document(key)["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                found.append(DocOperation(key, method.upper(), path,
                                          op.get("operationId") or f"{method.upper()} {path}",
                                          bool(op.get("x-websocket"))))
    return tuple(found)


def requirement_id(key: str, suffix: str) -> str:
    return f"{DOCUMENTS[key][1]}-{suffix}"


@functools.cache
def declared_statuses(key: str, label: str) -> frozenset[str]:
    method, _, path = label.partition(" ")
    op = document(key)["paths"].get(path, {}).get(method.lower(), {})
    return frozenset(str(s).upper() for s in op.get("responses", {}))


@functools.cache
def platform_format(key: str, label: str) -> bool:
    """A public operation (`security: []`) whose declared answers have no body schema speaks
    its caller's format, not the API's: the platform webhooks (seed 004 `Webhooks`: "Webhook
    verification response", "Webhook accepted"), answered as each chat platform expects. Its
    4xx bodies are not held to the error envelope (AstrBot 4.27+ answers an unknown webhook
    `{"error": ...}`, 4.26.2 the envelope: no drift of the API)."""
    method, _, path = label.partition(" ")
    doc = document(key)
    op = doc["paths"].get(path, {}).get(method.lower(), {})
    if op.get("security") != []:
        return False
    shared = doc.get("components", {}).get("responses", {})
    answers = [shared.get(r["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in r else r
               for r in op.get("responses", {}).values()]
    return bool(answers) and not any(a.get("content") for a in answers)


def documented(key: str, label: str, status: int, body: str) -> bool:
    """Whether an answer is one the document describes: a status the operation declares (its
    body is judged by FUZZ-002), or a 4xx carrying the document's error envelope (seed 004
    ErrorEnvelope; seed 002's `{"status": "error", "message": ...}`). 5xx is FUZZ-001's."""
    declared = declared_statuses(key, label)
    if str(status) in declared or f"{str(status)[0]}XX" in declared or "DEFAULT" in declared:
        return True
    if status >= 500 or label not in labels(key):
        return True
    if not 400 <= status < 500:
        return False
    if platform_format(key, label):
        return True
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    if key == "v1":
        from .openapi import envelope_problem

        return envelope_problem(parsed, "ErrorEnvelope") is None
    return (isinstance(parsed, dict) and parsed.get("status") == "error"
            and isinstance(parsed.get("message"), str))


@functools.cache
def response_validator(key: str, label: str):
    """The JSON schema validator of `label`'s 200 answer in document `key` (None when the
    document gives none)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = document(key)
    method, _, path = label.partition(" ")
    answer = doc["paths"].get(path, {}).get(method.lower(), {}).get("responses", {}).get("200")
    while isinstance(answer, dict) and "$ref" in answer:
        section, name = answer["$ref"].split("/")[-2:]
        answer = doc["components"][section][name]
    schema = ((answer or {}).get("content") or {}).get("application/json", {}).get("schema")
    if not schema:
        return None
    uri = f"urn:astrbot:{key}"
    registry = Registry().with_resource(uri, Resource.from_contents(
        doc, default_specification=DRAFT202012))
    absolute = json.loads(json.dumps(schema).replace('"#/components/', f'"{uri}#/components/'))
    return Draft202012Validator(absolute, registry=registry)
