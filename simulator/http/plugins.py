"""Plugins and Plugin Sources (seed 004): installed plugins, their configuration, README and
CHANGELOG, enable, reload, uninstall, market-source binding, custom plugin sources. Importing
this module registers its siblings too: `plugin_installs.py` (installs, updates, failed plugins,
marketplace) and `plugin_pages.py` (pages, extension routes, config files, commands, tools);
`plugin_seed.py` is the seed data.

Where data lives: kind "plugin" (id = plugin name) holds a plugin's metadata, commands, tools,
pages, extension routes, README, CHANGELOG and config schema; kind "plugin config" its saved
configuration (kept on uninstall unless `delete_config`, so a reinstall finds it); kind
"plugin kv" what its extension routes keep (dropped with `delete_data`, as are its uploads under
data_dir/plugin_data/<name>/); "failed plugin", "plugin source" and "tool" (built-in tools).
Page files are real files under data_dir/plugins/<name>/pages/. The first request seeds a
reserved built-in plugin, two ordinary ones, a failed one and the built-in tools, once (setting
`plugins_seeded`), so every later change, an uninstall included, survives a restart.

Simulated, nothing leaves the host: installs are immediate and derived from the address (see
plugin_installs.py); an update moves a plugin to its `online_version`; reloading a failed plugin
succeeds (its missing dependency counts as installed now); the marketplace is a fixed catalogue
and `custom_registry` (an http(s) URL) serves the same one. The running AstrBot is 4.26.2.

Config: PUT replaces the whole configuration; keys missing from the body get their schema
default; an unknown key, a wrong type or a value outside `options` is 400. README/CHANGELOG
answer text/plain, or the envelope `{content}` when the client accepts only JSON.

Status codes: 400 invalid input (address, ZIP, metadata, config, an unsatisfied
`astrbot_version` constraint without `ignore_version_check`, path escapes); 404 unknown plugin,
failed plugin, source, marketplace entry, missing README/CHANGELOG; 409 duplicate install or
source, changing a reserved plugin (disable, uninstall, update, bind), updating a plugin with no
source.
"""

from __future__ import annotations

import copy
import re
import shutil
import uuid
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..history import now_iso
from .envelope import ApiError
from .forms import read_form
from .paths import inside
from .plugin_seed import (
    BUILTIN_TOOLS,
    FAILED_PLUGINS,
    MARKET,
    SEED_PLUGINS,
    new_plugin,
)
from .router import Ctx, operation

ASTRBOT_VERSION = "4.26.2"
PLUGIN, CONFIG, KV, FAILED, SOURCE, TOOL = (
    "plugin", "plugin config", "plugin kv", "failed plugin", "plugin source", "tool")
SEED_FLAG = "plugins_seeded"
CONFIG_TYPES = {"string": str, "text": str, "int": int, "float": (int, float), "bool": bool,
                "list": list, "file": list, "template_list": list, "object": dict, "dict": dict}
EMPTY = {"string": "", "text": "", "int": 0, "float": 0.0, "bool": False, "list": [],
         "file": [], "template_list": [], "object": {}, "dict": {}}


# state -------------------------------------------------------------------------------------
def plugin_dir(sim, name: str):
    return sim.config.data_dir / "plugins" / name


def data_dir_of(sim, name: str):
    return sim.config.data_dir / "plugin_data" / name


def write_files(sim, name: str, files: dict[str, bytes | str]) -> None:
    root = plugin_dir(sim, name)
    for rel, data in files.items():
        target = inside(root, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)


def ensure_seeded(sim) -> None:
    """Seed once per data directory; afterwards the store is the only truth."""
    store = sim.store
    if store.setting(SEED_FLAG):
        return
    stamp = now_iso()
    for index, seed in enumerate(SEED_PLUGINS):
        plugin = new_plugin(**copy.deepcopy(seed["plugin"]), installed_at=stamp)
        store.put_resource(PLUGIN, plugin["name"], plugin, f"{stamp}#{index:04d}")
        write_files(sim, plugin["name"], seed.get("files", {}))
    for failed in FAILED_PLUGINS:
        store.put_resource(FAILED, failed["name"], {**failed, "failed_at": stamp}, stamp)
    for index, tool in enumerate(BUILTIN_TOOLS):
        store.put_resource(TOOL, tool["name"], dict(tool), f"{stamp}#{index:04d}")
    store.set_setting(SEED_FLAG, stamp)


def plugins(ctx: Ctx) -> list[dict]:
    ensure_seeded(ctx.sim)
    return ctx.sim.store.list_resources(PLUGIN)


def get_plugin(ctx: Ctx, name: str | None = None) -> dict:
    ensure_seeded(ctx.sim)
    name = ctx.param("plugin_id") if name is None else name
    found = ctx.sim.store.get_resource(PLUGIN, name)
    if found is None:
        raise ApiError(404, f"Plugin {name} not found")
    return found


