"""Plugin Pages, plugin config files, Commands and Tools (seed 004), on top of the installed
plugins of `plugins.py` (which imports this module).

- Pages are real files under data_dir/plugins/<name>/pages/<page>/: the entry is index.html
  (text/html), assets are served with their guessed media type. Page names and asset paths
  come from the client and go through paths.py: `..`, absolute paths, backslashes, NUL and
  encoded separators are 400; an unknown plugin, page or asset is 404. The bridge SDK is a
  fixed script (application/javascript).
- Extension routes: `plugin_path` is matched against the routes installed plugins declare
  (`<name>` is one segment, `<path:name>` any rest, as in AstrBot); unknown path 404, known
  path with another method 405, route of a disabled plugin 409. The aiohttp route only
  matches one segment, so a client sends `a%2Fb` for `a/b`.
- Config files: uploads for a `file` item of a plugin's config schema land under
  data_dir/plugin_data/<name>/files/<config_key>/ and are listed from there; the config value
  of the item tracks them as `files/<config_key>/<file name>`. A key the schema lacks is 404,
  a key that is not a file item 400, a file type outside the item's `file_types` 400.
- Commands derive from the installed plugins (their state lives in the plugin document):
  renaming (`alias`) or new `aliases` that collide with another enabled command are 409;
  enabling may create a conflict, which `listCommandConflicts` reports (enabled commands of
  active plugins sharing a name or alias).
- Tools: the built-in ones (kind "tool") and the tools of installed plugins; `enabled` filters
  on a tool's own switch, `active` also needs its plugin enabled. No MCP tool is simulated.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re

from aiohttp import web

from ..history import now_iso
from .envelope import ApiError
from .forms import FormFile, files_of
from .paths import inside, safe_name, safe_relative
from .plugins import (
    KV,
    TOOL,
    check_config,
    config_of,
    data_dir_of,
    ensure_seeded,
    form_of,
    get_plugin,
    plugin_dir,
    plugins,
    save_config,
    save_plugin,
)
from .router import Ctx, operation

SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer"}
BRIDGE_SDK = """/* AstrBot plugin page bridge SDK (simulator) */
(function (global) {
  "use strict";
  var pending = {}, seq = 0;
  function call(type, payload) {
    return new Promise(function (resolve, reject) {
      var id = "req-" + (++seq);
      pending[id] = { resolve: resolve, reject: reject };
      global.parent.postMessage({ source: "astrbot-plugin-page", id: id, type: type,
                                  payload: payload || {} }, "*");
    });
  }
  global.addEventListener("message", function (event) {
    var msg = event.data || {};
    if (msg.source !== "astrbot-dashboard" || !pending[msg.id]) return;
    var p = pending[msg.id]; delete pending[msg.id];
    if (msg.ok) p.resolve(msg.data); else p.reject(new Error(msg.message || "error"));
  });
  global.AstrBotPage = {
    version: "1",
    ready: function () { return call("ready"); },
    api: function (method, path, body) { return call("api", { method: method, path: path,
                                                              body: body }); },
    getContext: function () { return call("context"); },
    notify: function (message, level) { return call("notify", { message: message,
                                                               level: level || "info" }); }
  };
})(window);
"""


# pages -------------------------------------------------------------------------------------
def page_of(ctx: Ctx, plugin: dict) -> tuple[dict, object]:
    name = safe_name(ctx.param("page_name"), "page_name")
    page = next((p for p in plugin["pages"] if p["name"] == name), None)
    folder = plugin_dir(ctx.sim, plugin["name"]) / "pages" / name
    if page is None or not folder.is_dir():
        raise ApiError(404, f"Plugin {plugin['name']} has no page {name}")
    return page, folder


def page_view(ctx: Ctx, plugin: dict, page: dict) -> dict:
    folder = plugin_dir(ctx.sim, plugin["name"]) / "pages" / page["name"]
    assets = sorted(str(p.relative_to(folder)).replace("\\", "/")
                    for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return {**page, "entry": "index.html",
            "url": f"/api/v1/plugins/{plugin['name']}/pages/{page['name']}",
            "assets": [a for a in assets if a != "index.html"]}


@operation("listPluginPages")
@operation("listPluginPagesById")
async def list_plugin_pages(ctx: Ctx):
    plugin = get_plugin(ctx)
    return [page_view(ctx, plugin, page) for page in plugin["pages"]]


def file_answer(path, default_type: str = "application/octet-stream") -> web.Response:
    if not path.is_file():
        raise ApiError(404, "Plugin page asset not found")
    mime = mimetypes.guess_type(path.name)[0] or default_type
    return web.Response(body=path.read_bytes(), content_type=mime, headers=SECURITY_HEADERS)


@operation("getPluginPage")
@operation("getPluginPageById")
async def get_plugin_page(ctx: Ctx):
    _, folder = page_of(ctx, get_plugin(ctx))
    return file_answer(folder / "index.html", "text/html")


@operation("getPluginPageAsset")
@operation("getPluginPageAssetById")
async def get_plugin_page_asset(ctx: Ctx):
    _, folder = page_of(ctx, get_plugin(ctx))
    return file_answer(inside(folder, ctx.param("asset_path"), "asset_path"))


@operation("getPluginPageBridgeSdk")
async def get_bridge_sdk(ctx: Ctx):
    return web.Response(text=BRIDGE_SDK, content_type="application/javascript",
                        charset="utf-8", headers=SECURITY_HEADERS)


# extension routes --------------------------------------------------------------------------
def route_pattern(route: str) -> str:
    route = "/" + route.strip().lstrip("/")
    chunks, pos = [], 0
    for match in re.finditer(r"<(?:(path):)?([A-Za-z_][A-Za-z0-9_]*)>", route):
        chunks.append(re.escape(route[pos:match.start()]))
        chunks.append(f"(?P<{match[2]}>.+)" if match[1] else f"(?P<{match[2]}>[^/]+)")
        pos = match.end()
    return "".join(chunks) + re.escape(route[pos:])


async def route_body(ctx: Ctx) -> dict:
    if ctx.request.content_type.startswith("multipart/"):
        fields = await form_of(ctx)
        return {k: [{"filename": f.filename, "size": len(f.data)} for f in files_of(v)]
                if isinstance(v, (FormFile, list)) else v for k, v in fields.items()}
    return ctx.body if isinstance(ctx.body, dict) else {}


def forecast(ctx: Ctx, plugin: dict, params: dict, body: dict, route: dict):
    config = config_of(ctx, plugin)
    city, days = params["city"], max(0, min(14, config["forecast_days"]))
    conditions = ("sunny", "cloudy", "rain", "snow", "windy")
    result = []
    for day in range(days):
        digest = hashlib.sha256(f"{city}|{day}".encode()).digest()
        high = digest[0] % 30
        if config["units"] == "imperial":
            high = high * 9 // 5 + 32
        result.append({"day": day, "condition": conditions[digest[1] % len(conditions)],
                       "high": high, "low": high - 3 - digest[2] % 6})
    return {"city": city, "units": config["units"], "days": result}


def stats(ctx: Ctx, plugin: dict, params: dict, body: dict, route: dict):
    return {"plugin": plugin["name"], "commands": len(plugin["commands"]),
            "enabled_commands": sum(c["enabled"] for c in plugin["commands"]),
            "reload_count": plugin["reload_count"]}


def key_value(ctx: Ctx, plugin: dict, params: dict, body: dict, route: dict):
    """A JSON document the plugin keeps: GET reads, PUT replaces, POST/PATCH merge, DELETE
    clears."""
    store, key = ctx.sim.store, route["key"]
    data = store.get_resource(KV, plugin["name"]) or {}
    current = data.get(key, {})
    method = ctx.request.method
    if method == "GET":
        return {key: current}
    current = {} if method in ("PUT", "DELETE") else current
    if method != "DELETE":
        current = {**current, **body}
    store.put_resource(KV, plugin["name"], {**data, key: current}, now_iso())
    return {key: current}


ACTIONS = {"forecast": forecast, "stats": stats, "kv": key_value}


@operation("getPluginExtensionRoute")
@operation("putPluginExtensionRoute")
@operation("postPluginExtensionRoute")
@operation("deletePluginExtensionRoute")
@operation("patchPluginExtensionRoute")
async def plugin_extension_route(ctx: Ctx):
    path = "/" + ctx.request.match_info["plugin_path"].lstrip("/")
    known_path = False
    for plugin in plugins(ctx):
        for route in plugin["routes"]:
            match = re.fullmatch(route_pattern(route["route"]), path)
            if match is None:
                continue
            known_path = True
            if ctx.request.method not in route["methods"]:
                continue
            if not plugin["activated"]:
                raise ApiError(409, f"Plugin {plugin['name']} is disabled")
            body = await route_body(ctx)
            return ACTIONS[route["action"]](ctx, plugin, match.groupdict(), body, route)
    if known_path:
        raise ApiError(405, f"Method {ctx.request.method} not allowed on {path}")
    raise ApiError(404, f"No plugin route {path}")


# config files ------------------------------------------------------------------------------
def file_item(ctx: Ctx, plugin: dict, raw_key: str) -> tuple[str, dict]:
    key = safe_name(raw_key, "config_key")
    item = plugin["config_schema"].get(key)
    if item is None:
        raise ApiError(404, f"Plugin {plugin['name']} has no config item {key}")
    if item.get("type") != "file":
        raise ApiError(400, f"Config item {key} is not a file item")
    return key, item


def files_root(ctx: Ctx, plugin: dict):
    return data_dir_of(ctx.sim, plugin["name"]) / "files"


def listing(ctx: Ctx, plugin: dict, key: str) -> list[dict]:
    folder = files_root(ctx, plugin) / key
    if not folder.is_dir():
        return []
    return [{"name": p.name, "path": f"files/{key}/{p.name}", "size": p.stat().st_size}
            for p in sorted(folder.iterdir()) if p.is_file()]


def track(ctx: Ctx, plugin: dict, key: str) -> dict:
    """Point the file item's config value at the files on disk; returns the saved config."""
    config = config_of(ctx, plugin)
    config[key] = [f["path"] for f in listing(ctx, plugin, key)]
    return save_config(ctx, plugin, check_config(plugin["config_schema"], config))["config"]


