"""Seed 004 tag Provider Sources: the source collection (CRUD from domain/resources.py),
upsert and delete by id, and the models a source offers (a fixed catalogue per source type)."""

from __future__ import annotations

from ..domain.catalogue import (
    CAPABILITIES,
    DEFAULT_EMBEDDING_DIMENSION,
    EMBEDDING_DIMENSIONS,
    GENERIC_MODELS,
    MODEL_CATALOGUE,
)
from ..domain.configuration import as_dict, source_type
from ..domain.resources import PROVIDER_SOURCES, PROVIDERS
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(PROVIDER_SOURCES, {
    "listProviderSources": "list", "createProviderSource": "create", "getProviderSource": "get",
    "getProviderSourceById": "get"})


def source_models(config: dict) -> tuple[str, list[tuple[str, str]]]:
    """(catalogue keyword, [(model, capability)]) of a source: its explicit `models` list,
    else the catalogue of the first keyword its type contains, else the generic pair."""
    explicit = []
    for item in config.get("models") if isinstance(config.get("models"), list) else []:
        if isinstance(item, str) and item:
            explicit.append((item, "chat"))
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            capability = item.get("capability")
            explicit.append((item["id"], capability if capability in CAPABILITIES else "chat"))
    kind = source_type(config)
    keyword = next((k for k in MODEL_CATALOGUE if k in kind), None)
    if explicit:
        return keyword or kind or "custom", explicit
    return (keyword, MODEL_CATALOGUE[keyword]) if keyword else (kind or "generic", GENERIC_MODELS)


@operation("upsertProviderSource")
@operation("upsertProviderSourceById")
async def upsert_provider_source(ctx: Ctx):
    sid = ctx.param("source_id")
    # the source in the path wins over the body's id
    document = {"id": sid, "config": ctx.body["config"]}
    return PROVIDER_SOURCES.save(ctx, sid, document)


@operation("deleteProviderSource")
@operation("deleteProviderSourceById")
async def delete_provider_source(ctx: Ctx):
    """Deleting a source deletes the providers configured under it."""
    store = ctx.sim.store
    sid, _ = PROVIDER_SOURCES.existing(ctx)
    gone = [p["id"] for p in store.list_resources(PROVIDERS.kind)
            if p.get("provider_source_id") == sid]
    for pid in gone:
        store.delete_resource(PROVIDERS.kind, pid)
    store.delete_resource(PROVIDER_SOURCES.kind, sid)
    return {"deleted_providers": gone}


@operation("listProviderSourceModels")
@operation("listProviderSourceModelsById")
async def list_provider_source_models(ctx: Ctx):
    sid, source = PROVIDER_SOURCES.existing(ctx)
    keyword, models = source_models(as_dict(source.get("config")))
    wanted = ctx.query.get("capability")
    rows = []
    for model, capability in models:
        if wanted not in (None, capability):
            continue
        row = {"id": model, "name": model, "capability": capability, "owned_by": keyword}
        if capability == "embedding":
            row["embedding_dimension"] = EMBEDDING_DIMENSIONS.get(model,
                                                                  DEFAULT_EMBEDDING_DIMENSION)
        rows.append(row)
    return {"source_id": sid, "source_type": keyword, "models": rows}
