"""Seed 004 tag Bots: the bot collection (CRUD from domain/resources.py), bot types, a bot-type
registration (confirmed on its second poll, creating the bot with derived credentials), bot
stats and a simulated connection test (missing credentials or unknown types fail with HTTP 200
and `ok: false`; the latency is a fixed function of the id)."""

from __future__ import annotations

import copy
import uuid

from ..domain.catalogue import BOT_TYPES, BOT_TYPES_BY_NAME
from ..domain.configuration import as_dict, digest, latency_ms
from ..domain.resources import BOT_STATS, BOTS
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(BOTS, {
    "listBots": "list", "createBot": "create", "getBot": "get", "getBotById": "get",
    "updateBot": "replace", "updateBotById": "replace_config", "deleteBot": "delete",
    "deleteBotById": "delete", "setBotEnabled": "set_enabled", "setBotEnabledById": "set_enabled"})


REGISTRATIONS = "bot registration"
REGISTRATION_POLLS = 2  # a registration is confirmed on its second poll


# -- bots ------------------------------------------------------------------------------------
@operation("listBotTypes")
async def list_bot_types(ctx: Ctx):
    return {"bot_types": copy.deepcopy(BOT_TYPES)}


def registration_view(rec: dict) -> dict:
    code = rec["device_code"]
    view = {"device_code": code, "registration_code": f"{code[:4]}-{code[4:8]}".upper(),
            "bot_type": rec["bot_type"], "status": rec["status"], "interval": 1,
            "expires_in": 600, "bot_id": rec.get("bot_id")}
    if BOT_TYPES_BY_NAME[rec["bot_type"]]["registration"] == "qrcode":
        view["qrcode"] = f"https://sim.astrbot.invalid/register/{rec['bot_type']}/{code}"
    if rec.get("error"):
        view["error"] = rec["error"]
    return view


def find_registration(ctx: Ctx, bot_type: str) -> dict:
    body = ctx.body
    code = body.get("device_code") or body.get("registration_code") or body.get("qrcode")
    if not isinstance(code, str) or not code:
        raise ApiError(400, "Missing key: device_code")
    found = ctx.sim.store.get_resource(REGISTRATIONS, code)
    if found is None:  # the short registration code or the QR code link names it too
        found = next((r for r in ctx.sim.store.list_resources(REGISTRATIONS)
                      if code in (registration_view(r)["registration_code"],
                                  registration_view(r).get("qrcode"))), None)
    if found is None or found["bot_type"] != bot_type:
        raise ApiError(404, f"Registration {code} not found")
    return found


def registered_bot(rec: dict) -> dict:
    """The bot a confirmed registration creates: type defaults, the client's platform
    config, and credentials derived from the device code for required fields left empty."""
    spec = BOT_TYPES_BY_NAME[rec["bot_type"]]
    given = dict(rec["platform_config"])
    config = {**spec["default_config"], **{k: v for k, v in given.items()
                                           if k not in ("id", "name", "type")}}
    for field in spec["config_schema"]["required"]:
        if config.get(field) in ("", None):
            config[field] = f"sim-{field}-{digest(rec['device_code'], field)[:12]}"
    return {"id": rec["bot_id"], "type": rec["bot_type"],
            "name": given.get("name") if isinstance(given.get("name"), str) else spec["name"],
            "enabled": True, "config": config}


