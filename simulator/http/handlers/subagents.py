"""Seed 004 tag Subagents: the subagent orchestrator configuration (a settings document; its
agents' names are unique and their tools, persona and provider must exist, 400 otherwise) and
the available tools (the built-in ones plus those of every enabled MCP server)."""

from __future__ import annotations

import copy

from ..domain.catalogue import BUILTIN_TOOLS, mcp_tool_names
from ..domain.resources import MCP_SERVERS, PERSONAS, PROVIDERS
from ..domain.settings import load_setting, save_setting
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
# -- subagents -----------------------------------------------------------------------------
SUBAGENTS = "subagent_config"
DEFAULT_SUBAGENTS = {"main_enable": False, "remove_main_duplicate_tools": False, "agents": []}
AGENT_FIELDS = {"name": str, "description": str, "enabled": bool, "persona_id": str,
                "provider_id": str, "system_prompt": str, "tools": list}


def available_tools(store) -> list[dict]:
    tools = copy.deepcopy(BUILTIN_TOOLS)
    for server in store.list_resources(MCP_SERVERS.kind):
        if MCP_SERVERS.value(server, "enabled"):
            tools += [{"name": name, "description": f"Tool of MCP server {server['name']}",
                       "source": "mcp", "server": server["name"]}
                      for name in mcp_tool_names(server["name"])]
    return tools


def check_agent(store, agent, index: int, tool_names: set) -> None:
    where = f"agents[{index}]"
    if not isinstance(agent, dict):
        raise ApiError(400, f"{where} must be an object")
    for field, kind in AGENT_FIELDS.items():
        if field in agent and not isinstance(agent[field], kind):
            raise ApiError(400, f"{where}.{field} must be a {kind.__name__}")
    if not (agent.get("name") or "").strip():
        raise ApiError(400, f"{where}.name is required")
    if not all(isinstance(t, str) for t in agent.get("tools", [])):
        raise ApiError(400, f"{where}.tools must be a list of tool names")
    unknown = [t for t in agent.get("tools", []) if t not in tool_names]
    if unknown:
        raise ApiError(400, f"{where}.tools: unknown tool {unknown[0]!r}")
    for field, collection in (("persona_id", PERSONAS), ("provider_id", PROVIDERS)):
        if agent.get(field) and store.get_resource(collection.kind, agent[field]) is None:
            raise ApiError(400, f"{where}.{field}: unknown {collection.kind} {agent[field]}")


@operation("getSubagentConfig")
async def get_subagent_config(ctx: Ctx):
    return {**DEFAULT_SUBAGENTS, **load_setting(ctx.sim.store, SUBAGENTS, {})}


@operation("updateSubagentConfig")
async def update_subagent_config(ctx: Ctx):
    store, body = ctx.sim.store, ctx.body
    for flag in ("main_enable", "remove_main_duplicate_tools"):
        if flag in body and not isinstance(body[flag], bool):
            raise ApiError(400, f"{flag} must be a boolean")
    agents = body.get("agents", [])
    if not isinstance(agents, list):
        raise ApiError(400, "agents must be a list")
    tool_names = {tool["name"] for tool in available_tools(store)}
    names = set()
    for index, agent in enumerate(agents):
        check_agent(store, agent, index, tool_names)
        if agent["name"] in names:
            raise ApiError(400, f"Duplicate subagent name: {agent['name']}")
        names.add(agent["name"])
    document = {**DEFAULT_SUBAGENTS, **body}
    save_setting(store, SUBAGENTS, document)
    return document


@operation("listSubagentAvailableTools")
async def list_subagent_available_tools(ctx: Ctx):
    return {"tools": available_tools(ctx.sim.store)}
