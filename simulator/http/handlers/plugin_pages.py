"""Seed 004 tag Plugin Pages: pages are real files under
data_dir/plugins/<name>/pages/<page>/: the entry is index.html (text/html), assets are served
with their guessed media type. Page names and asset paths go through kernel/paths.py (`..`,
absolute paths, backslashes, NUL and encoded separators are 400); an unknown plugin, page or
asset is 404. The bridge SDK is a fixed script (application/javascript)."""

from __future__ import annotations

import hashlib
import mimetypes
import re

from aiohttp import web

from ..domain.plugin_registry import KV, config_of, get_plugin, plugin_dir, plugins
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.forms import FormFile, files_of, form_of
from ..kernel.paths import inside, safe_name
from ..kernel.router import Ctx, Operations

operation = Operations()
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
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    return [page_view(ctx, plugin, page) for page in plugin["pages"]]


def file_answer(path, default_type: str = "application/octet-stream") -> web.Response:
    if not path.is_file():
        raise ApiError(404, "Plugin page asset not found")
    mime = mimetypes.guess_type(path.name)[0] or default_type
    return web.Response(body=path.read_bytes(), content_type=mime, headers=SECURITY_HEADERS)


@operation("getPluginPage")
@operation("getPluginPageById")
async def get_plugin_page(ctx: Ctx):
    _, folder = page_of(ctx, get_plugin(ctx.sim, ctx.param("plugin_id")))
    return file_answer(folder / "index.html", "text/html")


@operation("getPluginPageAsset")
@operation("getPluginPageAssetById")
async def get_plugin_page_asset(ctx: Ctx):
    _, folder = page_of(ctx, get_plugin(ctx.sim, ctx.param("plugin_id")))
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
    config = config_of(ctx.sim, plugin)
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
    for plugin in plugins(ctx.sim):
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
