"""Frame schemas from specs/live-api.asyncapi.yaml, indexed by (mode, direction, type).

Every message of the AsyncAPI document carries `x-astrbot-frame: {mode, direction,
discriminator, type}`; that is how a frame on the wire is matched to its JSON Schema.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .contract import load_yaml

DOC_URI = "urn:astrbot:live-api-asyncapi"
ANY = "*"


@dataclass(frozen=True)
class FrameCheck:
    message: str | None  # the AsyncAPI message key, None when no message matches
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


class FrameSchemas:
    def __init__(self, doc: dict):
        registry = Registry().with_resource(
            DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
        )
        self._index: dict[tuple[str, str, str, str], tuple[str, Draft202012Validator]] = {}
        for key, message in doc["components"]["messages"].items():
            meta = message["x-astrbot-frame"]
            pointer = f"{DOC_URI}#/components/messages/{key}/payload"
            validator = Draft202012Validator({"$ref": pointer}, registry=registry)
            index_key = (meta["mode"], meta["direction"], meta["discriminator"], meta["type"])
            self._index[index_key] = (key, validator)

    def message_keys(self) -> list[str]:
        return [key for key, _ in self._index.values()]

    def check(self, frame, mode: str, direction: str) -> FrameCheck:
        """Validate one decoded frame. `mode` is live, chat, connect or openchat."""
        if not isinstance(frame, dict):
            return FrameCheck(None, (f"frame is a JSON {type(frame).__name__}, not an object",))
        entry = self._lookup(frame, mode, direction)
        if entry is None:
            label = frame.get("t", frame.get("type"))
            return FrameCheck(None, (f"no {mode} {direction} frame of type {label!r} "
                                     "in the contract",))
        key, validator = entry
        errors = tuple(
            f"{'/'.join(map(str, e.absolute_path)) or '(frame)'}: {e.message}"
            for e in sorted(validator.iter_errors(frame), key=lambda e: list(e.absolute_path))
        )
        return FrameCheck(key, errors)

    def _lookup(self, frame: dict, mode: str, direction: str):
        if mode == "live" and direction == "server" and "t" not in frame \
                and frame.get("type") == "error":
            mode = "connect"  # the pre-session error of /api/v1/live/ws uses {type, code, data}
        candidates = [("t", frame.get("t"))] if mode != "connect" else []
        if mode == "openchat" and direction == "client" and "t" not in frame:
            candidates = [("t", "send")]  # /api/v1/chat/ws reads an absent t as send (OWS-003)
        candidates.append(("type", frame.get("type")))
        for discriminator, value in candidates:
            if isinstance(value, str):
                entry = self._index.get((mode, direction, discriminator, value))
                if entry is not None:
                    return entry
        if mode in ("chat", "openchat") and direction == "server" \
                and isinstance(frame.get("type"), str):
            return self._index.get((mode, direction, "type", ANY))
        return None


@functools.cache
def schemas() -> FrameSchemas:
    return FrameSchemas(load_yaml("live-api.asyncapi.yaml"))
