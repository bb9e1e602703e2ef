"""CRUD handlers from a table: create, list, get, update, delete of one store kind, persisted in
the SQLite store (the collections themselves are domain/resources.py; each tag's handler module
wires its operations with `operation.crud(COLLECTION, {operationId: action})`).

The item's id comes from the path parameter, else the query parameter or body field of the
same name (the `/by-id` variants), see `Ctx.param`.

Rules: create stores the validated body under the id it names (its `id_field`) or a new one,
fills the schema defaults it omits (`enabled: true`), and refuses a duplicate (409); get,
update and delete of an unknown id are 404; PUT replaces the document, PATCH merges into it;
the `/by-id` PUT with `{<id>, config}` replaces the document's `config` and keeps its other
fields; the id never changes. Lists keep creation order and filter on the query parameters the
spec declares for them (a document without the field counts as its default). Deleting an item
also drops the records kept beside it under the same id (`cleanup`, e.g. a bot's counters).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .clock import now_iso
from .envelope import ApiError
from .router import Ctx


@dataclass(frozen=True)
class Collection:
    kind: str  # the store's resource kind, also the error wording
    param: str  # the path parameter naming one item
    id_field: str  # the body field holding the id
    list_key: str | None = None  # list answers {list_key: [...]} instead of a bare list
    enabled_field: str = "enable"  # the document field `set_enabled` writes
    defaults: tuple[tuple[str, object], ...] = ()  # (field, value) filled in on create
    filters: tuple[tuple[str, str], ...] = ()  # (query parameter, document field) for list
    cleanup: tuple[str, ...] = ()  # kinds whose record of the same id goes with the item

    def value(self, doc: dict, field: str):
        """A field of a stored document, its create default when absent."""
        return doc[field] if field in doc else dict(self.defaults).get(field)

    async def create(self, ctx: Ctx):
        body = dict(ctx.body or {})
        # an empty (or blank) id names nothing: a new id, as for an absent one (research
        # FILE-003 does the same for empty file names); any other id is kept exactly as the
        # client sent it, so the id it created is the id it reads back by
        rid = str(body.get(self.id_field) or "")
        rid = rid if rid.strip() else uuid.uuid4().hex
        if ctx.sim.store.get_resource(self.kind, rid) is not None:
            raise ApiError(409, f"{self.kind} {rid} already exists")
        for field, default in self.defaults:
            body.setdefault(field, default)
        body[self.id_field] = rid
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    def items(self, ctx: Ctx) -> list[dict]:
        items = ctx.sim.store.list_resources(self.kind)
        for name, field in self.filters:
            wanted = ctx.query.get(name)
            if wanted is not None:
                items = [item for item in items if self.value(item, field) == wanted]
        return items

    async def list(self, ctx: Ctx):
        items = self.items(ctx)
        return {self.list_key: items} if self.list_key else items

    def existing(self, ctx: Ctx) -> tuple[str, dict]:
        rid = ctx.param(self.param)
        found = ctx.sim.store.get_resource(self.kind, rid)
        if found is None:
            raise ApiError(404, f"{self.kind} {rid} not found")
        return rid, found

    def save(self, ctx: Ctx, rid: str, body: dict) -> dict:
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    async def get(self, ctx: Ctx):
        return self.existing(ctx)[1]

    async def replace(self, ctx: Ctx):
        rid, _ = self.existing(ctx)
        return self.save(ctx, rid, {**(ctx.body or {}), self.id_field: rid})

    async def merge(self, ctx: Ctx):
        rid, found = self.existing(ctx)
        return self.save(ctx, rid, {**found, **(ctx.body or {}), self.id_field: rid})

    async def replace_config(self, ctx: Ctx):
        """The `/by-id` PUT variants: body {<param>: id, config: {...}} replaces `config`."""
        rid, found = self.existing(ctx)
        return self.save(ctx, rid, {**found, "config": ctx.body["config"], self.id_field: rid})

    async def set_enabled(self, ctx: Ctx):
        rid, found = self.existing(ctx)
        return self.save(ctx, rid, {**found, self.enabled_field: bool(ctx.body["enabled"])})

    async def delete(self, ctx: Ctx):
        rid, _ = self.existing(ctx)
        ctx.sim.store.delete_resource(self.kind, rid)
        for kind in self.cleanup:
            ctx.sim.store.delete_resource(kind, rid)
        return {}
