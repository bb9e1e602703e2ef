"""Plugins: the installed plugins (domain/plugin_registry.py): list, detail, config and its
schema, README and CHANGELOG (text/plain, or the envelope `{content}` when the client accepts
only JSON), enable, reload, uninstall and the market-source binding. A reserved plugin cannot be
disabled, uninstalled or bound (409)."""

from __future__ import annotations

import shutil

from aiohttp import web

from ...domain.plugin_registry import (
    PLUGIN,
    check_config,
    config_of,
    detail,
    forget,
    get_plugin,
    http_url,
    market_entry,
    plugin_dir,
    plugins,
    save_config,
    save_plugin,
    summary,
)
from ...kernel.clock import now_iso
from ...kernel.envelope import ApiError
from ...kernel.router import Ctx, Operations

operation = Operations()


# plugins -----------------------------------------------------------------------------------
@operation("listPlugins")
async def list_plugins(ctx: Ctx):
    found = plugins(ctx.sim)
    if not ctx.query.get("include_reserved", True):
        found = [p for p in found if not p["reserved"]]
    if ctx.query.get("enabled") is not None:
        found = [p for p in found if p["activated"] == ctx.query["enabled"]]
    return [summary(p) for p in found]


@operation("getPlugin")
@operation("getPluginById")
async def get_plugin_detail(ctx: Ctx):
    return detail(get_plugin(ctx.sim, ctx.param("plugin_id")))


@operation("uninstallPlugin")
@operation("uninstallPluginById")
async def uninstall_plugin(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    if plugin["reserved"]:
        raise ApiError(409, f"Plugin {plugin['name']} is reserved and cannot be uninstalled")
    ctx.sim.store.delete_resource(PLUGIN, plugin["name"])
    shutil.rmtree(plugin_dir(ctx.sim, plugin["name"]), ignore_errors=True)
    return forget(ctx.sim, plugin["name"], ctx.body)


@operation("getPluginConfig")
@operation("getPluginConfigById")
async def get_plugin_config(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    return {"plugin_name": plugin["name"], "config": config_of(ctx.sim, plugin)}


@operation("getPluginConfigSchema")
@operation("getPluginConfigSchemaById")
async def get_plugin_config_schema(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    return {"plugin_name": plugin["name"], "schema": plugin["config_schema"]}


@operation("updatePluginConfig")
async def update_plugin_config(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    body = ctx.body or {}
    if isinstance(body.get("config"), dict) and "config" not in plugin["config_schema"]:
        body = body["config"]  # AstrBot accepts {"config": {...}} here too
    return save_config(ctx.sim, plugin, check_config(plugin["config_schema"], body))


@operation("updatePluginConfigById")
async def update_plugin_config_by_id(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    return save_config(ctx.sim, plugin, check_config(plugin["config_schema"], ctx.body["config"]))


def text_answer(ctx: Ctx, text: str):
    """text/plain, or the JSON envelope {content} for a client that asks for JSON only."""
    accept = ctx.request.headers.get("Accept", "")
    if "application/json" in accept and "text/plain" not in accept:
        return {"content": text}
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def plugin_document(ctx: Ctx, field: str, title: str):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    if not plugin.get(field):
        raise ApiError(404, f"Plugin {plugin['name']} has no {title}")
    return text_answer(ctx, plugin[field])


@operation("getPluginReadme")
@operation("getPluginReadmeById")
async def get_plugin_readme(ctx: Ctx):
    return plugin_document(ctx, "readme", "README")


@operation("getPluginChangelog")
@operation("getPluginChangelogById")
async def get_plugin_changelog(ctx: Ctx):
    return plugin_document(ctx, "changelog", "CHANGELOG")


@operation("reloadPlugin")
@operation("reloadPluginById")
async def reload_plugin(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    plugin["reload_count"] += 1
    plugin["last_reloaded_at"] = now_iso()
    return summary(save_plugin(ctx.sim, plugin))


@operation("setPluginEnabled")
@operation("setPluginEnabledById")
async def set_plugin_enabled(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    enabled = ctx.body["enabled"]
    if plugin["reserved"] and not enabled:
        raise ApiError(409, f"Plugin {plugin['name']} is reserved and cannot be disabled")
    plugin["activated"] = enabled
    return summary(save_plugin(ctx.sim, plugin))


@operation("bindPluginSource")
async def bind_plugin_source(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    body = ctx.body or {}
    if plugin["reserved"]:
        raise ApiError(409, f"Plugin {plugin['name']} is reserved and has no market source")
    if not body:
        raise ApiError(400, "Nothing to bind: give install_method, registry_url or "
                            "market_plugin_id")
    if body.get("registry_url") is not None:
        http_url(body["registry_url"], "registry_url")
    market_id = body.get("market_plugin_id")
    if market_id is not None and body.get("registry_url") is None:
        market_entry(market_id)
    plugin["source"] = {"install_method": body.get("install_method") or "market",
                        "registry_url": body.get("registry_url"),
                        "market_plugin_id": market_id or plugin["name"]}
    return summary(save_plugin(ctx.sim, plugin))