@operation("listPluginConfigFiles")
@operation("listPluginConfigFilesById")
async def list_config_files(ctx: Ctx):
    plugin = get_plugin(ctx)
    key, _ = file_item(ctx, plugin, ctx.param("config_key"))
    return {"config_key": key, "files": listing(ctx, plugin, key)}


@operation("uploadPluginConfigFiles")
@operation("uploadPluginConfigFilesById")
async def upload_config_files(ctx: Ctx):
    plugin = get_plugin(ctx)
    key, item = file_item(ctx, plugin, ctx.param("config_key"))
    uploads = [f for value in (await form_of(ctx)).values()
               for f in files_of(value) if isinstance(f, FormFile)]
    if not uploads:
        raise ApiError(400, "No file in the multipart body")
    names = []
    for upload in uploads:  # every file is checked before any is written
        name = safe_name(upload.filename, "file name")
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if item.get("file_types") and suffix not in item["file_types"]:
            raise ApiError(400, f"File type of {name} is not one of {item['file_types']}")
        names.append(name)
    folder = files_root(ctx, plugin) / key
    folder.mkdir(parents=True, exist_ok=True)
    for name, upload in zip(names, uploads, strict=True):
        inside(folder, name, "file name").write_bytes(upload.data)
    config = track(ctx, plugin, key)
    return {"config_key": key, "uploaded": [f"files/{key}/{n}" for n in names],
            "files": listing(ctx, plugin, key), "config": config}


