"""Seed 004 tag MCP: the MCP server collection (CRUD from domain/resources.py), an update by
name checked against McpServerConfig, a simulated connection test and the ModelScope sync (a
fixed catalogue of servers whose URLs derive from the access token). Nothing is networked."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from ...contract import openapi_v1
from ..domain.catalogue import MODELSCOPE_SERVERS, mcp_tool_names
from ..domain.configuration import as_dict, digest, latency_ms
from ..domain.resources import MCP_SERVERS
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(MCP_SERVERS, {
    "listMcpServers": "list", "createMcpServer": "create", "updateMcpServer": "replace",
    "deleteMcpServer": "delete", "deleteMcpServerByName": "delete",
    "setMcpServerEnabled": "set_enabled", "setMcpServerEnabledByName": "set_enabled"})


# -- MCP servers -------------------------------------------------------------------------------
MCP_VALIDATOR = Draft202012Validator(openapi_v1()["components"]["schemas"]["McpServerConfig"])
TRANSPORTS = ("stdio", "sse", "streamable_http")


@operation("updateMcpServerByName")
async def update_mcp_server_by_name(ctx: Ctx):
    """Merge `config` and the other body fields into the stored server."""
    rid, found = MCP_SERVERS.existing(ctx)
    extras = {k: v for k, v in ctx.body.items() if k not in ("server_name", "config")}
    document = {**found, **as_dict(ctx.body.get("config")), **extras, "name": rid}
    error = next(iter(MCP_VALIDATOR.iter_errors(document)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "config"
        raise ApiError(400, f"Invalid MCP server config at {where}: {error.message}")
    return MCP_SERVERS.save(ctx, rid, document)


def mcp_problem(config: dict) -> tuple[str | None, str | None]:
    transport = config.get("transport") or (
        "stdio" if config.get("command") else "sse" if config.get("url") else None)
    if transport is None:
        return None, "No command or url configured"
    if transport not in TRANSPORTS:
        return transport, f"Unknown transport: {transport}"
    if transport == "stdio":
        command = config.get("command")
        return transport, None if isinstance(command, str) and command.strip() else \
            "stdio transport needs a command"
    url = config.get("url")
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        return transport, f"{transport} transport needs an http(s) url"
    return transport, None


@operation("testMcpServer")
@operation("testMcpServerByName")
async def test_mcp_server(ctx: Ctx):
    name = ctx.param("server_name")
    body = as_dict(ctx.body)
    override = body.get("mcp_server_config", body.get("config"))
    stored = ctx.sim.store.get_resource(MCP_SERVERS.kind, name)
    if stored is None and not isinstance(override, dict):
        raise ApiError(404, f"{MCP_SERVERS.kind} {name} not found")
    config = {**(stored or {}), **as_dict(override)}
    transport, problem = mcp_problem(config)
    result = {"server_name": name, "transport": transport, "ok": problem is None}
    if problem:
        return {**result, "status": "failed", "message": problem, "tools": []}
    return {**result, "status": "connected", "message": "Connected",
            "tools": mcp_tool_names(name), "latency_ms": latency_ms(name)}


@operation("syncModelScopeMcpServers")
async def sync_modelscope_mcp_servers(ctx: Ctx):
    token = as_dict(ctx.body).get("access_token")
    store, created, updated, servers = ctx.sim.store, [], [], []
    if not isinstance(token, str) or not token.strip():  # no account: nothing to sync
        return {"created": created, "updated": updated, "servers": servers}
    for name, description in MODELSCOPE_SERVERS:
        document = {"name": name, "transport": "sse", "description": description,
                    "url": "https://mcp.api-inference.modelscope.net/"
                           f"{digest(token.strip(), name)[:16]}/sse",
                    "provider": "modelscope", "enabled": True}
        found = store.get_resource(MCP_SERVERS.kind, name)
        if found is not None:
            document = {**found, **document, "enabled": MCP_SERVERS.value(found, "enabled")}
        (updated if found is not None else created).append(name)
        store.put_resource(MCP_SERVERS.kind, name, document, now_iso())
        servers.append(document)
    return {"created": created, "updated": updated, "servers": servers}
