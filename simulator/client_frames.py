"""What specs/live-api.asyncapi.yaml says about client frames, for the client mode.

For every WebSocket channel of the document: its path, how it picks the mode
(`x-astrbot-mode-selection`: `forced`, `query` or `frame`) and which client messages it
carries, each with a JSON Schema validator. `ChannelFrames.check(frame, mode)` names the
errors of one decoded client frame against the message its `t` selects.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .contract import specs_dir

DOC_URI = "urn:astrbot:live-api-asyncapi"


@dataclass(frozen=True)
class ChannelFrames:
    path: str
    selection: dict  # x-astrbot-mode-selection of the channel
    validators: dict  # (mode, type) -> (message key, validator)
    query: dict  # the handshake's query parameters (bindings.ws.query: required, properties)

    @property
    def by(self) -> str:
        return self.selection["by"]

    @property
    def ct_values(self) -> tuple[str, ...]:
        return tuple(self.selection.get("values") or ())

    def types(self, mode: str) -> set[str]:
        return {t for m, t in self.validators if m == mode}

    def missing_in_handshake(self, query, headers) -> list[str]:
        """What a handshake lacks of the channel's required query parameters (blank counts as
        missing) and, on API-key channels, of any API key carrier (query `api_key`/`key`,
        `X-API-Key`, `Authorization`)."""
        missing = [f"query parameter {name!r}" for name in self.query.get("required", ())
                   if not (query.get(name) or "").strip()]
        if "api_key" in self.query.get("properties", {}) and not any(
                (query.get("api_key"), query.get("key"), headers.get("X-API-Key"),
                 headers.get("Authorization"))):
            missing.insert(0, "API key")
        return missing

    def chat_only_types(self) -> set[str]:
        """Chat frame types that live mode does not have (`bind`, `send`)."""
        return self.types("chat") - self.types("live")

    def check(self, frame: dict, mode: str) -> tuple[str | None, list[tuple[str, str]]]:
        """(message key, [(JSON path, error)]) of a frame against its message in `mode`."""
        kind = frame.get("t")
        if mode == "openchat" and "t" not in frame:
            kind = "send"  # /api/v1/chat/ws reads an absent t as send (OWS-003)
        entry = self.validators.get((mode, kind)) if isinstance(kind, str) else None
        if entry is None:
            known = ", ".join(sorted(self.types(mode)))
            return None, [("t", f"{kind!r} is not a {mode} client frame of {self.path} "
                                f"(known: {known})")]
        key, validator = entry
        errors = [("/".join(map(str, e.absolute_path)), e.message)
                  for e in sorted(validator.iter_errors(frame), key=lambda e: list(e.path))]
        return key, errors


@functools.cache
def _document() -> dict:
    with open(specs_dir() / "live-api.asyncapi.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


@functools.cache
def channels() -> dict[str, ChannelFrames]:
    """WebSocket path -> its client frames."""
    doc = _document()
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))
    messages = doc["components"]["messages"]
    result = {}
    for channel in doc["channels"].values():
        validators = {}
        for ref in channel.get("messages", {}).values():
            key = ref["$ref"].rsplit("/", 1)[-1]
            meta = messages[key]["x-astrbot-frame"]
            if meta["direction"] != "client":
                continue
            try:  # refs inlined: half the cost per frame of resolving them in the document
                validator = Draft202012Validator(_inline(doc, messages[key]["payload"]))
            except RecursionError:  # a recursive schema: resolve its refs instead
                validator = Draft202012Validator(
                    {"$ref": f"{DOC_URI}#/components/messages/{key}/payload"},
                    registry=registry)
            validators[(meta["mode"], meta["type"])] = (key, validator)
        query = channel.get("bindings", {}).get("ws", {}).get("query", {})
        result[channel["address"]] = ChannelFrames(
            channel["address"], channel["x-astrbot-mode-selection"], validators, query)
    return result


def _inline(doc: dict, node, depth: int = 0):
    """`node` with every local `$ref` replaced by what it points to (siblings kept in an
    allOf); raises RecursionError on a schema that refers to itself."""
    if depth > 50:
        raise RecursionError("recursive schema")
    if isinstance(node, list):
        return [_inline(doc, v, depth) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if not (isinstance(ref, str) and ref.startswith("#/")):
        return {k: _inline(doc, v, depth) for k, v in node.items()}
    target = doc
    for part in ref[2:].split("/"):
        target = target[part]
    resolved = _inline(doc, target, depth + 1)
    rest = {k: v for k, v in node.items() if k != "$ref"}
    return {"allOf": [resolved, _inline(doc, rest, depth)]} if rest else resolved
