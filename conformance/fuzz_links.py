"""Schemathesis' linked checks (`use_after_free`, `ensure_resource_availability`) judged only
where the link really names what the create answered, and nothing deleted it in between.

Schemathesis infers links from names; where it cannot resolve one it sends a generated value,
and a 404 for that value says nothing about the target. It also forgives a 404 after a DELETE
only when the DELETE's path is a prefix of the read's: seed 004's `/by-id` variants name the id
in the query or the body instead (`DELETE /api/v1/bots/{bot_id}`, then
`GET /api/v1/bots/by-id?bot_id=...`), so a read of a deleted resource there is not a verdict
either (the suite must not blame the target for it)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlsplit

AVAILABLE = "ensure_resource_availability"  # a created resource can be read (404: FAIL)
LINKED = ("use_after_free", AVAILABLE)


def _strings(value) -> set[str]:
    if isinstance(value, str):
        return {value} if len(value) >= 4 else set()
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def _created(recorder, node) -> set[str] | None:
    """The strings of the create's answer (None: nothing to tell)."""
    parent = recorder.interactions.get(node.parent_id) if node.parent_id else None
    if parent is None or parent.response is None:
        return None
    try:
        return _strings(parent.response.json())
    except Exception:  # noqa: BLE001 (a non-JSON create answer: nothing to tell)
        return None


def _segments(uri: str) -> set[str]:
    """The path segments of a URI as the target reads them (percent-decoded)."""
    return {unquote(segment) for segment in urlsplit(uri).path.split("/") if segment}


def _values(interaction) -> tuple[set[str], str]:
    """The values a request carries, each whole (its path segments, its query values, the
    strings of a JSON body), and the text of a body that is not JSON (a form, a multipart
    upload: searched as text). Not substrings of the URI: a create answering
    `capability: embedding` is not named by `POST /api/v1/providers/embedding-dimension`
    whose body names another provider."""
    request = interaction.request
    values = _segments(request.uri)
    values |= {v for pairs in parse_qs(urlsplit(request.uri).query).values() for v in pairs}
    body = (request.body or b"").decode("utf-8", "replace")
    try:
        return values | _strings(json.loads(body)), ""
    except ValueError:  # not JSON (or no body)
        return values, body


def link_resolved(recorder, node, interaction) -> bool:
    """Whether the follow-up request really names something the create answered: one of its
    values is one of the create's (the link carried it; a generated value names nothing)."""
    created = _created(recorder, node)
    if created is None or interaction is None:
        return True  # nothing to tell: keep schemathesis' verdict
    return _names_any(interaction, created) and not _mangled_in_path(interaction, created)


def _mangled_in_path(interaction, created: set[str]) -> bool:
    """Whether the follow-up's path names a created value only as its percent-decoding: an id
    that holds escapes (`D%C2%9A`, stored as such) put into the path unescaped, which the
    target rightly reads as another id (`D\x9a`). Schemathesis unquotes a path parameter
    before quoting it (its `quote_all`), so it sends `D%C2%9A` for the id `D%C2%9A` (full-depth
    V1-FUZZ-006 on the simulator, 2026-12-04: the PUT's body named the id whole, its path
    another provider: "Created resource not found")."""
    segments = _segments(interaction.request.uri)
    return any(unquote(value) != value and unquote(value) in segments
               and value not in segments for value in created)


def _names_any(interaction, created: set[str]) -> bool:
    values, text = _values(interaction)
    return any(value in values or value in text for value in created)


def deleted_before(recorder, node, interaction) -> bool:
    """Whether, between the create and this read, a DELETE answered 2xx that named what the
    read names of the create's answer (its id): the resource is gone, a 404 is right. For
    `ensure_resource_availability` only (`use_after_free` is about exactly that DELETE)."""
    created = _created(recorder, node)
    if not created or interaction is None:
        return False
    values, text = _values(interaction)
    created = {value for value in created if value in values or value in text}
    parent = recorder.interactions[node.parent_id]
    for other in recorder.interactions.values():
        if other is interaction or other is parent or other.response is None:
            continue
        if not parent.timestamp <= other.timestamp <= interaction.timestamp:
            continue
        if getattr(other.request, "method", "").upper() == "DELETE" \
                and 200 <= other.response.status_code < 300 \
                and _names_any(other, created):
            return True
    return False
