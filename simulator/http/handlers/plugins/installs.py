"""Plugins: installs (GitHub, URL, uploaded ZIP), repository validation, version constraints,
updates, failed plugins and the marketplace. An install is immediate (seed 004 has no progress
endpoint for it): a GitHub/URL install derives the plugin from the address, or takes a
marketplace entry's metadata when the address or `market_plugin_id` names one; an upload must
be a ZIP with a metadata.yaml naming the plugin (README.md, CHANGELOG.md, _conf_schema.json and
pages/<page>/index.html are taken when present; members that would land outside the folder are
400, more than 20 MiB unpacked is 413). The running AstrBot is 4.26.2."""

from __future__ import annotations

import copy
import hashlib
import io
import re
import zipfile
import zlib
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import yaml

from ...domain.plugin_registry import (
    CONFIG,
    CONFIG_TYPES,
    FAILED,
    PLUGIN,
    check_config,
    detail,
    ensure_seeded,
    forget,
    get_plugin,
    has_update,
    http_url,
    market_entry,
    plugins,
    save_plugin,
    version_key,
    write_files,
)
from ...domain.plugin_seed import MARKET, SEED_PLUGINS, command, new_plugin
from ...kernel.clock import now_iso
from ...kernel.envelope import ApiError
from ...kernel.forms import FormFile, form_of
from ...kernel.jsonbody import decode, holds_surrogate
from ...kernel.paths import safe_relative
from ...kernel.router import Ctx, Operations

operation = Operations()
GITHUB_RE = re.compile(r"(?:(?:https?://)?(?:www\.)?github\.com/)?"
                       r"(?P<owner>[A-Za-z0-9][A-Za-z0-9-]{0,38})/"
                       r"(?P<repo>[A-Za-z0-9_][A-Za-z0-9._-]{0,99}?)(?:\.git)?/?")


NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
MAX_UNZIPPED = 20 * 1024 * 1024


def parse_github(raw) -> tuple[str, str]:
    match = GITHUB_RE.fullmatch(str(raw or "").strip())
    if not str(raw or "").strip():  # names no repository: GitHub has none by that name
        raise ApiError(404, "GitHub repository not found: no repository named")
    if match is None or match["repo"] in (".", ".."):  # names no repository GitHub can have
        raise ApiError(404, f"GitHub repository not found: {raw!r} (owner/repo or "
                            "https://github.com/owner/repo)")
    return match["owner"], match["repo"]


