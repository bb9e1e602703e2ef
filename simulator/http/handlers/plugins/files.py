"""Plugins: config files and extension routes. Uploads for a `file` item of a plugin's config
schema land under data_dir/plugin_data/<name>/files/<config_key>/ and are listed from there; the
config value tracks them as `files/<config_key>/<file name>` (a key the schema lacks is 404, not
a file item 400, a type outside `file_types` 400). Extension routes: `plugin_path` is matched
against the routes installed plugins declare (`<name>` one segment, `<path:name>` any rest);
unknown path 404, another method 405, route of a disabled plugin 409."""

from __future__ import annotations

from ...domain.plugin_registry import (
    check_config,
    config_of,
    data_dir_of,
    get_plugin,
    save_config,
)
from ...kernel.envelope import ApiError
from ...kernel.forms import FormFile, files_of, form_of
from ...kernel.paths import inside, safe_name, safe_relative
from ...kernel.router import Ctx, Operations

operation = Operations()


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
    config = config_of(ctx.sim, plugin)
    config[key] = [f["path"] for f in listing(ctx, plugin, key)]
    return save_config(ctx.sim, plugin, check_config(plugin["config_schema"], config))["config"]


@operation("listPluginConfigFiles")
@operation("listPluginConfigFilesById")
async def listconfig_files(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    key, _ = file_item(ctx, plugin, ctx.param("config_key"))
    return {"config_key": key, "files": listing(ctx, plugin, key)}


@operation("uploadPluginConfigFiles")
@operation("uploadPluginConfigFilesById")
async def uploadconfig_files(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
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
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
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