def save_plugin(ctx: Ctx, plugin: dict) -> dict:
    ctx.sim.store.put_resource(PLUGIN, plugin["name"], plugin, plugin["installed_at"])
    return plugin


# versions ----------------------------------------------------------------------------------
def version_key(text: str | None) -> tuple[int, ...] | None:
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text or "").strip())
    return tuple(int(g or 0) for g in match.groups()) if match else None


def satisfies(constraint: str | None, version: str = ASTRBOT_VERSION) -> bool:
    """PEP 440-like clauses joined by commas (>=, <=, ==, !=, >, <, ~=); 400 when malformed."""
    current = version_key(version)
    for clause in filter(None, (c.strip() for c in str(constraint or "").split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|~=|>|<|=)?\s*(v?\d+(?:\.\d+){0,2})", clause)
        if match is None:
            raise ApiError(400, f"Invalid version constraint: {clause!r}")
        op, wanted_text = match.group(1) or "==", match.group(2)
        wanted = version_key(wanted_text)
        if op == "~=":
            parts = wanted_text.lstrip("v").split(".")
            if len(parts) < 2:
                raise ApiError(400, f"Invalid version constraint: {clause!r}")
            upper = [int(p) for p in parts[:-1]]
            upper[-1] += 1
            ok = current >= wanted and current < tuple(upper + [0] * (3 - len(upper)))
        else:
            ok = {">=": current >= wanted, "<=": current <= wanted, ">": current > wanted,
                  "<": current < wanted, "!=": current != wanted, "==": current == wanted,
                  "=": current == wanted}[op]
        if not ok:
            return False
    return True


def has_update(plugin: dict) -> bool:
    online, local = version_key(plugin.get("online_version")), version_key(plugin["version"])
    return bool(online and local and online > local)


# views -------------------------------------------------------------------------------------
SUMMARY = ("name", "display_name", "author", "desc", "version", "online_version", "repo",
           "reserved", "activated", "astrbot_version", "support_platforms", "install_method",
           "source", "installed_at", "updated_at", "reload_count", "last_reloaded_at")


def summary(plugin: dict) -> dict:
    view = {key: plugin.get(key) for key in SUMMARY}
    view.update(has_update=has_update(plugin), logo=None,
                pages=[page["name"] for page in plugin["pages"]],
                handlers=[c["handler_full_name"] for c in plugin["commands"]],
                tools=[t["name"] for t in plugin["tools"]])
    return view


def detail(plugin: dict) -> dict:
    return {**summary(plugin), "commands": plugin["commands"], "tools": plugin["tools"],
            "pages": plugin["pages"],
            "routes": [{"route": r["route"], "methods": r["methods"]} for r in plugin["routes"]],
            "has_readme": bool(plugin.get("readme")),
            "has_changelog": bool(plugin.get("changelog"))}


# plugins -----------------------------------------------------------------------------------
@operation("listPlugins")
async def list_plugins(ctx: Ctx):
    found = plugins(ctx)
    if not ctx.query.get("include_reserved", True):
        found = [p for p in found if not p["reserved"]]
    if ctx.query.get("enabled") is not None:
        found = [p for p in found if p["activated"] == ctx.query["enabled"]]
    return [summary(p) for p in found]


@operation("getPlugin")
@operation("getPluginById")
async def get_plugin_detail(ctx: Ctx):
    return detail(get_plugin(ctx))


@operation("uninstallPlugin")
@operation("uninstallPluginById")
async def uninstall_plugin(ctx: Ctx):
    plugin = get_plugin(ctx)
    if plugin["reserved"]:
        raise ApiError(409, f"Plugin {plugin['name']} is reserved and cannot be uninstalled")
    ctx.sim.store.delete_resource(PLUGIN, plugin["name"])
    shutil.rmtree(plugin_dir(ctx.sim, plugin["name"]), ignore_errors=True)
    return forget(ctx, plugin["name"])


def forget(ctx: Ctx, name: str) -> dict:
    """What uninstall options drop besides the plugin itself."""
    body = ctx.body if isinstance(ctx.body, dict) else {}
    delete_config, delete_data = bool(body.get("delete_config")), bool(body.get("delete_data"))
    if delete_config:
        ctx.sim.store.delete_resource(CONFIG, name)
    if delete_data:
        ctx.sim.store.delete_resource(KV, name)
        shutil.rmtree(data_dir_of(ctx.sim, name), ignore_errors=True)
    return {"plugin_id": name, "uninstalled": True, "config_deleted": delete_config,
            "data_deleted": delete_data}


def config_of(ctx: Ctx, plugin: dict) -> dict:
    saved = ctx.sim.store.get_resource(CONFIG, plugin["name"]) or {}
    return {key: copy.deepcopy(saved.get(key, default_of(item)))
            for key, item in plugin["config_schema"].items()}


def default_of(item: dict):
    return copy.deepcopy(item.get("default", EMPTY.get(item.get("type", "string"))))


def check_config(schema: dict, config: dict, where: str = "") -> dict:
    """The config as saved: every schema key (missing ones get their default), typed."""
    unknown = sorted(set(config) - set(schema))
    if unknown:
        raise ApiError(400, f"Unknown config key: {where}{unknown[0]}")
    result = {}
    for key, item in schema.items():
        if key not in config:
            result[key] = default_of(item)
            continue
        value, kind = config[key], item.get("type", "string")
        expected = CONFIG_TYPES.get(kind, object)
        if not isinstance(value, expected) or (isinstance(value, bool) and kind in
                                               ("int", "float")):
            raise ApiError(400, f"Invalid config value at {where}{key}: expected {kind}")
        if item.get("options") and value not in item["options"]:
            raise ApiError(400, f"Invalid config value at {where}{key}: not one of "
                                f"{item['options']}")
        if kind == "file" and not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"Invalid config value at {where}{key}: expected file paths")
        if kind == "object" and isinstance(item.get("items"), dict):
            value = check_config(item["items"], value, f"{where}{key}.")
        result[key] = value
    return result


