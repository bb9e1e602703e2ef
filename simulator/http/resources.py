"""IM bots: the configured bots' ids (seed 004 `listImBots`)."""

from __future__ import annotations

from .collections import BOTS
from .router import Ctx, operation


@operation("listImBots")
async def list_im_bots(ctx: Ctx):
    """The configured bots' ids (research IM-005)."""
    return {"bot_ids": [bot["id"] for bot in ctx.sim.store.list_resources(BOTS.kind)]}
