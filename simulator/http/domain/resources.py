"""The configured resources kept as collections in the store (seed 004 tags Bots, Personas,
Providers, Provider Sources, Config Profiles, MCP, Cron, Sessions): which store kind, which id
parameter, which defaults and list filters. The CRUD rules are kernel/collections.py's."""

from __future__ import annotations

from ..kernel.collections import Collection

ENABLED = (("enabled", True),)
BOT_STATS = "bot stats"
BOTS = Collection("bot", "bot_id", "id", list_key="bots", enabled_field="enabled",
                  defaults=ENABLED, filters=(("enabled", "enabled"), ("type", "type")),
                  cleanup=(BOT_STATS,))
PERSONAS = Collection("persona", "persona_id", "persona_id", filters=(("folder_id", "folder_id"),))
PERSONA_FOLDERS = Collection("persona folder", "folder_id", "folder_id",
                             filters=(("parent_id", "parent_id"),))
PROVIDERS = Collection("provider", "provider_id", "id", enabled_field="enabled", defaults=ENABLED,
                       filters=(("capability", "capability"), ("source_id", "provider_source_id"),
                                ("enabled", "enabled")))
PROVIDER_SOURCES = Collection("provider source", "source_id", "id")
CONFIG_PROFILES = Collection("config profile", "config_id", "id")
MCP_SERVERS = Collection("mcp server", "server_name", "name", enabled_field="enabled",
                         defaults=ENABLED)
CRON_JOBS = Collection("cron job", "job_id", "job_id", filters=(("type", "type"),))
SESSION_GROUPS = Collection("session group", "group_id", "group_id")
