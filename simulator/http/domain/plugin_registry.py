"""The installed plugins (seed 004 Plugins, Plugin Pages, Plugin Sources, Commands, Tools).

Where data lives: kind "plugin" (id = plugin name) holds a plugin's metadata, commands, tools,
pages, extension routes, README, CHANGELOG and config schema; kind "plugin config" its saved
configuration (kept on uninstall unless `delete_config`, so a reinstall finds it); kind
"plugin kv" what its extension routes keep (dropped with `delete_data`, as are its uploads under
data_dir/plugin_data/<name>/); "failed plugin", "plugin source" and "tool" (built-in tools).
Page files are real files under data_dir/plugins/<name>/pages/. The first request seeds a
reserved built-in plugin, two ordinary ones, a failed one and the built-in tools, once (setting
`plugins_seeded`), so every later change, an uninstall included, survives a restart.

Config: PUT replaces the whole configuration; keys missing from the body get their schema
default; an unknown key, a wrong type or a value outside `options` is 400."""

from __future__ import annotations

import copy
import re
import shutil
from urllib.parse import urlsplit

from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.paths import inside
from .plugin_seed import BUILTIN_TOOLS, FAILED_PLUGINS, MARKET, SEED_PLUGINS, new_plugin

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


def plugins(sim) -> list[dict]:
    ensure_seeded(sim)
    return sim.store.list_resources(PLUGIN)


def get_plugin(sim, name: str) -> dict:
    ensure_seeded(sim)
    found = sim.store.get_resource(PLUGIN, name)
    if found is None:
        raise ApiError(404, f"Plugin {name} not found")
    return found


def save_plugin(sim, plugin: dict) -> dict:
    sim.store.put_resource(PLUGIN, plugin["name"], plugin, plugin["installed_at"])
    return plugin


# versions ----------------------------------------------------------------------------------
def version_key(text: str | None) -> tuple[int, ...] | None:
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text or "").strip())
    return tuple(int(g or 0) for g in match.groups()) if match else None


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


def forget(sim, name: str, body) -> dict:
    """What uninstall options (`body`) drop besides the plugin itself."""
    body = body if isinstance(body, dict) else {}
    delete_config, delete_data = bool(body.get("delete_config")), bool(body.get("delete_data"))
    if delete_config:
        sim.store.delete_resource(CONFIG, name)
    if delete_data:
        sim.store.delete_resource(KV, name)
        shutil.rmtree(data_dir_of(sim, name), ignore_errors=True)
    return {"plugin_id": name, "uninstalled": True, "config_deleted": delete_config,
            "data_deleted": delete_data}


def config_of(sim, plugin: dict) -> dict:
    saved = sim.store.get_resource(CONFIG, plugin["name"]) or {}
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


def save_config(sim, plugin: dict, config: dict) -> dict:
    sim.store.put_resource(CONFIG, plugin["name"], config, now_iso())
    return {"plugin_name": plugin["name"], "config": config}


def http_url(value, what: str) -> str:
    text = str(value or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", text):
        raise ApiError(400, f"Invalid {what}: {value!r} is not an http(s) URL")
    return text


# sources of a plugin ---------------------------------------------------------------------
def market_entry(market_id: str) -> dict:
    found = next((e for e in MARKET if e["id"] == market_id), None)
    if found is None:
        raise ApiError(404, f"Marketplace plugin {market_id} not found")
    return found
