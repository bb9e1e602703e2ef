"""Configured resources read back from the store (seed 004 tags Bots, Providers, IM)."""

from __future__ import annotations

from .router import Ctx, operation


@operation("listBots")
async def list_bots(ctx: Ctx):
    return {"bots": ctx.sim.store.list_resources("bot")}


@operation("listProviders")
async def list_providers(ctx: Ctx):
    return ctx.sim.store.list_resources("provider")


@operation("listImBots")
async def list_im_bots(ctx: Ctx):
    return {"bot_ids": [bot["id"] for bot in ctx.sim.store.list_resources("bot")]}