@operation("registerBotType")
async def register_bot_type(ctx: Ctx):
    store, bot_type = ctx.sim.store, ctx.param("bot_type")
    spec = BOT_TYPES_BY_NAME.get(bot_type)
    if spec is None:
        raise ApiError(404, f"Unknown bot type: {bot_type}")
    if spec["registration"] is None:
        raise ApiError(400, f"Bot type {bot_type} has no registration flow")
    if ctx.body["action"] == "start":
        platform = as_dict(ctx.body.get("platform_config"))
        code = uuid.uuid4().hex
        bot_id = platform.get("id")
        if bot_id is not None and (not isinstance(bot_id, str) or not bot_id.strip()):
            raise ApiError(400, "platform_config.id must be a non-empty string")
        bot_id = bot_id or f"{bot_type}-{code[:8]}"
        if store.get_resource(BOTS.kind, bot_id) is not None:
            raise ApiError(409, f"bot {bot_id} already exists")
        rec = {"device_code": code, "bot_type": bot_type, "status": "pending", "polls": 0,
               "platform_config": platform, "bot_id": bot_id, "created_at": now_iso()}
        store.put_resource(REGISTRATIONS, code, rec, rec["created_at"])
        return registration_view(rec)
    rec = find_registration(ctx, bot_type)
    if rec["status"] == "pending":
        rec["polls"] += 1
        if rec["polls"] >= REGISTRATION_POLLS:
            if store.get_resource(BOTS.kind, rec["bot_id"]) is not None:
                rec["status"], rec["error"] = "failed", f"bot {rec['bot_id']} already exists"
            else:
                rec["status"] = "confirmed"
                store.put_resource(BOTS.kind, rec["bot_id"], registered_bot(rec), now_iso())
        store.put_resource(REGISTRATIONS, rec["device_code"], rec, rec["created_at"])
    view = registration_view(rec)
    if rec["status"] == "confirmed":
        view["bot"] = store.get_resource(BOTS.kind, rec["bot_id"])
    return view


def bot_status(bot: dict, stats: dict) -> str:
    if not BOTS.value(bot, "enabled"):
        return "stopped"
    return "error" if stats.get("last_test_ok") is False else "running"


@operation("listBotStats")
async def list_bot_stats(ctx: Ctx):
    rows = []
    for bot in ctx.sim.store.list_resources(BOTS.kind):
        stats = ctx.sim.store.get_resource(BOT_STATS, bot["id"]) or {}
        rows.append({"id": bot["id"], "type": bot.get("type"), "name": bot.get("name"),
                     "enabled": BOTS.value(bot, "enabled"), "status": bot_status(bot, stats),
                     "test_count": stats.get("test_count", 0),
                     "error_count": stats.get("error_count", 0),
                     "last_test_at": stats.get("last_test_at"),
                     "last_test_ok": stats.get("last_test_ok"),
                     "last_error": stats.get("last_error")})
    summary = {"total": len(rows)}
    for status in ("running", "stopped", "error"):
        summary[status] = sum(row["status"] == status for row in rows)
    return {"bots": rows, "summary": summary}


def bot_test_result(bot: dict) -> dict:
    spec = BOT_TYPES_BY_NAME.get(bot.get("type"))
    result = {"bot_id": bot["id"], "type": bot.get("type"), "missing_fields": []}
    if spec is None:
        return {**result, "ok": False, "status": "failed", "latency_ms": None,
                "message": f"Unknown bot type: {bot.get('type')}"}
    config = {**spec["default_config"], **as_dict(bot.get("config"))}
    missing = [f for f in spec["config_schema"]["required"] if config.get(f) in ("", None)]
    if missing:
        return {**result, "ok": False, "status": "failed", "latency_ms": None,
                "missing_fields": missing, "message": f"Missing {', '.join(missing)}"}
    return {**result, "ok": True, "status": "connected", "latency_ms": latency_ms(bot["id"]),
            "message": f"{spec['name']} connection OK"}


@operation("testBot")
@operation("testBotById")
async def test_bot(ctx: Ctx):
    rid, bot = BOTS.existing(ctx)
    result = bot_test_result(bot)
    stats = ctx.sim.store.get_resource(BOT_STATS, rid) or {"bot_id": rid}
    stats.update(test_count=stats.get("test_count", 0) + 1, last_test_at=now_iso(),
                 last_test_ok=result["ok"],
                 error_count=stats.get("error_count", 0) + (not result["ok"]),
                 last_error=None if result["ok"] else result["message"])
    ctx.sim.store.put_resource(BOT_STATS, rid, stats, now_iso())
    return result
