"""Seed 004 tag Stats: counts from the store (read-only SQL on the SQLite file), token usage
per UTC day (every chat is answered by the built-in deterministic LLM: provider `simulator`),
versions, start time, first notice, changelogs, the ghproxy test, storage status and cleanup
(only `temp/` and `cache/`, never following symlinks) and a simulated restart."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from ..domain.system import RELEASES, find_release, http_url, installed_versions, simulated_restart
from ..kernel import tasks
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
FIRST_NOTICE = {
    "en-US": "# Welcome to AstrBot\n\nThis is the AstrBot simulator: every answer comes from "
             "a deterministic local model, and nothing leaves this machine.\n",
    "zh-CN": "# 欢迎使用 AstrBot\n\n这是 AstrBot 模拟器：所有回复都来自本地确定性模型，"
             "不会访问网络。\n",
}


CLEANABLE = ("temp", "cache")
MAX_OFFSET_SEC = 10 * 366 * 86400
MAX_DAYS = 366


def _rows(store, sql: str, args: tuple = ()) -> list[tuple]:
    """A read-only query on the store's SQLite file (the store has no counting helpers)."""
    con = sqlite3.connect(store.path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# -- start time (per simulator; a simulated restart resets it) -------------------------------
def start_time(sim) -> float:
    return sim.started_at


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
    ctx.sim.events.event(logging.INFO, "ghproxy test %s: %s", url,
                         "ok" if reachable else "unreachable")
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
    ctx.sim.events.event(logging.INFO, "storage cleanup: %d files, %d bytes freed", removed, freed)
    return {"targets": list(dict.fromkeys(targets)), "removed_files": removed,
            "freed_bytes": freed}


@operation("restartCore")
async def restart_core(ctx: Ctx):
    started = simulated_restart(ctx.sim)
    return tasks.start(ctx.sim.store, "restart", 1,
                       result={"restarted": True, "start_time": int(started)})