def plugin_name(raw: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", raw.lower())
    if not NAME_RE.fullmatch(name):
        raise ApiError(400, f"Invalid plugin name derived from {raw!r}")
    return name


def derived_plugin(name: str, author: str, url: str, method: str) -> dict:
    """A plugin as a download of `url` would give it, from the address alone."""
    digest = hashlib.sha256(url.encode()).digest()
    version = f"v1.{digest[0] % 10}.{digest[1] % 10}"
    short = name.removeprefix("astrbot_plugin_") or name
    return new_plugin(
        name=name, display_name=short.replace("_", " ").title(), author=author,
        desc=f"Installed from {url}", version=version, online_version=version, repo=url,
        astrbot_version=">=4.0.0", install_method=method,
        commands=[command(name, short, f"Main command of {name}")],
        readme=f"# {name}\n\nInstalled from {url}.\n")


def from_market(entry: dict, method: str) -> dict:
    """A marketplace plugin; one the simulator ships comes back whole (config, pages, tools),
    its page files under the transient `_files` key that `install` writes out."""
    seed = next((s for s in SEED_PLUGINS if s["plugin"]["name"] == entry["name"]), None)
    if seed is not None:
        return new_plugin(**{**copy.deepcopy(seed["plugin"]), "version": entry["version"],
                             "online_version": entry["version"], "install_method": method,
                             "_files": seed.get("files", {})})
    return new_plugin(
        name=entry["name"], display_name=entry["display_name"], author=entry["author"],
        desc=entry["desc"], version=entry["version"], online_version=entry["version"],
        repo=entry["repo"], astrbot_version=entry["astrbot_version"], install_method=method,
        commands=[command(entry["name"], c, f"{c} command of {entry['display_name']}")
                  for c in entry["commands"]],
        readme=f"# {entry['display_name']}\n\n{entry['desc']}\n")


def install(ctx: Ctx, plugin: dict, body: dict, files: dict | None = None) -> dict:
    ensure_seeded(ctx.sim)
    name, store = plugin["name"], ctx.sim.store
    if store.get_resource(PLUGIN, name) is not None or store.get_resource(FAILED, name):
        raise ApiError(409, f"Plugin {name} is already installed")
    if not body.get("ignore_version_check") and not satisfies(plugin["astrbot_version"]):
        raise ApiError(400, f"Plugin {name} requires AstrBot {plugin['astrbot_version']} "
                            f"(running {ASTRBOT_VERSION}); set ignore_version_check to install")
    if body.get("market_plugin_id") or body.get("install_method"):
        plugin["source"] = {"install_method": body.get("install_method") or "market",
                            "registry_url": body.get("registry_url"),
                            "market_plugin_id": body.get("market_plugin_id") or name}
    saved = store.get_resource(CONFIG, name)
    if saved is not None:  # kept from an earlier uninstall: still has to fit the schema
        known = {k: v for k, v in saved.items() if k in plugin["config_schema"]}
        try:
            check_config(plugin["config_schema"], known)
        except ApiError:
            store.delete_resource(CONFIG, name)
    plugin["installed_at"] = now_iso()
    write_files(ctx.sim, name, {**plugin.pop("_files", {}), **(files or {})})
    return detail(save_plugin(ctx.sim, plugin))


def github_plugin(body: dict, method: str) -> dict:
    owner, repo = parse_github(body.get("repository") or body.get("url"))
    url = f"https://github.com/{owner}/{repo}"
    entry = next((e for e in MARKET if e["repo"].lower() == url.lower()), None)
    if body.get("market_plugin_id"):
        entry = market_entry(body["market_plugin_id"])
    if entry is not None:
        return from_market(entry, method)
    return derived_plugin(plugin_name(repo), owner, url, method)


@operation("installPluginFromGithub")
async def install_from_github(ctx: Ctx):
    if ctx.body.get("download_url"):
        try:
            http_url(ctx.body["download_url"], "download_url")
        except ApiError as exc:  # a download from nowhere finds no archive
            raise ApiError(404, f"No plugin archive at {ctx.body['download_url']!r}") from exc
    plugin = github_plugin(ctx.body, ctx.body.get("install_method") or "github")
    if ctx.body.get("ref"):
        plugin["ref"] = ctx.body["ref"]
    return install(ctx, plugin, ctx.body)


@operation("installPluginFromUrl")
async def install_from_url(ctx: Ctx):
    body = ctx.body
    url = http_url(body["url"], "url")
    download = http_url(body["download_url"], "download_url") if body.get("download_url") \
        else url
    if urlsplit(url).hostname in ("github.com", "www.github.com") and GITHUB_RE.fullmatch(url):
        return install(ctx, github_plugin({**body, "repository": url}, "url"), body)
    stem = PurePosixPath(urlsplit(download).path).name.removesuffix(".zip")
    if not stem:  # a download URL naming no archive finds none
        raise ApiError(404, f"No plugin archive at {download!r}: no file name")
    host = urlsplit(url).hostname
    return install(ctx, derived_plugin(plugin_name(stem), host, url, "url"), body)


def zip_contents(data: bytes) -> dict[str, bytes]:
    """The archive's files by relative path, a single top folder (GitHub archives) removed;
    400 for a broken archive or a member that would land outside its folder."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
        for member in members:
            safe_relative(member.filename, "archive member")
        if sum(m.file_size for m in members) > MAX_UNZIPPED:
            raise ApiError(413, "The archive unpacks to more than 20 MiB")
        files = {m.filename: archive.read(m) for m in members}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            RuntimeError, ValueError, OSError, zlib.error) as exc:  # RuntimeError: encrypted
        raise ApiError(400, f"Invalid ZIP archive: {exc}") from exc
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        files = {name.split("/", 1)[1]: content for name, content in files.items()}
    return files


META_FIELDS = ("name", "display_name", "author", "desc", "version", "repo", "astrbot_version")


def text_of(files: dict, name: str) -> str | None:
    raw = files.get(name)
    try:
        return raw.decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        raise ApiError(400, f"{name} is not UTF-8 text") from None


def uploaded_plugin(files: dict[str, bytes]) -> tuple[dict, dict[str, bytes]]:
    try:
        meta = yaml.safe_load(text_of(files, "metadata.yaml") or "")
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ApiError(400, f"Invalid plugin metadata: {str(exc)[:200]}") from None
    if holds_surrogate(meta):
        raise ApiError(400, "Invalid plugin metadata: a lone surrogate in a string")
    # the kernel's decoder: depth, surrogates, numbers, duplicate keys (kernel/jsonbody.py)
    schema = decode(text_of(files, "_conf_schema.json") or "{}", "_conf_schema.json")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ApiError(400, "The archive has no metadata.yaml with a name")
    nested = [k for k in META_FIELDS if isinstance(meta.get(k), dict | list)]
    if nested:  # a text field given as a structure (a YAML alias could make it huge)
        raise ApiError(400, f"Invalid plugin metadata: {nested[0]} must be text")
    name = str(meta["name"])
    if not NAME_RE.fullmatch(name):
        raise ApiError(400, f"Invalid plugin name in metadata.yaml: {name!r}")
    if not isinstance(schema, dict) or not all(
            isinstance(i, dict) and i.get("type", "string") in CONFIG_TYPES
            for i in schema.values()):
        raise ApiError(400, "Invalid _conf_schema.json: {key: {type, default, ...}} expected")
    check_config(schema, {})
    page_files = {path: content for path, content in files.items()
                  if path.startswith("pages/") and path.count("/") >= 2}
    pages = sorted({path.split("/")[1] for path in page_files
                    if path.split("/", 2)[2] == "index.html"})
    short = name.removeprefix("astrbot_plugin_") or name
    plugin = new_plugin(
        name=name, display_name=str(meta.get("display_name") or short),
        author=str(meta.get("author") or "unknown"), desc=str(meta.get("desc") or ""),
        version=str(meta.get("version") or "v0.0.1"), repo=meta.get("repo") or None,
        online_version=None, astrbot_version=str(meta.get("astrbot_version") or ""),
        install_method="upload", config_schema=schema,
        commands=[command(name, short, f"Main command of {name}")],
        pages=[{"name": p, "title": p.replace("_", " ").title(), "description": ""}
               for p in pages],
        readme=text_of(files, "README.md") or "", changelog=text_of(files, "CHANGELOG.md"))
    return plugin, {path: content for path, content in page_files.items()
                    if path.split("/")[1] in pages}


@operation("installPluginFromUpload")
async def install_from_upload(ctx: Ctx):
    fields = await form_of(ctx)
    upload = fields["file"]
    upload = upload[0] if isinstance(upload, list) else upload
    if not isinstance(upload, FormFile) or not upload.data:
        raise ApiError(400, "Missing plugin file: send the ZIP as the `file` field")
    plugin, files = uploaded_plugin(zip_contents(upload.data))
    flag = fields.get("ignore_version_check")
    ignore = flag if isinstance(flag, bool) else str(flag).lower() in ("true", "1")
    return install(ctx, plugin, {"ignore_version_check": ignore}, files)


@operation("validatePluginRepo")
async def validate_plugin_repo(ctx: Ctx):
    ensure_seeded(ctx.sim)
    raw = ctx.body.get("repository") or ctx.body.get("url")
    try:
        plugin = github_plugin({"repository": raw}, "github")
    except ApiError as exc:  # validating answers the verdict, whatever was named
        return {"valid": False, "repository": raw, "message": exc.message}
    return {"valid": True, "repository": plugin["repo"], "plugin_name": plugin["name"],
            "author": plugin["author"], "version": plugin["version"],
            "astrbot_version": plugin["astrbot_version"],
            "version_supported": satisfies(plugin["astrbot_version"]),
            "market_plugin_id": next((e["id"] for e in MARKET if e["repo"] == plugin["repo"]),
                                     None),
            "installed": ctx.sim.store.get_resource(PLUGIN, plugin["name"]) is not None}


@operation("checkPluginVersionSupport")
async def check_version_support(ctx: Ctx):
    constraint = (ctx.body.get("astrbot_version") or "").strip()
    try:
        supported = satisfies(constraint)
    except ApiError as exc:  # checking answers the verdict, whatever was asked
        return {"supported": False, "constraint": constraint,
                "current_version": ASTRBOT_VERSION, "message": exc.message}
    verdict = "satisfies" if supported else "does not satisfy"
    return {"supported": supported, "constraint": constraint, "current_version": ASTRBOT_VERSION,
            "message": f"AstrBot {ASTRBOT_VERSION} {verdict} {constraint or 'any version'}"}


# updates -----------------------------------------------------------------------------------
def updatable(plugin: dict) -> None:
    if plugin["reserved"]:
        raise ApiError(409, f"Plugin {plugin['name']} is reserved: it updates with AstrBot")
    if not plugin.get("repo"):
        raise ApiError(409, f"Plugin {plugin['name']} was uploaded: no source to update from")


def apply_update(ctx: Ctx, plugin: dict, reinstall: bool) -> dict:
    before = plugin["version"]
    updated = has_update(plugin)
    if updated:
        plugin["version"] = plugin["online_version"]
    if updated or reinstall:
        plugin["updated_at"] = now_iso()
        save_plugin(ctx.sim, plugin)
    return {"plugin_id": plugin["name"], "from_version": before, "to_version": plugin["version"],
            "updated": updated, "reinstalled": reinstall}


@operation("updatePlugin")
async def update_plugin(ctx: Ctx):
    plugin = get_plugin(ctx.sim, ctx.param("plugin_id"))
    updatable(plugin)
    return apply_update(ctx, plugin, bool((ctx.body or {}).get("reinstall")))


@operation("updatePlugins")
async def update_plugins(ctx: Ctx):
    body = ctx.body
    reinstall = bool(body.get("reinstall"))
    if body.get("plugin_id") or body.get("plugin_ids"):
        ids = [body["plugin_id"]] if body.get("plugin_id") else list(dict.fromkeys(
            body["plugin_ids"]))
        targets = [get_plugin(ctx.sim, str(i)) for i in ids]  # all checked before any change
        for plugin in targets:
            updatable(plugin)
    elif body.get("update_all"):
        targets = [p for p in plugins(ctx.sim) if not p["reserved"] and p.get("repo")
                   and (reinstall or has_update(p))]
    else:
        targets = []  # none named: nothing updated
    results = [apply_update(ctx, p, reinstall) for p in targets]
    return {"results": results, "updated": sum(r["updated"] for r in results)}


# failed plugins ----------------------------------------------------------------------------
def failed_view(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "plugin"}


def get_failed(ctx: Ctx) -> dict:
    ensure_seeded(ctx.sim)
    name = ctx.param("plugin_id")
    found = ctx.sim.store.get_resource(FAILED, name)
    if found is None:
        raise ApiError(404, f"Failed plugin {name} not found")
    return found


@operation("listFailedPlugins")
async def list_failed_plugins(ctx: Ctx):
    ensure_seeded(ctx.sim)
    return [failed_view(r) for r in ctx.sim.store.list_resources(FAILED)]


@operation("uninstallFailedPlugin")
async def uninstall_failed_plugin(ctx: Ctx):
    record = get_failed(ctx)
    ctx.sim.store.delete_resource(FAILED, record["name"])
    return forget(ctx.sim, record["name"], ctx.body)


@operation("reloadFailedPlugin")
async def reload_failed_plugin(ctx: Ctx):
    record = get_failed(ctx)
    ctx.sim.store.delete_resource(FAILED, record["name"])
    return install(ctx, new_plugin(**copy.deepcopy(record["plugin"])),
                   {"ignore_version_check": True})


# marketplace -------------------------------------------------------------------------------
SORTS = {"recommended": (lambda e: e["rank"], False), "downloads": (lambda e: e["downloads"], True),
         "updated": (lambda e: e["updated_at"], True), "name": (lambda e: e["name"], False)}


@operation("listPluginMarket")
async def list_plugin_market(ctx: Ctx):
    q = ctx.query
    try:
        registry = http_url(q["custom_registry"], "custom_registry") \
            if q.get("custom_registry") else None
    except ApiError as exc:  # the document types it as any string: a registry found nowhere
        raise ApiError(404, f"No plugin registry at {q['custom_registry']!r}") from exc
    installed = {p["name"]: p for p in plugins(ctx.sim)}
    entries = sorted(MARKET, key=lambda e: e["name"])
    if q.get("category"):
        entries = [e for e in entries if e["category"] == q["category"]]
    keyword = (q.get("keyword") or "").strip().lower()
    if keyword:
        entries = [e for e in entries if keyword in " ".join(
            [e["name"], e["display_name"], e["desc"], e["author"], *e["tags"]]).lower()]
    key, reverse = SORTS[q.get("sort") or "recommended"]
    entries = sorted(entries, key=key, reverse=reverse)
    page, size = q["page"], q["page_size"]
    items = [{**{k: v for k, v in e.items() if k not in ("rank", "commands")},
              "installed": e["name"] in installed,
              "installed_version": installed[e["name"]]["version"]
              if e["name"] in installed else None}
             for e in entries[(page - 1) * size: page * size]]
    return {"items": items, "total": len(entries), "page": page, "page_size": size,
            "registry": registry or "default"}


@operation("listPluginMarketCategories")
async def list_market_categories(ctx: Ctx):
    counts: dict[str, int] = {}
    for entry in MARKET:
        counts[entry["category"]] = counts.get(entry["category"], 0) + 1
    return {"categories": [{"id": c, "name": c.title(), "count": n}
                           for c, n in sorted(counts.items())]}


ASTRBOT_VERSION = "4.26.2"


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
