"""Seed 004 tag Providers: the provider collection (CRUD from domain/resources.py), a
provider's effective configuration (its source's merged in), its schema, a simulated test and
the embedding dimension probe (answered from the configuration, never networked)."""

from __future__ import annotations

import copy
import dataclasses

from ..domain.catalogue import (
    CAPABILITIES,
    DEFAULT_EMBEDDING_DIMENSION,
    EMBEDDING_DIMENSIONS,
    LOCAL_SOURCES,
    PROVIDER_SCHEMA,
)
from ..domain.configuration import as_dict, latency_ms, source_type
from ..domain.resources import PROVIDER_SOURCES, PROVIDERS
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(PROVIDERS, {
    "listProviders": "list", "createProvider": "create", "updateProvider": "replace",
    "updateProviderById": "replace_config", "deleteProvider": "delete",
    "deleteProviderById": "delete", "setProviderEnabled": "set_enabled",
    "setProviderEnabledById": "set_enabled"})


def effective_config(store, provider: dict) -> tuple[dict, dict | None, str | None]:
    """(source config + provider config, the source, a problem) of a provider."""
    sid = provider.get("provider_source_id")
    source = store.get_resource(PROVIDER_SOURCES.kind, sid) if sid else None
    problem = f"Provider source {sid} not found" if sid and source is None else None
    merged = {**as_dict((source or {}).get("config")), **as_dict(provider.get("config"))}
    return merged, source, problem


@operation("getProvider")
@operation("getProviderById")
async def get_provider(ctx: Ctx):
    _, provider = PROVIDERS.existing(ctx)
    if not ctx.query.get("merged"):
        return provider
    merged, source, _ = effective_config(ctx.sim.store, provider)
    return {**provider, "config": merged, "source": source}


def with_body(ctx: Ctx, body: dict) -> Ctx:
    return dataclasses.replace(ctx, body=body)


@operation("listProvidersBySource")
@operation("listProvidersBySourceId")
async def list_providers_by_source(ctx: Ctx):
    sid, _ = PROVIDER_SOURCES.existing(ctx)
    return [p for p in PROVIDERS.items(ctx) if p.get("provider_source_id") == sid]


@operation("createProviderInSource")
async def create_provider_in_source(ctx: Ctx):
    sid, _ = PROVIDER_SOURCES.existing(ctx)
    # the source in the path wins over the body's provider_source_id
    return await PROVIDERS.create(with_body(ctx, {**ctx.body, "provider_source_id": sid}))


@operation("createProviderInSourceById")
async def create_provider_in_source_by_id(ctx: Ctx):
    sid, _ = PROVIDER_SOURCES.existing(ctx)
    config = ctx.body["config"]
    body = {"provider_source_id": sid, "config": config}
    if isinstance(config.get("id"), str) and config["id"].strip():
        body["id"] = config["id"]
    if config.get("capability") in CAPABILITIES:
        body["capability"] = config["capability"]
    if isinstance(config.get("enabled"), bool):
        body["enabled"] = config["enabled"]
    return await PROVIDERS.create(with_body(ctx, body))


def has_key(config: dict) -> bool:
    for name in ("key", "api_key"):
        value = config.get(name)
        if (isinstance(value, str) and value.strip()) or (
                isinstance(value, list) and any(isinstance(v, str) and v.strip() for v in value)):
            return True
    return False


@operation("testProvider")
@operation("testProviderById")
async def test_provider(ctx: Ctx):
    rid, provider = PROVIDERS.existing(ctx)
    config, _, problem = effective_config(ctx.sim.store, provider)
    model = config.get("model") if isinstance(config.get("model"), str) else None
    kind = source_type(config)
    if problem is None and not model:
        problem = "No model configured"
    if problem is None and not any(k in kind for k in LOCAL_SOURCES) and not has_key(config):
        problem = "No API key configured"
    result = {"provider_id": rid, "model": model, "capability": provider.get("capability"),
              "ok": problem is None}
    if problem:
        return {**result, "status": "unavailable", "message": problem, "latency_ms": None}
    return {**result, "status": "available", "message": f"{model} answered",
            "latency_ms": latency_ms(rid, model)}


@operation("getProviderEmbeddingDimension")
@operation("getProviderEmbeddingDimensionById")
async def get_provider_embedding_dimension(ctx: Ctx):
    rid, provider = PROVIDERS.existing(ctx)
    if provider.get("capability") not in (None, "embedding"):
        raise ApiError(409, f"Provider {rid} is not an embedding provider")  # its state
    body = as_dict(ctx.body)
    overlay = body["provider_config"] if isinstance(body.get("provider_config"), dict) else {
        k: v for k, v in body.items() if k != "provider_id"}
    config = {**effective_config(ctx.sim.store, provider)[0], **overlay}
    model = config.get("model") if isinstance(config.get("model"), str) else None
    explicit = config.get("embedding_dimensions", config.get("dimensions"))
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit <= 0:
            raise ApiError(400, "embedding_dimensions must be a positive integer")
        dimension = explicit
    else:
        dimension = EMBEDDING_DIMENSIONS.get(model, DEFAULT_EMBEDDING_DIMENSION)
    return {"provider_id": rid, "model": model, "embedding_dimension": dimension}


@operation("getProviderSchema")
async def get_provider_schema(ctx: Ctx):
    return copy.deepcopy(PROVIDER_SCHEMA)
