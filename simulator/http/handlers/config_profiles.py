"""Seed 004 tag Config Profiles: the config profile collection (CRUD from
domain/resources.py) and its schema."""

from __future__ import annotations

import copy

from ..domain.catalogue import CONFIG_PROFILE_SCHEMA
from ..domain.resources import CONFIG_PROFILES
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(CONFIG_PROFILES, {
    "listConfigProfiles": "list", "createConfigProfile": "create", "getConfigProfile": "get",
    "updateConfigProfileContent": "merge", "renameConfigProfile": "merge",
    "deleteConfigProfile": "delete"})


@operation("getConfigProfileSchema")
async def get_config_profile_schema(ctx: Ctx):
    return copy.deepcopy(CONFIG_PROFILE_SCHEMA)
