"""Seed 004 tag Logs: the simulator's event log (domain/event_log.py) as history and as SSE
(`/logs/live`: history first, after `Last-Event-ID` when sent, then new records, a
`: heartbeat` comment after each silent second; it ends when the client goes away), and the
trace settings (a settings document; PUT merges into it)."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from ..kernel.router import Ctx, Operations

operation = Operations()
TRACE_DEFAULTS = {"enabled": False, "level": "INFO"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
HEARTBEAT_SECONDS = 1.0


# -- logs ----------------------------------------------------------------------------------------
@operation("getLogHistory")
async def get_log_history(ctx: Ctx):
    return {"logs": list(ctx.sim.events.entries)}


def _sse(entry: dict) -> bytes:
    return f"id: {entry['seq']}\ndata: {json.dumps(entry, ensure_ascii=False)}\n\n".encode()


@operation("streamLiveLogs")
async def stream_live_logs(ctx: Ctx):
    try:
        after = int(ctx.request.headers.get("Last-Event-ID", "0"))
    except ValueError:
        after = 0
    queue: asyncio.Queue = asyncio.Queue(maxsize=ctx.sim.events.size)
    subscriber = (asyncio.get_running_loop(), queue)
    # subscribed before copying the history: nothing falls in between
    ctx.sim.events.subscribers.add(subscriber)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    try:
        await response.prepare(ctx.request)
        last = after
        for entry in list(ctx.sim.events.entries):
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
        ctx.sim.events.subscribers.discard(subscriber)
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
    ctx.sim.events.event(logging.INFO, "trace settings updated: enabled=%s level=%s",
                         settings["enabled"], settings["level"])
    return settings
