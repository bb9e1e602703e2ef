"""Every HTTP operation of the contract enforces the scope its `x-astrbot-scope` names, walked
from the spec (nothing written out per operation): no credential -> 401, a key lacking the
scope -> 403, a key holding exactly it (or `config` for bot/provider) -> through, JWT-only
scopes refuse even an all-scope key, `security: []` needs nothing."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from simulator.auth import DEVELOPER_SCOPES, SCOPE_INCLUDES
from simulator.contract import operations

HTTP_OPS = [op for op in operations() if not op.websocket]


def url_of(op) -> str:
    return re.sub(r"\{[^}]+\}", "scope-walk-placeholder", op.path)


def lacking(scope: str) -> str:
    return next(s for s in DEVELOPER_SCOPES
                if s != scope and scope not in SCOPE_INCLUDES.get(s, ()))


async def walk(sim, headers_for) -> dict[str, int]:
    """Status per operation, for the headers `headers_for(op)` gives (None: skip the op)."""
    limit, statuses = asyncio.Semaphore(16), {}

    async def one(op):
        headers = headers_for(op)
        if headers is None:
            return
        async with limit, sim.http.request(op.method, sim.url + url_of(op), headers=headers,
                                           timeout=aiohttp.ClientTimeout(total=10)) as resp:
            statuses[f"{op.method} {op.path}"] = resp.status  # the body is not read: the live
            # log stream never ends

    await asyncio.gather(*(one(op) for op in HTTP_OPS))
    return statuses


async def test_every_operation_enforces_its_scope(sim):
    keys = {scope: (await sim.new_key([scope]))["api_key"] for scope in DEVELOPER_SCOPES}
    every = (await sim.new_key(list(DEVELOPER_SCOPES)))["api_key"]
    jwt = await sim.admin_jwt()
    scoped = [op for op in HTTP_OPS if not op.public]
    developer = [op for op in scoped if op.scope in DEVELOPER_SCOPES]
    dashboard_only = [op for op in scoped if op.scope not in DEVELOPER_SCOPES]
    assert len(scoped) + sum(op.public for op in HTTP_OPS) == len(HTTP_OPS) > 300
    assert developer and dashboard_only

    none = await walk(sim, lambda op: None if op.public else {})
    assert {k: s for k, s in none.items() if s != 401} == {}

    refused = await walk(sim, lambda op: {"X-API-Key": keys[lacking(op.scope)]}
                         if op.scope in DEVELOPER_SCOPES else None)
    assert {k: s for k, s in refused.items() if s != 403} == {}

    exact = await walk(sim, lambda op: {"X-API-Key": keys[op.scope]}
                       if op.scope in DEVELOPER_SCOPES else None)
    assert {k: s for k, s in exact.items() if s in (401, 403)} == {}
    assert len(exact) == len(developer)

    via_config = await walk(sim, lambda op: {"X-API-Key": keys["config"]}
                            if op.scope in ("bot", "provider") else None)
    assert via_config and {k: s for k, s in via_config.items() if s in (401, 403)} == {}

    all_scopes = await walk(sim, lambda op: {"X-API-Key": every}
                            if op.scope is not None and op.scope not in DEVELOPER_SCOPES
                            else None)
    assert len(all_scopes) == len(dashboard_only)
    assert {k: s for k, s in all_scopes.items() if s != 403} == {}

    dashboard = await walk(sim, lambda op: {"Authorization": f"Bearer {jwt}"}
                           if op.method == "GET" else None)
    assert {k: s for k, s in dashboard.items() if s in (401, 403)} == {}

    public = await walk(sim, lambda op: {} if op.public else None)
    assert public and {k: s for k, s in public.items() if s in (401, 403)} == {}