@operation("deletePluginConfigFile")
@operation("deletePluginConfigFileById")
async def delete_config_file(ctx: Ctx):
    plugin = get_plugin(ctx)
    raw = ctx.body["path"]
    rel = safe_relative(raw, "path")
    if len(rel.parts) != 3 or rel.parts[0] != "files":
        raise ApiError(400, f"Invalid path {raw!r}: expected files/<config_key>/<file name>")
    key, _ = file_item(ctx, plugin, rel.parts[1])
    target = inside(files_root(ctx, plugin), str(rel.relative_to("files")), "path")
    if not target.is_file():
        raise ApiError(404, f"No uploaded file {raw}")
    target.unlink()
    return {"deleted": str(rel), "config": track(ctx, plugin, key)}


# commands ----------------------------------------------------------------------------------
def all_commands(ctx: Ctx) -> list[tuple[dict, dict]]:
    return [(p, c) for p in plugins(ctx) for c in p["commands"]]


def names_of(cmd: dict) -> list[str]:
    return [cmd["effective_command"], *cmd["aliases"]]


def conflicts(pairs: list[tuple[dict, dict]]) -> dict[str, list[tuple[dict, dict]]]:
    by_name: dict[str, list] = {}
    for plugin, cmd in pairs:
        if plugin["activated"] and cmd["enabled"]:
            for name in dict.fromkeys(names_of(cmd)):
                by_name.setdefault(name, []).append((plugin, cmd))
    return {name: found for name, found in sorted(by_name.items()) if len(found) > 1}


def command_view(plugin: dict, cmd: dict, clashes: dict) -> dict:
    return {**cmd, "plugin_display_name": plugin["display_name"],
            "plugin_activated": plugin["activated"], "reserved": plugin["reserved"],
            "has_conflict": any(cmd["handler_full_name"] == c["handler_full_name"]
                                for found in clashes.values() for _, c in found)}


def wake_prefix(ctx: Ctx) -> list[str]:
    config_id = (ctx.query.get("config_id") or "").strip()
    if config_id in ("", "default"):
        return ["/"]
    profile = ctx.sim.store.get_resource("config profile", config_id)
    if profile is None:
        raise ApiError(404, f"Config profile {config_id} not found")
    inner = profile.get("config") if isinstance(profile.get("config"), dict) else {}
    found = profile.get("wake_prefix") or inner.get("wake_prefix")
    if isinstance(found, str) and found:
        return [found]
    return found if isinstance(found, list) and found else ["/"]


