"""Seed 004 tag Tools: the built-in tools (kind "tool") and the tools of installed plugins;
`enabled` filters on a tool's own switch, `active` also needs its plugin enabled. No MCP tool
is simulated."""

from __future__ import annotations

from ..domain.plugin_registry import TOOL, ensure_seeded, plugins, save_plugin
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


# tools -------------------------------------------------------------------------------------
def all_tools(ctx: Ctx) -> list[tuple[dict | None, dict]]:
    ensure_seeded(ctx.sim)
    return [(None, t) for t in ctx.sim.store.list_resources(TOOL)] + [
        (p, t) for p in plugins(ctx.sim) for t in p["tools"]]


def tool_view(plugin: dict | None, tool: dict) -> dict:
    return {**tool, "active": tool["enabled"] and (plugin is None or plugin["activated"])}


@operation("listTools")
async def list_tools(ctx: Ctx):
    found = [tool_view(p, t) for p, t in all_tools(ctx)]
    if ctx.query.get("origin"):
        found = [t for t in found if t["origin"] == ctx.query["origin"]]
    if ctx.query.get("enabled") is not None:
        found = [t for t in found if t["enabled"] == ctx.query["enabled"]]
    return found


def change_tool(ctx: Ctx, **changes) -> dict:
    name = ctx.param("tool_id")
    plugin, tool = next(((p, t) for p, t in all_tools(ctx) if t["name"] == name), (None, None))
    if tool is None:
        raise ApiError(404, f"Tool {name} not found")
    tool.update(changes)
    if plugin is None:
        ctx.sim.store.put_resource(TOOL, name, tool, now_iso())
    else:
        save_plugin(ctx.sim, plugin)
    return tool_view(plugin, tool)


@operation("setToolEnabled")
async def set_tool_enabled(ctx: Ctx):
    return change_tool(ctx, enabled=ctx.body["enabled"])


@operation("setToolPermission")
async def set_tool_permission(ctx: Ctx):
    return change_tool(ctx, permission=ctx.body["permission"])
