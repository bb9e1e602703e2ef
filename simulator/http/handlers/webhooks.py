"""Seed 004 tag Webhooks (public): a bot's webhook uuid is `config.webhook_uuid` (or a
top-level `webhook_uuid`). Verify answers the platform's challenge (`echostr`, `hub.challenge`
as text, `challenge` as JSON) or a JSON acknowledgement; receive records the event (store kind
`webhook event`, the last WEBHOOK_EVENTS_KEPT kept). Unknown uuid -> 404, disabled bot -> 409."""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid

from aiohttp import web

from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
WEBHOOK_EVENTS_KEPT = 200
WEBHOOK_INLINE_BYTES = 64 * 1024


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
    ctx.sim.events.event(logging.INFO, "webhook event %s for bot %s", record["event_id"],
                         bot.get("id"))
    if isinstance(ctx.body, dict) and ctx.body.get("challenge") and \
            ctx.body.get("type") == "url_verification":
        return web.json_response({"challenge": ctx.body["challenge"]})
    return {"event_id": record["event_id"], "accepted": True}
