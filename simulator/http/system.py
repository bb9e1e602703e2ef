"""System families of seed 004: Stats, Updates, Logs, Webhooks (Backups: see backups.py).

Rules chosen where the spec is silent (status codes follow envelope.py: 400 invalid input,
404 unknown resource, 409 wrong state; invalid input changes nothing):

- Stats derive from the store: message/session counts (read-only SQL on the SQLite file),
  bots, providers, personas (resources). Token usage: every chat in the simulator is answered
  by the built-in deterministic LLM, so tokens (whitespace words of plain parts; user = input,
  assistant = output) are counted for provider `simulator`, per UTC day over `days` (1..366);
  configured providers are listed with zero usage. `offset_sec` must be 0..10 years.
- Versions: AstrBot 4.26.2 (the research baseline) until a simulated update completes; the
  installed core/dashboard versions live in settings. Releases and changelogs are one fixed
  catalogue (RELEASES). Start time is the simulator's start, reset by a simulated restart.
- Storage status: the sizes of the entries of data_dir; cleanup only empties `temp/` and
  `cache/` (body `{"targets": [...]}` picks among them), never follows symlinks.
- Restart, core/dashboard update, pip install and the ghproxy test touch nothing: each records
  a deterministic task (tasks.py) that `GET /updates/progress/{task_id}` advances. A completed
  update sets the installed version (and the start time when `reboot`, default true); a
  restart resets the start time at once. `progress_id` names the task when given (409 if
  taken). Proxy and mirror URLs must be http(s); a `.invalid` host is unreachable (RFC 2606).
- Logs: one process-wide ring of the last RING_SIZE records of the `astrbot_sim` loggers plus
  the events of these families. `/logs/live` is SSE: history first (after `Last-Event-ID`
  when sent), then new records, a `: heartbeat` comment after each silent second; it ends
  when the client goes away. Trace settings are a settings document; PUT merges into it.
- Webhooks (public): a bot's webhook uuid is `config.webhook_uuid` (or a top-level
  `webhook_uuid`). Verify answers the platform's challenge (`echostr`, `hub.challenge` as
  text, `challenge` as JSON) or a JSON acknowledgement; receive records the event (store kind
  `webhook event`, the last WEBHOOK_EVENTS_KEPT kept) and answers a `url_verification`
  challenge in kind. Unknown uuid -> 404, disabled bot -> 409.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import shutil
import sqlite3
import time
import uuid
import weakref
from collections import deque
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web

from .. import __version__ as SIMULATOR_VERSION
from ..history import now_iso
from . import tasks
from .envelope import ApiError
from .router import Ctx, operation

log = logging.getLogger("astrbot_sim.system")

CORE_VERSION = "4.26.2"  # the research baseline (astrbot-4.26.2-behavior.md)
# (version, published_at, notes), newest first: the fixed release and changelog catalogue
RELEASES = (
    ("4.27.0", "2026-08-20T12:00:00+00:00",
     "- Live chat: interruption handling reworked\n- Backups: chunked upload resumable\n"
     "- Dashboard: provider token statistics per day"),
    ("4.26.2", "2026-06-28T09:00:00+00:00",
     "- Open API: chat SSE keeps partial replies on disconnect\n- Fix API-key scope checks"),
    ("4.26.1", "2026-06-21T09:00:00+00:00",
     "- FastAPI dashboard: fix cookie login\n- Backups: manifest validation on import"),
    ("4.26.0", "2026-06-14T09:00:00+00:00",
     "- Dashboard moves from Quart to FastAPI and Hypercorn\n- New v1 API with API keys"),
    ("4.25.3", "2026-05-30T09:00:00+00:00", "- Bug fixes"),
)
FIRST_NOTICE = {
    "en-US": "# Welcome to AstrBot\n\nThis is the AstrBot simulator: every answer comes from "
             "a deterministic local model, and nothing leaves this machine.\n",
    "zh-CN": "# 欢迎使用 AstrBot\n\n这是 AstrBot 模拟器：所有回复都来自本地确定性模型，"
             "不会访问网络。\n",
}
CLEANABLE = ("temp", "cache")
TRACE_DEFAULTS = {"enabled": False, "level": "INFO"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RING_SIZE = 500
HEARTBEAT_SECONDS = 1.0
WEBHOOK_EVENTS_KEPT = 200
WEBHOOK_INLINE_BYTES = 64 * 1024
MAX_OFFSET_SEC = 10 * 366 * 86400
MAX_DAYS = 366
UPDATE_KINDS = ("update_core", "update_dashboard", "pip_install", "restart", "ghproxy_test")
PIP_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\[[A-Za-z0-9._,-]+\])?"
    r"(?P<spec>(?:\s*(?:===|==|>=|<=|~=|!=|>|<)\s*[A-Za-z0-9.*+!_-]+"
    r"(?:\s*,\s*(?:===|==|>=|<=|~=|!=|>|<)\s*[A-Za-z0-9.*+!_-]+)*)?)$")


# -- shared helpers (backups.py uses them too) -------------------------------------------------
def installed_versions(store) -> dict:
    return {"version": store.setting("core_version") or CORE_VERSION,
            "dashboard_version": store.setting("dashboard_version") or CORE_VERSION,
            "simulator_version": SIMULATOR_VERSION}


def read_task(store, task_id: str, kinds: tuple[str, ...]) -> tuple[dict, bool]:
    """Advance a task of one of `kinds` (404 otherwise); True when this read completed it."""
    before = store.get_resource(tasks.KIND, task_id)
    advanced = tasks.advance(store, task_id, kinds)
    return advanced, before["status"] != "completed" and advanced["status"] == "completed"


def http_url(raw: str, what: str) -> str:
    try:
        parts = urlsplit(raw.strip())
        host = parts.hostname if parts.port is None or parts.port > 0 else None
    except ValueError:  # a malformed host or a port out of range
        host = None
    if host is None or parts.scheme not in ("http", "https") or " " in raw.strip():
        raise ApiError(400, f"Invalid {what}: {raw!r} is not an http(s) URL")
    return raw.strip()


def reachable(raw: str, what: str) -> str:
    """A proxy or mirror address: the document types it as any string, so one that is no
    http(s) URL is not invalid input but reaches nothing (404)."""
    try:
        return http_url(raw, what)
    except ApiError as exc:
        raise ApiError(404, f"Nothing reachable at {what} {raw!r}: not an http(s) URL") \
            from exc


def _rows(store, sql: str, args: tuple = ()) -> list[tuple]:
    """A read-only query on the store's SQLite file (the store has no counting helpers)."""
    con = sqlite3.connect(store.path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# -- start time (per simulator; a simulated restart resets it) -------------------------------
_STARTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def start_time(sim) -> float:
    if sim not in _STARTED:
        _STARTED[sim] = getattr(sim, "started_at", None) or time.time()
    return _STARTED[sim]


def simulated_restart(sim) -> float:
    _STARTED[sim] = time.time()
    event(logging.WARNING, "AstrBot core restarted (simulated)")
    return _STARTED[sim]


# -- stats ---------------------------------------------------------------------------------------
def _iso_ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


@operation("getStats")
async def get_stats(ctx: Ctx):
    # the document bounds neither side: a window before the epoch or beyond it is clamped
    offset = min(max(ctx.query.get("offset_sec", 86400), 0), MAX_OFFSET_SEC)
    store, since = ctx.sim.store, _iso_ago(offset)
    series: dict[int, int] = {}
    for (created,) in _rows(store, "SELECT created_at FROM messages WHERE created_at >= ?",
                            (since,)):
        hour = int(_epoch(created)) // 3600 * 3600
        series[hour] = series.get(hour, 0) + 1
    platforms = _rows(store, "SELECT s.platform_id, COUNT(*) FROM messages m JOIN chat_sessions "
                             "s USING (session_id) WHERE m.created_at >= ? GROUP BY "
                             "s.platform_id ORDER BY s.platform_id", (since,))
    bots = store.list_resources("bot")
    started = start_time(ctx.sim)
    return {
        "message_count": _rows(store, "SELECT COUNT(*) FROM messages")[0][0],
        "message_count_in_window": sum(series.values()),
        "session_count": _rows(store, "SELECT COUNT(*) FROM chat_sessions")[0][0],
        "bot_count": len(bots), "platform_count": len(bots),
        "provider_count": len(store.list_resources("provider")),
        "persona_count": len(store.list_resources("persona")),
        "offset_sec": offset,
        "message_time_series": [[hour, count] for hour, count in sorted(series.items())],
        "platform": [{"name": name, "count": count} for name, count in platforms],
        "start_time": int(started), "uptime_seconds": int(time.time() - started),
        **installed_versions(store),
    }


def _tokens(content: str) -> int:
    try:
        parts = json.loads(content)
    except ValueError:
        return 0
    if not isinstance(parts, list):
        return 0
    text = " ".join(p.get("text") or "" for p in parts
                    if isinstance(p, dict) and p.get("type") == "plain")
    return len(text.split())


@operation("getProviderTokenStats")
async def get_provider_token_stats(ctx: Ctx):
    days = min(ctx.query.get("days", 7), MAX_DAYS)  # minimum 1 is the document's; no maximum
    today = datetime.now(UTC).date()
    dates = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    daily = {d: {"date": d, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
             for d in dates}
    requests = 0
    for role, content, created in _rows(
            ctx.sim.store, "SELECT role, content, created_at FROM messages WHERE created_at >= ?"
            " AND role IN ('user', 'assistant') ORDER BY id", (dates[0],)):
        day = created[:10]
        if day not in daily:
            continue
        count = _tokens(content)
        daily[day]["input_tokens" if role == "user" else "output_tokens"] += count
        daily[day]["total_tokens"] += count
        requests += role == "assistant"
    rows = list(daily.values())
    total = {k: sum(r[k] for r in rows) for k in ("input_tokens", "output_tokens",
                                                  "total_tokens")}
    providers = [{"provider_id": "simulator", "source": "builtin", **total,
                  "requests": requests, "daily": rows}]
    for provider in ctx.sim.store.list_resources("provider"):
        zero = [{"date": d, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
                for d in dates]
        providers.append({"provider_id": provider.get("id"), "source": "configured",
                          "input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                          "requests": 0, "daily": zero})
    return {"days": days, "since": dates[0], "providers": providers,
            "total": {**total, "requests": requests}}


@operation("getVersion")
async def get_version(ctx: Ctx):
    return installed_versions(ctx.sim.store)


@operation("getPublicVersions")
async def get_public_versions(ctx: Ctx):
    versions = installed_versions(ctx.sim.store)
    return {"version": versions["version"], "dashboard_version": versions["dashboard_version"]}


@operation("getStartTime")
async def get_start_time(ctx: Ctx):
    started = start_time(ctx.sim)
    return {"start_time": int(started),
            "started_at": datetime.fromtimestamp(started, UTC).isoformat()}


@operation("getFirstNotice")
async def get_first_notice(ctx: Ctx):
    requested = str(ctx.query.get("locale") or "en-US")
    locale = "zh-CN" if requested.lower().startswith("zh") else "en-US"
    return {"locale": locale, "content": FIRST_NOTICE[locale]}


def _release(version: str, published: str, notes: str, kind: str = "core") -> dict:
    name = "AstrBot" if kind == "core" else "AstrBot Dashboard"
    return {"type": kind, "version": version, "tag_name": f"v{version}",
            "name": f"{name} v{version}", "published_at": published, "prerelease": False,
            "body": notes, "html_url":
                f"https://github.com/AstrBotDevs/AstrBot/releases/tag/v{version}"}


def find_release(raw: str | None) -> tuple[str, str, str]:
    """The catalogue entry for `raw` (with or without a leading v; empty/latest = newest)."""
    wanted = (raw or "").strip().removeprefix("v")
    if wanted in ("", "latest"):
        return RELEASES[0]
    for entry in RELEASES:
        if entry[0] == wanted:
            return entry
    raise ApiError(404, f"Version {raw} not found")


@operation("listChangelogVersions")
async def list_changelog_versions(ctx: Ctx):
    return {"versions": [v for v, _, _ in RELEASES]}


@operation("getChangelog")
async def get_changelog(ctx: Ctx):
    version, published, notes = find_release(ctx.param("version"))
    return {"version": version, "published_at": published,
            "content": f"# AstrBot v{version}\n\n_Simulated changelog (fixed catalogue of the "
                       f"simulator)._\n\n{notes}\n"}


@operation("testGhproxyConnection")
async def test_ghproxy(ctx: Ctx):
    blank = not ctx.body["proxy_url"].strip()  # no proxy: nothing to reach
    url = "" if blank else http_url(ctx.body["proxy_url"], "proxy_url")
    host = urlsplit(url).hostname or ""
    reachable = not (blank or host == "invalid" or host.endswith(".invalid"))
    latency = 40 + int(hashlib.sha256(url.encode()).hexdigest(), 16) % 400
    result = {"proxy_url": url, "reachable": reachable,
              "latency_ms": latency if reachable else None,
              "error": None if reachable else f"cannot connect to {host} (simulated)"}
    task = tasks.start(ctx.sim.store, "ghproxy_test", 1, result=result, proxy_url=url)
    event(logging.INFO, "ghproxy test %s: %s", url, "ok" if reachable else "unreachable")
    return {**result, "task_id": task["task_id"]}


# -- storage -------------------------------------------------------------------------------------
def _usage(path) -> tuple[int, int]:
    """(bytes, files) under path, without following symlinks."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size, 1
    size = files = 0
    for child in path.rglob("*"):
        with contextlib.suppress(OSError):
            if child.is_symlink() or child.is_file():
                size, files = size + child.lstat().st_size, files + 1
    return size, files


@operation("getStorageStatus")
async def get_storage_status(ctx: Ctx):
    root = ctx.sim.config.data_dir
    db_names = {ctx.sim.store.path.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    db_size = sum(_usage(root / n)[0] for n in db_names if (root / n).exists())
    items = [{"name": "database", "kind": "database", "size_bytes": db_size,
              "file_count": sum((root / n).exists() for n in db_names), "cleanable": False}]
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name in db_names:
            continue
        size, files = _usage(entry)
        items.append({"name": entry.name, "kind": "folder" if entry.is_dir() else "file",
                      "size_bytes": size, "file_count": files,
                      "cleanable": entry.name in CLEANABLE})
    return {"data_dir": str(root.resolve()), "total_bytes": sum(i["size_bytes"] for i in items),
            "items": items}


@operation("cleanupStorage")
async def cleanup_storage(ctx: Ctx):
    targets = (ctx.body or {}).get("targets", list(CLEANABLE))
    if not isinstance(targets, list) or not all(t in CLEANABLE for t in targets):
        raise ApiError(400, f"targets must be a list of {', '.join(CLEANABLE)}")
    removed = freed = 0
    for name in dict.fromkeys(targets):
        folder = ctx.sim.config.data_dir / name
        if folder.is_symlink() or not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            size, files = _usage(child)
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            removed, freed = removed + files, freed + size
    event(logging.INFO, "storage cleanup: %d files, %d bytes freed", removed, freed)
    return {"targets": list(dict.fromkeys(targets)), "removed_files": removed,
            "freed_bytes": freed}


@operation("restartCore")
async def restart_core(ctx: Ctx):
    started = simulated_restart(ctx.sim)
    return tasks.start(ctx.sim.store, "restart", 1,
                       result={"restarted": True, "start_time": int(started)})


# -- updates -------------------------------------------------------------------------------------
def _newer(a: str, b: str) -> bool:
    def key(v: str):
        return tuple(int(x) if x.isdigit() else 0 for x in v.split("."))
    return key(a) > key(b)


@operation("checkUpdate")
async def check_update(ctx: Ctx):
    current = installed_versions(ctx.sim.store)
    latest, published, notes = RELEASES[0]
    return {**current, "latest_version": latest,
            "has_new_version": _newer(latest, current["version"]),
            "dashboard_has_new_version": _newer(latest, current["dashboard_version"]),
            "release": _release(latest, published, notes)}


@operation("listReleases")
async def list_releases(ctx: Ctx):
    kinds = [ctx.query["type"]] if ctx.query.get("type") else ["core", "dashboard"]
    return [_release(*entry, kind=kind) for kind in kinds for entry in RELEASES]


async def _update(ctx: Ctx, kind: str):
    body = ctx.body or {}
    version = find_release(body.get("version"))[0]
    if body.get("proxy"):
        reachable(body["proxy"], "proxy")
    reboot = body.get("reboot", True)
    task = tasks.start(ctx.sim.store, f"update_{kind}", 3,
                       result={"type": kind, "version": version, "reboot": reboot},
                       task_id=body.get("progress_id") or None, version=version)
    event(logging.INFO, "%s update to v%s started (simulated)", kind, version)
    return task


@operation("updateCore")
async def update_core(ctx: Ctx):
    return await _update(ctx, "core")


@operation("updateDashboard")
async def update_dashboard(ctx: Ctx):
    return await _update(ctx, "dashboard")


@operation("installPipPackage")
async def install_pip_package(ctx: Ctx):
    package = ctx.body["package"].strip()
    match = PIP_REQUIREMENT.match(package)
    if match is None and not re.search(r"[ \t\n\r;|&$`<>]|^-", package):
        # not a name any index has (options and shell syntax stay refused below)
        raise ApiError(404, f"No matching distribution found for {package!r}")
    if match is None:
        raise ApiError(400, f"Invalid package requirement: {ctx.body['package']!r}")
    if ctx.body.get("mirror"):
        reachable(ctx.body["mirror"], "mirror")
    pinned = re.fullmatch(r"\s*===?\s*(\S+)", match["spec"] or "")
    name = re.sub(r"[-_.]+", "-", match["name"]).lower()
    result = {"package": ctx.body["package"].strip(), "name": name, "installed": True,
              "version": pinned[1] if pinned else None}
    event(logging.INFO, "pip install %s (simulated)", result["package"])
    return tasks.start(ctx.sim.store, "pip_install", 3, result=result, package=result["package"])


@operation("getUpdateProgress")
async def get_update_progress(ctx: Ctx):
    task, finished = read_task(ctx.sim.store, ctx.param("task_id"), UPDATE_KINDS)
    if finished and task["type"] in ("update_core", "update_dashboard"):
        result = task["result"]
        ctx.sim.store.set_setting(f"{result['type']}_version", result["version"])
        event(logging.INFO, "%s updated to v%s", result["type"], result["version"])
        if result["reboot"]:
            simulated_restart(ctx.sim)
    return task


# -- logs ----------------------------------------------------------------------------------------
class LogRing(logging.Handler):
    """The last RING_SIZE records as SSE-ready dicts, fanned out to live subscribers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] [%(name)s]: "
                                            "%(message)s"))
        self.entries: deque[dict] = deque(maxlen=RING_SIZE)
        self.subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self.seq = 0

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "ring_seen", False):
            return
        try:
            self.seq += 1
            entry = {"seq": self.seq, "type": "log", "level": record.levelname,
                     "time": round(record.created, 3), "logger": record.name,
                     "data": self.format(record)}
            self.entries.append(entry)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            for loop, queue in list(self.subscribers):
                if loop is running:
                    _offer(queue, entry)
                elif not loop.is_closed():
                    loop.call_soon_threadsafe(_offer, queue, entry)
        except Exception:  # a log handler never raises
            self.handleError(record)


def _offer(queue: asyncio.Queue, entry: dict) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled reader loses entries, not memory
        queue.put_nowait(entry)


RING = LogRing()
logging.getLogger("astrbot_sim").addHandler(RING)


def event(level: int, msg: str, *args) -> None:
    """Log an event of these families: always into the ring, to the console as configured."""
    record = log.makeRecord(log.name, level, __file__, 0, msg, args, None)
    RING.handle(record)
    if log.isEnabledFor(level):
        record.ring_seen = True
        log.handle(record)


@operation("getLogHistory")
async def get_log_history(ctx: Ctx):
    return {"logs": list(RING.entries)}


def _sse(entry: dict) -> bytes:
    return f"id: {entry['seq']}\ndata: {json.dumps(entry, ensure_ascii=False)}\n\n".encode()


@operation("streamLiveLogs")
async def stream_live_logs(ctx: Ctx):
    try:
        after = int(ctx.request.headers.get("Last-Event-ID", "0"))
    except ValueError:
        after = 0
    queue: asyncio.Queue = asyncio.Queue(maxsize=RING_SIZE)
    subscriber = (asyncio.get_running_loop(), queue)
    RING.subscribers.add(subscriber)  # before copying the history: nothing falls in between
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    try:
        await response.prepare(ctx.request)
        last = after
        for entry in list(RING.entries):
            if entry["seq"] > last:
                await response.write(_sse(entry))
                last = entry["seq"]
        await response.write(b": connected\n\n")
        while ctx.request.transport is not None and not ctx.request.transport.is_closing():
            try:
                entry = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if entry["seq"] > last:
                await response.write(_sse(entry))
                last = entry["seq"]
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away: end quietly
    finally:
        RING.subscribers.discard(subscriber)
    return response


@operation("getTraceSettings")
async def get_trace_settings(ctx: Ctx):
    stored = ctx.sim.store.setting("trace_settings")
    return {**TRACE_DEFAULTS, **(json.loads(stored) if stored else {})}


@operation("updateTraceSettings")
async def update_trace_settings(ctx: Ctx):
    body = dict(ctx.body)
    if isinstance(body.get("level"), str) and body["level"].upper() in LOG_LEVELS:
        body["level"] = body["level"].upper()  # any string is the document's; known ones tidied
    settings = {**(await get_trace_settings(ctx)), **body}
    ctx.sim.store.set_setting("trace_settings", json.dumps(settings, ensure_ascii=False))
    event(logging.INFO, "trace settings updated: enabled=%s level=%s", settings["enabled"],
          settings["level"])
    return settings


# -- webhooks ------------------------------------------------------------------------------------
def _webhook_bot(ctx: Ctx) -> dict:
    wanted = ctx.param("webhook_uuid")
    for bot in ctx.sim.store.list_resources("bot"):
        config = bot.get("config") if isinstance(bot.get("config"), dict) else {}
        if wanted in (bot.get("webhook_uuid"), config.get("webhook_uuid")):
            if bot.get("enabled", bot.get("enable", True)) is False:
                raise ApiError(409, f"Bot {bot.get('id')} is disabled")
            return bot
    raise ApiError(404, f"No bot with webhook uuid {wanted}")


@operation("verifyPlatformWebhook")
async def verify_platform_webhook(ctx: Ctx):
    bot = _webhook_bot(ctx)
    query = ctx.request.query
    for text_key in ("echostr", "hub.challenge"):
        if query.get(text_key):
            return web.Response(text=query[text_key], content_type="text/plain")
    if query.get("challenge"):
        return web.json_response({"challenge": query["challenge"]})
    return {"verified": True, "webhook_uuid": ctx.param("webhook_uuid"), "bot_id": bot.get("id"),
            "platform": bot.get("type")}


@operation("receivePlatformWebhook")
async def receive_platform_webhook(ctx: Ctx):
    bot = _webhook_bot(ctx)
    record = {"event_id": uuid.uuid4().hex, "webhook_uuid": ctx.param("webhook_uuid"),
              "bot_id": bot.get("id"), "platform": bot.get("type"),
              "content_type": ctx.request.content_type, "received_at": now_iso()}
    if isinstance(ctx.body, dict):
        record["body"] = ctx.body
    else:
        raw = await ctx.request.read()
        record.update(body_size=len(raw), body_sha256=hashlib.sha256(raw).hexdigest())
        if len(raw) <= WEBHOOK_INLINE_BYTES:
            record["body_base64"] = base64.b64encode(raw).decode()
    store = ctx.sim.store
    store.put_resource("webhook event", record["event_id"], record, record["received_at"])
    kept = store.list_resources("webhook event")
    for old in kept[:max(0, len(kept) - WEBHOOK_EVENTS_KEPT)]:
        store.delete_resource("webhook event", old["event_id"])
    event(logging.INFO, "webhook event %s for bot %s", record["event_id"], bot.get("id"))
    if isinstance(ctx.body, dict) and ctx.body.get("challenge") and \
            ctx.body.get("type") == "url_verification":
        return web.json_response({"challenge": ctx.body["challenge"]})
    return {"event_id": record["event_id"], "accepted": True}


from . import backups  # noqa: E402, F401  (registers the Backups handlers)
