"""Configuration documents shared by several tags: the config routes setting (UMO -> config
profile), a provider source's type, the deterministic latency and digest of a simulated test,
and the config files the Open API lists."""

from __future__ import annotations

import hashlib
import zlib

from .resources import CONFIG_PROFILES
from .settings import load_setting, save_setting

ROUTES = "config_routes"


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def latency_ms(*parts: str) -> int:
    return 20 + zlib.crc32("|".join(parts).encode()) % 180


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def routes(store) -> dict:
    """The routing table, without bindings to profiles deleted since (they fall back)."""
    table = load_setting(store, ROUTES, {})
    kept = {umo: cid for umo, cid in table.items()
            if store.get_resource(CONFIG_PROFILES.kind, cid) is not None}
    if kept != table:
        save_setting(store, ROUTES, kept)
    return kept


# -- providers and provider sources -------------------------------------------------------------
def source_type(config: dict) -> str:
    for key in ("type", "provider", "provider_type"):
        if isinstance(config.get(key), str) and config[key]:
            return config[key].lower()
    return ""


def config_files(sim) -> list[dict]:
    """The configuration files the Open API lists (research CFG-001/002): the default one."""
    path = str(sim.config.data_dir.resolve() / "config" / "default.json")
    return [{"id": "default", "name": "default", "path": path, "is_default": True}]
