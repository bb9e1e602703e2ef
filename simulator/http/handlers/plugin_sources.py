"""Seed 004 tag Plugin Sources: the custom plugin sources (list, create, replace all, delete;
http(s) URLs; an id or URL already there is 409 on create; a replacement keeps the first of
repeated ids or URLs, and answers with the list as stored)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from ..domain.plugin_registry import SOURCE, http_url
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


# plugin sources ----------------------------------------------------------------------------
def source_of(raw: dict) -> dict:
    url = http_url(raw["url"], "url")
    # the id as the client sent it (only a blank one is made up): the client names it again
    # in /plugin-sources/by-id?source_id=..., as in the configured collections
    sid = raw.get("id") if isinstance(raw.get("id"), str) and raw["id"].strip() \
        else uuid.uuid4().hex
    return {"id": sid, "name": raw.get("name") or urlsplit(url).hostname, "url": url}


def sources(ctx: Ctx) -> dict:
    return {"sources": ctx.sim.store.list_resources(SOURCE)}


@operation("listPluginSources")
async def list_plugin_sources(ctx: Ctx):
    return sources(ctx)


@operation("createPluginSource")
async def create_plugin_source(ctx: Ctx):
    existing = ctx.sim.store.list_resources(SOURCE)
    source = source_of(ctx.body)
    for old in existing:
        if source["id"] == old["id"] or source["url"] == old["url"]:
            raise ApiError(409, f"Plugin source {old['id']} already has this "
                                f"{'id' if source['id'] == old['id'] else 'URL'}")
    ctx.sim.store.put_resource(SOURCE, source["id"], source, now_iso())
    return {"source": source, **sources(ctx)}


@operation("replacePluginSources")
async def replace_plugin_sources(ctx: Ctx):
    new, ids, urls = [], set(), set()
    for source in map(source_of, ctx.body["sources"]):
        if source["id"] not in ids and source["url"] not in urls:  # a repeat: the first stays
            new.append(source)
            ids.add(source["id"])
            urls.add(source["url"])
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