@operation("listCommands")
async def list_commands(ctx: Ctx):
    prefix = wake_prefix(ctx)
    pairs = all_commands(ctx)
    clashes = conflicts(pairs)
    items = sorted((command_view(p, c, clashes) for p, c in pairs),
                   key=lambda c: (c["effective_command"].lower(), c["handler_full_name"]))
    return {"items": items,
            "summary": {"total": len(items), "disabled": sum(not c["enabled"] for c in items),
                        "conflicts": sum(c["has_conflict"] for c in items)},
            "wake_prefix": prefix, "language": "en-US"}


@operation("listCommandConflicts")
async def list_command_conflicts(ctx: Ctx):
    return [{"command": name,
             "handlers": [{"handler_full_name": c["handler_full_name"], "plugin": p["name"],
                           "effective_command": c["effective_command"]} for p, c in found]}
            for name, found in conflicts(all_commands(ctx)).items()]


def command_name(raw: str, what: str) -> str:
    name = raw.strip()
    if not re.fullmatch(r"\S{1,64}", name):
        raise ApiError(400, f"Invalid {what}: {raw!r} (one word, no spaces)")
    return name


@operation("updateCommand")
async def update_command(ctx: Ctx):
    body, wanted = ctx.body, ctx.param("command_id")
    pairs = all_commands(ctx)
    plugin, cmd = next(((p, c) for p, c in pairs if c["handler_full_name"] == wanted),
                       (None, None))
    if cmd is None:
        raise ApiError(404, f"Command {wanted} not found")
    if not body:
        raise ApiError(400, "Nothing to update: give enabled, alias, aliases or "
                            "permission_group")
    changed = dict(cmd)
    if "alias" in body:
        changed["effective_command"] = command_name(body["alias"], "alias")
    if "aliases" in body:
        aliases = [command_name(a, "aliases item") for a in body["aliases"]]
        changed["aliases"] = [a for a in dict.fromkeys(aliases)
                              if a != changed["effective_command"]]
    if "permission_group" in body:
        if body["permission_group"] not in ("everyone", "admin"):
            raise ApiError(400, "permission_group must be everyone or admin")
        changed["permission"] = body["permission_group"]
    if "enabled" in body:
        changed["enabled"] = body["enabled"]
    if "alias" in body or "aliases" in body:
        taken = {n: c for p, c in pairs if p["activated"] and c["enabled"]
                 and c["handler_full_name"] != wanted for n in names_of(c)}
        clash = next((n for n in names_of(changed) if n in taken), None)
        if clash is not None:
            raise ApiError(409, f"Command name {clash} is taken by "
                                f"{taken[clash]['handler_full_name']}")
    plugin["commands"] = [changed if c["handler_full_name"] == wanted else c
                          for c in plugin["commands"]]
    save_plugin(ctx, plugin)
    return command_view(plugin, changed, conflicts(all_commands(ctx)))


# tools -------------------------------------------------------------------------------------
def all_tools(ctx: Ctx) -> list[tuple[dict | None, dict]]:
    ensure_seeded(ctx.sim)
    return [(None, t) for t in ctx.sim.store.list_resources(TOOL)] + [
        (p, t) for p in plugins(ctx) for t in p["tools"]]


def tool_view(plugin: dict | None, tool: dict) -> dict:
    return {**tool, "active": tool["enabled"] and (plugin is None or plugin["activated"])}


@operation("listTools")
async def list_tools(ctx: Ctx):
    found = [tool_view(p, t) for p, t in all_tools(ctx)]
    if ctx.query.get("origin"):
        found = [t for t in found if t["origin"] == ctx.query["origin"]]
    if ctx.query.get("enabled") is not None:
        found = [t for t in found if t["enabled"] == ctx.query["enabled"]]
    return found


def change_tool(ctx: Ctx, **changes) -> dict:
    name = ctx.param("tool_id")
    plugin, tool = next(((p, t) for p, t in all_tools(ctx) if t["name"] == name), (None, None))
    if tool is None:
        raise ApiError(404, f"Tool {name} not found")
    tool.update(changes)
    if plugin is None:
        ctx.sim.store.put_resource(TOOL, name, tool, now_iso())
    else:
        save_plugin(ctx, plugin)
    return tool_view(plugin, tool)


@operation("setToolEnabled")
async def set_tool_enabled(ctx: Ctx):
    return change_tool(ctx, enabled=ctx.body["enabled"])


@operation("setToolPermission")
async def set_tool_permission(ctx: Ctx):
    return change_tool(ctx, permission=ctx.body["permission"])
