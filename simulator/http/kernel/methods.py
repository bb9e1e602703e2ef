"""Which methods the contract declares for a request path (the `Allow` header of a 405)."""

from __future__ import annotations

import functools
import re

from ...contract import operations


@functools.cache
def _templates() -> list[tuple[re.Pattern, tuple, list[str]]]:
    by_path: dict[str, list[str]] = {}
    for op in operations():
        by_path.setdefault(op.path, []).append(op.method)
    return sorted(((re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"),
                    _route_order_of(path), methods) for path, methods in by_path.items()),
                  key=lambda t: t[1])


def allowed_methods(path: str) -> list[str]:
    """The methods the contract declares for the path template that serves `path` (the most
    literal one when several match, as routing does)."""
    for pattern, _, methods in _templates():
        if pattern.match(path):
            return sorted(methods)
    return []


def _route_order_of(path: str) -> tuple:
    return tuple((seg.startswith("{"), seg) for seg in path.strip("/").split("/"))
