"""Seed 004 tag Plugin Sources: the custom plugin sources (list, create, replace all, delete;
http(s) URLs; a duplicate is 409 on create, 400 inside one replacement)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from ..domain.plugin_registry import SOURCE, http_url
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


# plugin sources ----------------------------------------------------------------------------
def source_of(raw: dict, taken_ids: set, taken_urls: set, status: int) -> dict:
    url = http_url(raw["url"], "url")
    # an id is kept printable (as AstrBot does with names, FILE-003); a separator is refused
    sid = "".join(ch for ch in str(raw.get("id") or "") if ch.isprintable()).strip()[:128] \
        or uuid.uuid4().hex
    if any(ch in "/\\" for ch in sid):
        raise ApiError(400, f"Invalid source id: {sid!r} must not contain a separator")
    if sid in taken_ids or url in taken_urls:
        raise ApiError(status, f"Plugin source {sid if sid in taken_ids else url} "
                               "already exists")
    taken_ids.add(sid)
    taken_urls.add(url)
    return {"id": sid, "name": raw.get("name") or urlsplit(url).hostname, "url": url}


def sources(ctx: Ctx) -> dict:
    return {"sources": ctx.sim.store.list_resources(SOURCE)}


@operation("listPluginSources")
async def list_plugin_sources(ctx: Ctx):
    return sources(ctx)


@operation("createPluginSource")
async def create_plugin_source(ctx: Ctx):
    existing = ctx.sim.store.list_resources(SOURCE)
    source = source_of(ctx.body, {s["id"] for s in existing}, {s["url"] for s in existing}, 409)
    ctx.sim.store.put_resource(SOURCE, source["id"], source, now_iso())
    return {"source": source, **sources(ctx)}


@operation("replacePluginSources")
async def replace_plugin_sources(ctx: Ctx):
    ids: set = set()
    urls: set = set()
    new = [source_of(raw, ids, urls, 400) for raw in ctx.body["sources"]]
    for old in ctx.sim.store.list_resources(SOURCE):
        ctx.sim.store.delete_resource(SOURCE, old["id"])
    stamp = now_iso()
    for index, source in enumerate(new):
        ctx.sim.store.put_resource(SOURCE, source["id"], source, f"{stamp}#{index:04d}")
    return sources(ctx)


@operation("deletePluginSource")
@operation("deletePluginSourceById")
async def delete_plugin_source(ctx: Ctx):
    sid = ctx.param("source_id")
    if not ctx.sim.store.delete_resource(SOURCE, sid):
        raise ApiError(404, f"Plugin source {sid} not found")
    return sources(ctx)
