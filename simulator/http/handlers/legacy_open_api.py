"""The legacy Open API paths seed 004 does not have (seed 002): `GET /api/v1/configs` (the
config files) and `POST /api/v1/im/message` (an IM push, as sendImMessage)."""

from __future__ import annotations

from ..domain.configuration import config_files
from ..domain.im import deliver
from ..kernel.router import Ctx, Operations

operation = Operations()


@operation("legacy POST /api/v1/im/message")
async def send_legacy_im_message(ctx: Ctx):
    deliver(ctx.sim, ctx.body["umo"], ctx.body["message"])
    return {}


@operation("legacy GET /api/v1/configs")
async def list_configs(ctx: Ctx):
    return {"configs": config_files(ctx.sim)}