def save_config(ctx: Ctx, plugin: dict, config: dict) -> dict:
    ctx.sim.store.put_resource(CONFIG, plugin["name"], config, now_iso())
    return {"plugin_name": plugin["name"], "config": config}


@operation("getPluginConfig")
@operation("getPluginConfigById")
async def get_plugin_config(ctx: Ctx):
    plugin = get_plugin(ctx)
    return {"plugin_name": plugin["name"], "config": config_of(ctx, plugin)}


@operation("getPluginConfigSchema")
@operation("getPluginConfigSchemaById")
async def get_plugin_config_schema(ctx: Ctx):
    plugin = get_plugin(ctx)
    return {"plugin_name": plugin["name"], "schema": plugin["config_schema"]}


@operation("updatePluginConfig")
async def update_plugin_config(ctx: Ctx):
    plugin = get_plugin(ctx)
    body = ctx.body or {}
    if isinstance(body.get("config"), dict) and "config" not in plugin["config_schema"]:
        body = body["config"]  # AstrBot accepts {"config": {...}} here too
    return save_config(ctx, plugin, check_config(plugin["config_schema"], body))


@operation("updatePluginConfigById")
async def update_plugin_config_by_id(ctx: Ctx):
    plugin = get_plugin(ctx)
    return save_config(ctx, plugin, check_config(plugin["config_schema"], ctx.body["config"]))


def text_answer(ctx: Ctx, text: str):
    """text/plain, or the JSON envelope {content} for a client that asks for JSON only."""
    accept = ctx.request.headers.get("Accept", "")
    if "application/json" in accept and "text/plain" not in accept:
        return {"content": text}
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def plugin_document(ctx: Ctx, field: str, title: str):
    plugin = get_plugin(ctx)
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
    plugin = get_plugin(ctx)
    plugin["reload_count"] += 1
    plugin["last_reloaded_at"] = now_iso()
    return summary(save_plugin(ctx, plugin))


@operation("setPluginEnabled")
@operation("setPluginEnabledById")
async def set_plugin_enabled(ctx: Ctx):
    plugin = get_plugin(ctx)
    enabled = ctx.body["enabled"]
    if plugin["reserved"] and not enabled:
        raise ApiError(409, f"Plugin {plugin['name']} is reserved and cannot be disabled")
    plugin["activated"] = enabled
    return summary(save_plugin(ctx, plugin))


async def form_of(ctx: Ctx) -> dict:
    """read_form, with aiohttp's own multipart parse errors (a bad part header) as 400 too."""
    try:
        return await read_form(ctx)
    except HttpProcessingError as exc:
        raise ApiError(400, f"Malformed multipart body: {exc.message}") from exc


def http_url(value, what: str) -> str:
    text = str(value or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", text):
        raise ApiError(400, f"Invalid {what}: {value!r} is not an http(s) URL")
    return text


@operation("bindPluginSource")
async def bind_plugin_source(ctx: Ctx):
    plugin = get_plugin(ctx)
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
    return summary(save_plugin(ctx, plugin))


# sources of a plugin ---------------------------------------------------------------------
def market_entry(market_id: str) -> dict:
    found = next((e for e in MARKET if e["id"] == market_id), None)
    if found is None:
        raise ApiError(404, f"Marketplace plugin {market_id} not found")
    return found


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


from . import plugin_installs, plugin_pages  # noqa: E402,F401  (they register their operations)
