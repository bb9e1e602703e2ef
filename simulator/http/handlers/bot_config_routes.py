"""Seed 004 tag Bot Config Routes: which config profile serves a unified message origin
(`platform:MessageType:session`, `*` allowed for the type), a settings document; a route to an
unknown profile is a 400."""

from __future__ import annotations

from ..domain.configuration import ROUTES, routes
from ..domain.im import MESSAGE_TYPES
from ..domain.resources import CONFIG_PROFILES
from ..domain.settings import save_setting
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


# -- config routes: umo -> config profile id ----------------------------------------------------
def check_umo(umo: str) -> str:
    parts = umo.split(":", 2)
    if len(parts) != 3 or not all(part.strip() for part in parts):
        raise ApiError(400, f"Invalid umo {umo!r}: expected platform:MessageType:session")
    if parts[1] not in (*MESSAGE_TYPES, "*"):
        raise ApiError(400, f"Invalid umo {umo!r}: {parts[1]!r} is not one of "
                            f"{', '.join(MESSAGE_TYPES)} or *")
    return umo


def check_profile(store, config_id: str) -> str:
    if config_id != "default" and store.get_resource(CONFIG_PROFILES.kind, config_id) is None:
        raise ApiError(400, f"Unknown config profile: {config_id}")
    return config_id


@operation("listConfigRoutes")
async def list_config_routes(ctx: Ctx):
    return {"routing": routes(ctx.sim.store)}


@operation("replaceConfigRoutes")
async def replace_config_routes(ctx: Ctx):
    store = ctx.sim.store
    table = {check_umo(umo): check_profile(store, cid) for umo, cid in ctx.body["routing"].items()}
    table = {umo: cid for umo, cid in table.items() if cid != "default"}
    save_setting(store, ROUTES, table)
    return {"routing": table}


@operation("upsertConfigRoute")
async def upsert_config_route(ctx: Ctx):
    store = ctx.sim.store
    umo = check_umo(ctx.param("umo"))
    config_id = check_profile(store, ctx.body["config_id"])
    table = routes(store)
    if config_id == "default":
        table.pop(umo, None)
    else:
        table[umo] = config_id
    save_setting(store, ROUTES, table)
    return {"umo": umo, "config_id": config_id, "routing": table}


@operation("deleteConfigRoute")
async def delete_config_route(ctx: Ctx):
    store = ctx.sim.store
    umo = ctx.param("umo")
    table = routes(store)
    if umo not in table:
        raise ApiError(404, f"No config route for umo {umo}")
    del table[umo]
    save_setting(store, ROUTES, table)
    return {"routing": table}
