"""Seed 004 tag Commands: the commands of the installed plugins (their state lives in the
plugin document): renaming (`alias`) or new `aliases` that collide with another enabled command
are 409; enabling may create a conflict, which `listCommandConflicts` reports (enabled commands
of active plugins sharing a name or alias)."""

from __future__ import annotations

import re

from ..domain.plugin_registry import plugins, save_plugin
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


# commands ----------------------------------------------------------------------------------
def all_commands(ctx: Ctx) -> list[tuple[dict, dict]]:
    return [(p, c) for p in plugins(ctx.sim) for c in p["commands"]]


def names_of(cmd: dict) -> list[str]:
    return [cmd["effective_command"], *cmd["aliases"]]


def conflicts(pairs: list[tuple[dict, dict]]) -> dict[str, list[tuple[dict, dict]]]:
    by_name: dict[str, list] = {}
    for plugin, cmd in pairs:
        if plugin["activated"] and cmd["enabled"]:
            for name in dict.fromkeys(names_of(cmd)):
                by_name.setdefault(name, []).append((plugin, cmd))
    return {name: found for name, found in sorted(by_name.items()) if len(found) > 1}


def command_view(plugin: dict, cmd: dict, clashes: dict) -> dict:
    return {**cmd, "plugin_display_name": plugin["display_name"],
            "plugin_activated": plugin["activated"], "reserved": plugin["reserved"],
            "has_conflict": any(cmd["handler_full_name"] == c["handler_full_name"]
                                for found in clashes.values() for _, c in found)}


def wake_prefix(ctx: Ctx) -> list[str]:
    config_id = (ctx.query.get("config_id") or "").strip()
    if config_id in ("", "default"):
        return ["/"]
    profile = ctx.sim.store.get_resource("config profile", config_id)
    if profile is None:
        raise ApiError(404, f"Config profile {config_id} not found")
    inner = profile.get("config") if isinstance(profile.get("config"), dict) else {}
    found = profile.get("wake_prefix") or inner.get("wake_prefix")
    if isinstance(found, str) and found:
        return [found]
    return found if isinstance(found, list) and found else ["/"]


@operation("listCommands")
async def list_commands(ctx: Ctx):
    prefix = wake_prefix(ctx)
    pairs = all_commands(ctx)
    clashes = conflicts(pairs)
    items = sorted((command_view(p, c, clashes) for p, c in pairs),
                   key=lambda c: (c["effective_command"].lower(), c["handler_full_name"]))
    return {"items": items,
            "summary": {"total": len(items), "disabled": sum(not c["enabled"] for c in items),
                        "conflicts": sum(c["has_conflict"] for c in items)},
            "wake_prefix": prefix, "language": "en-US"}


@operation("listCommandConflicts")
async def list_command_conflicts(ctx: Ctx):
    return [{"command": name,
             "handlers": [{"handler_full_name": c["handler_full_name"], "plugin": p["name"],
                           "effective_command": c["effective_command"]} for p, c in found]}
            for name, found in conflicts(all_commands(ctx)).items()]


def command_name(raw: str, what: str) -> str:
    name = raw.strip()
    if not re.fullmatch(r"\S{1,64}", name):
        raise ApiError(400, f"Invalid {what}: {raw!r} (one word, no spaces)")
    return name


@operation("updateCommand")
async def update_command(ctx: Ctx):
    body, wanted = ctx.body, ctx.param("command_id")
    pairs = all_commands(ctx)
    plugin, cmd = next(((p, c) for p, c in pairs if c["handler_full_name"] == wanted),
                       (None, None))
    if cmd is None:
        raise ApiError(404, f"Command {wanted} not found")
    if not body:
        raise ApiError(400, "Nothing to update: give enabled, alias, aliases or "
                            "permission_group")
    changed = dict(cmd)
    if "alias" in body:
        changed["effective_command"] = command_name(body["alias"], "alias")
    if "aliases" in body:
        aliases = [command_name(a, "aliases item") for a in body["aliases"]]
        changed["aliases"] = [a for a in dict.fromkeys(aliases)
                              if a != changed["effective_command"]]
    if "permission_group" in body:
        if body["permission_group"] not in ("everyone", "admin"):
            raise ApiError(400, "permission_group must be everyone or admin")
        changed["permission"] = body["permission_group"]
    if "enabled" in body:
        changed["enabled"] = body["enabled"]
    if "alias" in body or "aliases" in body:
        taken = {n: c for p, c in pairs if p["activated"] and c["enabled"]
                 and c["handler_full_name"] != wanted for n in names_of(c)}
        clash = next((n for n in names_of(changed) if n in taken), None)
        if clash is not None:
            raise ApiError(409, f"Command name {clash} is taken by "
                                f"{taken[clash]['handler_full_name']}")
    plugin["commands"] = [changed if c["handler_full_name"] == wanted else c
                          for c in plugin["commands"]]
    save_plugin(ctx.sim, plugin)
    return command_view(plugin, changed, conflicts(all_commands(ctx)))
