"""The one JSON decoder of the HTTP side: every JSON request body (kernel/validation.py) and
every JSON text a client hands in some other way (a backup's manifest, a plugin archive's
`_conf_schema.json`) goes through `decode`, and every query value and path parameter through
`check_text`, before any handler sees them. What RFC 8259 allows but nothing downstream can
hold is refused with ApiError(400), the error envelope:

- not UTF-8 (RFC 8259 8.1: UTF-8 only; no UTF-16/32 guessing), or NaN/Infinity (not JSON);
- nesting deeper than MAX_DEPTH arrays/objects (the decoder would otherwise hit Python's
  recursion limit near 1,000 levels, and every later walk over the value with it);
- a lone surrogate (`"\\ud800"`, RFC 8259 8.2: such a string cannot be encoded as UTF-8, so it
  could be neither stored in SQLite nor sent back); a valid pair (`"\\ud83d\\ude00"`) is fine;
- an integer literal of more than MAX_DIGITS digits (Python's own int() limit; converting one
  costs time quadratic in its length) or a number that overflows to infinity (`1e999999`).
  A large integer within that is valid JSON a schema may allow: a handler that binds one to
  SQLite (a 64-bit INTEGER) bounds it first;
- an object with the same key twice (RFC 8259 4: names SHOULD be unique; which value wins is
  implementation-defined, so it is refused rather than guessed);
- text longer than MAX_TEXT characters (a body's own bound is the app's client_max_size).
"""

from __future__ import annotations

import json
import math
import re

from .envelope import ApiError

MAX_DEPTH = 64  # arrays/objects inside one another; the contract's deepest body uses ~6
MAX_DIGITS = 4300  # sys.get_int_max_str_digits()'s default, refused before converting
MAX_TEXT = 1 << 22  # 4 Mi characters of JSON text handed in outside a request body
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(ValueError):
    """Raised inside the decoder's hooks; becomes the 400."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"integer of more than {MAX_DIGITS} digits: {text[:20]}...")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        raise _Refused(f"number of more than {MAX_DIGITS} digits: {text[:20]}...")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number out of range: {text[:40]}")
    return value


def _constant(name: str):
    raise _Refused(f"{name} is not JSON")


def _object(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Refused(f"duplicate key {duplicate!r}")
    return result


def _check_depth(value) -> None:
    """Iterative, so a deep value cannot exhaust the stack here either."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def decode(raw: bytes | str, what: str = "JSON body"):
    """The value of a JSON text, or ApiError(400) naming what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else str(raw)
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"Invalid {what}: not UTF-8 (byte {exc.start})") from None
    if len(text) > MAX_TEXT:
        raise ApiError(413, f"Invalid {what}: longer than {MAX_TEXT} characters")
    if text.startswith("\ufeff"):
        text = text[1:]  # RFC 8259 8.1: a parser may ignore a byte order mark
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_int=_int,
                           parse_float=_float, parse_constant=_constant)
        _check_depth(value)
    except RecursionError:
        raise ApiError(400, f"Invalid {what}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError and _Refused
        raise ApiError(400, f"Invalid {what}: {exc}") from None
    if ("\\u" in text or has_surrogate(text)) and _holds_surrogate(value):
        raise ApiError(400, f"Invalid {what}: a lone surrogate (\\ud800-\\udfff) in a string")
    return value


def _holds_surrogate(value) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if has_surrogate(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def scrub(text: str) -> str:
    """Text from a header (a multipart file name or content type, which aiohttp decodes with
    surrogateescape): each lone surrogate becomes U+FFFD, so the name can be stored and sent."""
    return _SURROGATE.sub("\ufffd", text)


def check_text(where: str, values) -> None:
    """Query values and path parameters: a lone surrogate (which a URL cannot carry as UTF-8,
    but a decoding with surrogateescape could produce, and SQLite cannot store) is a 400."""
    for name, value in values:
        if isinstance(value, str) and has_surrogate(value):
            raise ApiError(400, f"Invalid {where} {name!r}: a lone surrogate")
