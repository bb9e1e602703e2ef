"""Configured resources as collections: create, list, get, update, delete, persisted in the
SQLite store, wired from one table (seed 004 tags Bots, Personas, Providers, Provider Sources,
Config Profiles, MCP, Cron, Sessions).

The item's id comes from the path parameter, else the query parameter or body field of the
same name (the `/by-id` variants), see `Ctx.param`.

Rules: create stores the validated body under the id it names (its `id_field`) or a new one,
and refuses a duplicate (409); get, update and delete of an unknown id are 404; PUT replaces the
document, PATCH merges into it; the id never changes. Lists keep creation order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..history import now_iso
from .envelope import ApiError
from .router import HANDLERS, Ctx


@dataclass(frozen=True)
class Collection:
    kind: str  # the store's resource kind, also the error wording
    param: str  # the path parameter naming one item
    id_field: str  # the body field holding the id
    list_key: str | None = None  # list answers {list_key: [...]} instead of a bare list
    enabled_field: str = "enable"  # the document field `set_enabled` writes

    async def create(self, ctx: Ctx):
        body = dict(ctx.body or {})
        rid = str(body.get(self.id_field) or uuid.uuid4().hex)
        if ctx.sim.store.get_resource(self.kind, rid) is not None:
            raise ApiError(409, f"{self.kind} {rid} already exists")
        body[self.id_field] = rid
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    async def list(self, ctx: Ctx):
        items = ctx.sim.store.list_resources(self.kind)
        return {self.list_key: items} if self.list_key else items

    def _existing(self, ctx: Ctx) -> tuple[str, dict]:
        rid = ctx.param(self.param)
        found = ctx.sim.store.get_resource(self.kind, rid)
        if found is None:
            raise ApiError(404, f"{self.kind} {rid} not found")
        return rid, found

    async def get(self, ctx: Ctx):
        return self._existing(ctx)[1]

    async def replace(self, ctx: Ctx):
        rid, _ = self._existing(ctx)
        body = {**(ctx.body or {}), self.id_field: rid}
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    async def merge(self, ctx: Ctx):
        rid, found = self._existing(ctx)
        body = {**found, **(ctx.body or {}), self.id_field: rid}
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    async def replace_config(self, ctx: Ctx):
        """The `/by-id` PUT variants: body {<param>: id, config: {...}}."""
        rid, _ = self._existing(ctx)
        body = {**ctx.body["config"], self.id_field: rid}
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    async def set_enabled(self, ctx: Ctx):
        rid, found = self._existing(ctx)
        body = {**found, self.enabled_field: bool(ctx.body["enabled"])}
        ctx.sim.store.put_resource(self.kind, rid, body, now_iso())
        return body

    async def delete(self, ctx: Ctx):
        rid, _ = self._existing(ctx)
        ctx.sim.store.delete_resource(self.kind, rid)
        return {}


BOTS = Collection("bot", "bot_id", "id", list_key="bots")
COLLECTIONS: dict[Collection, dict[str, str]] = {
    # collection -> {operationId: action}
    BOTS: {"listBots": "list", "createBot": "create", "getBot": "get",
           "updateBot": "replace", "deleteBot": "delete"},
    Collection("persona", "persona_id", "persona_id"): {
        "listPersonas": "list", "createPersona": "create", "getPersona": "get",
        "updatePersona": "replace", "deletePersona": "delete"},
    Collection("persona folder", "folder_id", "folder_id"): {
        "listPersonaFolders": "list", "createPersonaFolder": "create",
        "updatePersonaFolder": "merge", "deletePersonaFolder": "delete"},
    Collection("provider", "provider_id", "id"): {
        "listProviders": "list", "createProvider": "create", "getProvider": "get",
        "updateProvider": "replace", "deleteProvider": "delete"},
    Collection("provider source", "source_id", "id"): {
        "listProviderSources": "list", "createProviderSource": "create",
        "getProviderSource": "get", "deleteProviderSource": "delete"},
    Collection("config profile", "config_id", "id"): {
        "listConfigProfiles": "list", "createConfigProfile": "create",
        "getConfigProfile": "get", "updateConfigProfileContent": "merge",
        "renameConfigProfile": "merge", "deleteConfigProfile": "delete"},
    Collection("mcp server", "server_name", "name"): {
        "listMcpServers": "list", "createMcpServer": "create", "updateMcpServer": "replace",
        "deleteMcpServer": "delete"},
    Collection("cron job", "job_id", "job_id"): {
        "listCronJobs": "list", "createCronJob": "create", "updateCronJob": "merge",
        "deleteCronJob": "delete"},
    Collection("session group", "group_id", "group_id"): {
        "listSessionGroups": "list", "createSessionGroup": "create",
        "updateSessionGroup": "merge", "deleteSessionGroup": "delete"},
}

for _collection, _operations in COLLECTIONS.items():
    for _operation_id, _action in _operations.items():
        HANDLERS[_operation_id] = getattr(_collection, _action)
