"""Why refusing a schema-valid case the fuzzing generated is not the target's fault: a contract
note covers it (specs/contract-notes.yaml), the generated URL is another operation's, or the
case carries what no interoperable client sends (a lone surrogate, an unsendable multipart
field)."""

from __future__ import annotations

import functools
import re

from . import notes
from .documents import DOCUMENTS, operations


def refusal_excused(label: str, case) -> str:
    """Why refusing this schema-valid case is not the target's fault ("" when it is): a
    contract note covers it, the generated path is another operation's (a path parameter
    equal to a literal segment, or empty: `/bots//test` is `/bots/test`), or a multipart field
    name no header
    can carry (schemathesis generates control characters there; RFC 7578 names travel in
    Content-Disposition)."""
    other = shadowing_operation(label, str(getattr(case, "formatted_path", "") or ""))
    if other:
        return f"the generated URL is {other}'s, an operation of the document"
    body = case.body if isinstance(case.body, dict | list | str) else None
    if _lone_surrogate([case.query, case.path_parameters, body]):
        return "an unpaired surrogate in a string (RFC 8259 8.2: not interoperable text)"
    if (case.media_type or "").startswith("multipart/") and isinstance(body, dict):
        if any(not name.isprintable() for name in body):
            return "a multipart field name with control characters (not carried by HTTP)"
        if any(value == [] for value in body.values()):  # indistinguishable from a missing one
            return "an empty array in a multipart body (it has no part to send)"
    note = notes.excusing(label, notes.Request(dict(case.query or {}),
                                               dict(case.path_parameters or {}), body))
    return note.cite() if note else ""


LONE_SURROGATE = re.compile(r"(?<![\ud800-\udbff])[\udc00-\udfff]"
                            r"|[\ud800-\udbff](?![\udc00-\udfff])")


def _lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return bool(LONE_SURROGATE.search(value))
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_lone_surrogate(v) for v in value)
    return False


@functools.cache
def _literal_templates() -> dict[str, list[tuple[re.Pattern, str]]]:
    """method -> (pattern, label) of every operation of both documents, most literal first."""
    found: dict[str, list[tuple[int, re.Pattern, str]]] = {}
    for key in DOCUMENTS:
        for op in operations(key):
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path)) + "$")
            found.setdefault(op.method, []).append((op.path.count("{"), pattern, op.label))
    return {m: [(p, label) for _, p, label in sorted(v, key=lambda t: t[0])]
            for m, v in found.items()}


def shadowing_operation(label: str, path: str) -> str:
    """The more literal operation a concrete `path` of `label` actually names, if any."""
    method, _, template = label.partition(" ")
    if not path or "{" not in template:
        return ""
    path = re.sub(r"/{2,}", "/", path)  # an empty parameter leaves `//`, merged by servers
    own = template.count("{")
    for pattern, other in _literal_templates().get(method, []):
        other_params = other.split(" ", 1)[1].count("{")
        if other != label and other_params < own and pattern.match(path):
            return other
    return ""
