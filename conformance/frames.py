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
    # a server frame whose type the contract does not define (no message of its own: it met
    # the generic fallback, or nothing): the type, reported as undocumented, not as an error
    undocumented: str | None = None

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
        label = frame_type(frame)
        if entry is None:
            if direction == "server" and isinstance(label, str):
                return FrameCheck(None, (), undocumented=label)
            return FrameCheck(None, (f"no {mode} {direction} frame of type {label!r} "
                                     "in the contract",))
        key, validator = entry
        errors = tuple(
            f"{'/'.join(map(str, e.absolute_path)) or '(frame)'}: {e.message}"
            for e in sorted(validator.iter_errors(frame), key=lambda e: list(e.absolute_path))
        )
        fallback = self._index.get((mode, direction, "type", ANY))
        undocumented = entry is fallback and frame.get("type") not in self.webchat_types()
        return FrameCheck(key, errors, undocumented=frame["type"] if undocumented else None)

    @functools.cached_property
    def _webchat(self) -> frozenset[str]:
        return frozenset(t for (m, d, disc, t) in self._index
                         if m in ("chat", "openchat") and (d, disc) == ("server", "type")
                         and t != ANY)

    def webchat_types(self) -> frozenset[str]:
        """The webchat item types the contract names (a message of its own in the chat or
        openchat mode): seed 001 forwards "the normal webchat queue payloads" on every chat
        channel, so a type one channel defines is documented on all of them."""
        return self._webchat

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


def frame_type(frame: dict):
    """What a frame calls its type: `t`, else `type` (None when it names none)."""
    return frame.get("t", frame.get("type"))


def sse_types() -> frozenset[str]:
    """The SSE event types of POST /api/v1/chat the contract defines: `session_id` first (seed
    002 "server will create a new UUID session_id"; research SSE-004), then "the normal webchat
    queue payloads" (seed 001), less the socket-only `session_bound` and `pong`."""
    return schemas().webchat_types() - {"session_bound", "pong"}


@functools.cache
def schemas() -> FrameSchemas:
    return FrameSchemas(load_yaml("live-api.asyncapi.yaml"))
