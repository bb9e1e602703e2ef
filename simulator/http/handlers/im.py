"""Seed 004 tag IM: push a message to a unified message origin (domain/im.py) and list the
configured bots' ids (research IM-005)."""

from __future__ import annotations

from ..domain.im import deliver
from ..domain.resources import BOTS
from ..kernel.router import Ctx, Operations

operation = Operations()


@operation("sendImMessage")
async def send_im_message(ctx: Ctx):
    deliver(ctx.sim, ctx.body["umo"], ctx.body["message"])
    return {}


@operation("listImBots")
async def list_im_bots(ctx: Ctx):
    """The configured bots' ids (research IM-005)."""
    return {"bot_ids": [bot["id"] for bot in ctx.sim.store.list_resources(BOTS.kind)]}
