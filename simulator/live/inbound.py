"""How the WebSocket engines read a client text frame: JSON, bounded in depth, with no lone
surrogate left in it. Both engines (`engine.LiveSession`, `chat_ws.ChatSocket`) decode through
`decode`, which raises `BadFrame` with the message the engine puts into its mode's error frame.

- Depth: JSON nested more than `MAX_DEPTH` (64) levels (arrays and objects together) is refused
  before it is parsed, so no client can drive the decoder into Python's recursion limit; no
  client frame of seeds 000/001 nests deeper than 4.
- Lone surrogates: the JSON escape `\\ud800` decodes, in Python, to a string that cannot be
  encoded as UTF-8 (RFC 8259 section 8.2 calls its handling unpredictable). They are replaced
  by U+FFFD in every key and string of the frame, so whatever is echoed or stored is valid UTF-8
  and a turn with such text completes (the lenient choice; a valid surrogate pair is one
  character and is kept as it is).
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadFrame(ValueError):
    """A text frame that is not a JSON value the engine can take; `message` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def too_deep(raw: str, limit: int = MAX_DEPTH) -> bool:
    """Does `raw` open more than `limit` arrays/objects inside one another? Brackets inside
    strings do not count. A frame with fewer brackets than the limit is not scanned at all."""
    if raw.count("[") + raw.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", raw)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def scrub(value):
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    return value


def clean_text(text: str) -> str:
    """A string that encodes as UTF-8: lone surrogates replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def decode(raw: str):
    """The JSON value of a text frame; raises BadFrame (too deep, not JSON)."""
    if too_deep(raw):
        raise BadFrame(f"Invalid JSON: nested too deeply (more than {MAX_DEPTH} levels)")
    try:
        value = json.loads(raw)
    except RecursionError:  # not reached after the scan; kept as the last line of defence
        raise BadFrame(f"Invalid JSON: nested too deeply (more than {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # includes integers longer than Python's digit limit
        raise BadFrame(f"Invalid JSON: {exc}") from None
    if _ESCAPED_SURROGATE.search(raw):
        value = scrub(value)
    return value
