"""Schemathesis' linked checks (`use_after_free`, `ensure_resource_availability`) judged only
where the link really names what the create answered, and nothing deleted it in between.

Schemathesis infers links from names; where it cannot resolve one it sends a generated value,
and a 404 for that value says nothing about the target. It also forgives a 404 after a DELETE
only when the DELETE's path is a prefix of the read's: seed 004's `/by-id` variants name the id
in the query or the body instead (`DELETE /api/v1/bots/{bot_id}`, then
`GET /api/v1/bots/by-id?bot_id=...`), so a read of a deleted resource there is not a verdict
either (the suite must not blame the target for it)."""

from __future__ import annotations

from urllib.parse import unquote

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


def _named(interaction) -> str:
    request = interaction.request
    return unquote(request.uri) + (request.body or b"").decode("utf-8", "replace")


def link_resolved(recorder, node, interaction) -> bool:
    """Whether the follow-up request really names something the create answered."""
    created = _created(recorder, node)
    if created is None or interaction is None:
        return True  # nothing to tell: keep schemathesis' verdict
    return any(value in _named(interaction) for value in created)


def deleted_before(recorder, node, interaction) -> bool:
    """Whether, between the create and this read, a DELETE answered 2xx that named what the
    read names of the create's answer (its id): the resource is gone, a 404 is right. For
    `ensure_resource_availability` only (`use_after_free` is about exactly that DELETE)."""
    created = _created(recorder, node)
    if not created or interaction is None:
        return False
    created = {value for value in created if value in _named(interaction)}
    parent = recorder.interactions[node.parent_id]
    for other in recorder.interactions.values():
        if other is interaction or other is parent or other.response is None:
            continue
        if not parent.timestamp <= other.timestamp <= interaction.timestamp:
            continue
        if getattr(other.request, "method", "").upper() == "DELETE" \
                and 200 <= other.response.status_code < 300 \
                and any(value in _named(other) for value in created):
            return True
    return False
