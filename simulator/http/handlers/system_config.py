"""Seed 004 tag System Config: the system configuration (a settings document filled with the
defaults of domain/catalogue.py, checked against the schema derived from them), its schema and
the runtime view."""

from __future__ import annotations

import copy

from ..domain.catalogue import DEFAULT_SYSTEM_CONFIG, SYSTEM_CONFIG_SCHEMA, json_type
from ..domain.configuration import routes
from ..domain.resources import (
    BOTS,
    CONFIG_PROFILES,
    MCP_SERVERS,
    PERSONAS,
    PROVIDER_SOURCES,
    PROVIDERS,
)
from ..domain.settings import active_t2i_template, load_setting, save_setting
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
SYSTEM_CONFIG = "system_config"


# -- system config ---------------------------------------------------------------------------
def fill_defaults(default, value):
    """`value` with every key of `default` it lacks (recursively), extra keys kept."""
    if not (isinstance(default, dict) and isinstance(value, dict)):
        return value
    merged = {k: fill_defaults(v, value[k]) if k in value else copy.deepcopy(v)
              for k, v in default.items()}
    merged.update({k: v for k, v in value.items() if k not in default})
    return merged


def check_against(schema: dict, value, where: str) -> None:
    expected, actual = schema.get("type"), json_type(value)
    if actual != expected and not (expected == "number" and actual == "integer"):
        raise ApiError(400, f"Invalid system config at {where}: expected {expected}, "
                            f"got {actual}")
    if "enum" in schema and value not in schema["enum"]:
        raise ApiError(400, f"Invalid system config at {where}: must be one of "
                            f"{', '.join(schema['enum'])}")
    for key, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and key in value:
            check_against(sub, value[key], f"{where}.{key}" if where != "body" else key)


def system_config(store) -> dict:
    return fill_defaults(DEFAULT_SYSTEM_CONFIG, load_setting(store, SYSTEM_CONFIG, {}))


@operation("getSystemConfigSchema")
async def get_system_config_schema(ctx: Ctx):
    return copy.deepcopy(SYSTEM_CONFIG_SCHEMA)


@operation("getSystemConfig")
async def get_system_config(ctx: Ctx):
    return system_config(ctx.sim.store)


@operation("updateSystemConfig")
async def update_system_config(ctx: Ctx):
    check_against(SYSTEM_CONFIG_SCHEMA, ctx.body, "body")
    document = fill_defaults(DEFAULT_SYSTEM_CONFIG, ctx.body)
    save_setting(ctx.sim.store, SYSTEM_CONFIG, document)
    ctx.sim.store.set_setting("system_config_updated_at", now_iso())
    return document


@operation("getSystemConfigRuntime")
async def get_system_config_runtime(ctx: Ctx):
    store = ctx.sim.store
    config = system_config(store)
    providers = store.list_resources(PROVIDERS.kind)
    bots = store.list_resources(BOTS.kind)
    enabled = [p["id"] for p in providers if PROVIDERS.value(p, "enabled")]
    wanted = config["provider_settings"].get("default_provider_id") or ""
    return {
        "config_version": config["config_version"],
        "timezone": config["timezone"],
        "updated_at": store.setting("system_config_updated_at"),
        "default_provider_id": wanted,
        "default_provider_found": wanted in [p["id"] for p in providers],
        "active_provider_id": wanted if wanted in enabled else (enabled[0] if enabled else None),
        "enabled_bots": [b["id"] for b in bots if BOTS.value(b, "enabled")],
        "enabled_providers": enabled,
        "counts": {"bots": len(bots), "providers": len(providers),
                   "provider_sources": len(store.list_resources(PROVIDER_SOURCES.kind)),
                   "personas": len(store.list_resources(PERSONAS.kind)),
                   "mcp_servers": len(store.list_resources(MCP_SERVERS.kind)),
                   "config_profiles": len(store.list_resources(CONFIG_PROFILES.kind)),
                   "config_routes": len(routes(store))},
        "t2i_active_template": active_t2i_template(ctx.sim),
        "data_dir": str(ctx.sim.config.data_dir),
    }
