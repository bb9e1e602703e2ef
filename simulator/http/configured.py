"""Configuration families beyond plain CRUD (seed 004 tags System Config, Config Profiles, Bot
Config Routes, Bots, Providers, Provider Sources, MCP, Cron). The plain CRUD and `/by-id`
variants are rows of the table in collections.py; personas tree, subagents and T2I templates
are in configured_agents.py; the static documents in configured_catalogue.py.

Where data lives: the system configuration, the config routes and the subagent configuration
are JSON documents in the store's settings; bots, providers, sources, MCP servers, cron jobs,
bot counters and registrations are store resources. Everything survives a restart.

Status codes: 400 invalid input (including an id *named in the body* that refers to another
resource which does not exist: a route to an unknown config profile, a move into an unknown
folder); 404 the addressed item (path, query or `/by-id` key) is unknown; 409 duplicate id or
wrong state. Invalid input changes nothing: every check runs before the first write.

Simulated, never networked: bot/provider/MCP tests and embedding probes answer from the stored
configuration (missing credentials, bad URLs, unknown types fail the test with HTTP 200 and
`ok: false`; the latency is a fixed function of the id); a bot-type registration completes on
its second poll and creates the bot with derived credentials; ModelScope sync creates or
refreshes a fixed catalogue of MCP servers whose URLs derive from the access token.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import uuid
import zlib

from jsonschema import Draft202012Validator

from ..contract import openapi_v1
from ..history import now_iso
from .collections import (
    BOT_STATS,
    BOTS,
    CONFIG_PROFILES,
    CRON_JOBS,
    MCP_SERVERS,
    PERSONAS,
    PROVIDER_SOURCES,
    PROVIDERS,
)
from .configured_agents import active_t2i_template, load_setting, save_setting
from .configured_catalogue import (
    BOT_TYPES,
    BOT_TYPES_BY_NAME,
    CAPABILITIES,
    CONFIG_PROFILE_SCHEMA,
    DEFAULT_EMBEDDING_DIMENSION,
    DEFAULT_SYSTEM_CONFIG,
    EMBEDDING_DIMENSIONS,
    GENERIC_MODELS,
    LOCAL_SOURCES,
    MODEL_CATALOGUE,
    MODELSCOPE_SERVERS,
    PROVIDER_SCHEMA,
    SYSTEM_CONFIG_SCHEMA,
    json_type,
    mcp_tool_names,
)
from .envelope import ApiError
from .im import MESSAGE_TYPES
from .router import Ctx, operation

SYSTEM_CONFIG = "system_config"
ROUTES = "config_routes"
REGISTRATIONS = "bot registration"
REGISTRATION_POLLS = 2  # a registration is confirmed on its second poll


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def latency_ms(*parts: str) -> int:
    return 20 + zlib.crc32("|".join(parts).encode()) % 180


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# -- system config ---------------------------------------------------------------------------
def fill_defaults(default, value):
    """`value` with every key of `default` it lacks (recursively), extra keys kept."""
    if not (isinstance(default, dict) and isinstance(value, dict)):
        return value
    merged = {k: fill_defaults(v, value[k]) if k in value else copy.deepcopy(v)
              for k, v in default.items()}
    merged.update({k: v for k, v in value.items() if k not in default})
    return merged


def check_against(schema: dict, value, where: str) -> None:
    expected, actual = schema.get("type"), json_type(value)
    if actual != expected and not (expected == "number" and actual == "integer"):
        raise ApiError(400, f"Invalid system config at {where}: expected {expected}, "
                            f"got {actual}")
    if "enum" in schema and value not in schema["enum"]:
        raise ApiError(400, f"Invalid system config at {where}: must be one of "
                            f"{', '.join(schema['enum'])}")
    for key, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and key in value:
            check_against(sub, value[key], f"{where}.{key}" if where != "body" else key)


def system_config(store) -> dict:
    return fill_defaults(DEFAULT_SYSTEM_CONFIG, load_setting(store, SYSTEM_CONFIG, {}))


@operation("getSystemConfigSchema")
async def get_system_config_schema(ctx: Ctx):
    return copy.deepcopy(SYSTEM_CONFIG_SCHEMA)


@operation("getSystemConfig")
async def get_system_config(ctx: Ctx):
    return system_config(ctx.sim.store)


@operation("updateSystemConfig")
async def update_system_config(ctx: Ctx):
    check_against(SYSTEM_CONFIG_SCHEMA, ctx.body, "body")
    document = fill_defaults(DEFAULT_SYSTEM_CONFIG, ctx.body)
    save_setting(ctx.sim.store, SYSTEM_CONFIG, document)
    ctx.sim.store.set_setting("system_config_updated_at", now_iso())
    return document


@operation("getSystemConfigRuntime")
async def get_system_config_runtime(ctx: Ctx):
    store = ctx.sim.store
    config = system_config(store)
    providers = store.list_resources(PROVIDERS.kind)
    bots = store.list_resources(BOTS.kind)
    enabled = [p["id"] for p in providers if PROVIDERS.value(p, "enabled")]
    wanted = config["provider_settings"].get("default_provider_id") or ""
    return {
        "config_version": config["config_version"],
        "timezone": config["timezone"],
        "updated_at": store.setting("system_config_updated_at"),
        "default_provider_id": wanted,
        "default_provider_found": wanted in [p["id"] for p in providers],
        "active_provider_id": wanted if wanted in enabled else (enabled[0] if enabled else None),
        "enabled_bots": [b["id"] for b in bots if BOTS.value(b, "enabled")],
        "enabled_providers": enabled,
        "counts": {"bots": len(bots), "providers": len(providers),
                   "provider_sources": len(store.list_resources(PROVIDER_SOURCES.kind)),
                   "personas": len(store.list_resources(PERSONAS.kind)),
                   "mcp_servers": len(store.list_resources(MCP_SERVERS.kind)),
                   "config_profiles": len(store.list_resources(CONFIG_PROFILES.kind)),
                   "config_routes": len(routes(store))},
        "t2i_active_template": active_t2i_template(ctx),
        "data_dir": str(ctx.sim.config.data_dir),
    }


@operation("getConfigProfileSchema")
async def get_config_profile_schema(ctx: Ctx):
    return copy.deepcopy(CONFIG_PROFILE_SCHEMA)


# -- config routes: umo -> config profile id ----------------------------------------------------
def check_umo(umo: str) -> str:
    parts = umo.split(":", 2)
    if len(parts) != 3 or not all(part.strip() for part in parts):
        raise ApiError(400, f"Invalid umo {umo!r}: expected platform:MessageType:session")
    if parts[1] not in (*MESSAGE_TYPES, "*"):
        raise ApiError(400, f"Invalid umo {umo!r}: {parts[1]!r} is not one of "
                            f"{', '.join(MESSAGE_TYPES)} or *")
    return umo


def check_profile(store, config_id: str) -> str:
    if config_id != "default" and store.get_resource(CONFIG_PROFILES.kind, config_id) is None:
        raise ApiError(400, f"Unknown config profile: {config_id}")
    return config_id


def routes(store) -> dict:
    """The routing table, without bindings to profiles deleted since (they fall back)."""
    table = load_setting(store, ROUTES, {})
    kept = {umo: cid for umo, cid in table.items()
            if store.get_resource(CONFIG_PROFILES.kind, cid) is not None}
    if kept != table:
        save_setting(store, ROUTES, kept)
    return kept


@operation("listConfigRoutes")
async def list_config_routes(ctx: Ctx):
    return {"routing": routes(ctx.sim.store)}


@operation("replaceConfigRoutes")
async def replace_config_routes(ctx: Ctx):
    store = ctx.sim.store
    table = {check_umo(umo): check_profile(store, cid) for umo, cid in ctx.body["routing"].items()}
    table = {umo: cid for umo, cid in table.items() if cid != "default"}
    save_setting(store, ROUTES, table)
    return {"routing": table}


@operation("upsertConfigRoute")
async def upsert_config_route(ctx: Ctx):
    store = ctx.sim.store
    umo = check_umo(ctx.param("umo"))
    config_id = check_profile(store, ctx.body["config_id"])
    table = routes(store)
    if config_id == "default":
        table.pop(umo, None)
    else:
        table[umo] = config_id
    save_setting(store, ROUTES, table)
    return {"umo": umo, "config_id": config_id, "routing": table}


@operation("deleteConfigRoute")
async def delete_config_route(ctx: Ctx):
    store = ctx.sim.store
    umo = ctx.param("umo")
    table = routes(store)
    if umo not in table:
        raise ApiError(404, f"No config route for umo {umo}")
    del table[umo]
    save_setting(store, ROUTES, table)
    return {"routing": table}


# -- bots ------------------------------------------------------------------------------------
@operation("listBotTypes")
async def list_bot_types(ctx: Ctx):
    return {"bot_types": copy.deepcopy(BOT_TYPES)}


def registration_view(rec: dict) -> dict:
    code = rec["device_code"]
    view = {"device_code": code, "registration_code": f"{code[:4]}-{code[4:8]}".upper(),
            "bot_type": rec["bot_type"], "status": rec["status"], "interval": 1,
            "expires_in": 600, "bot_id": rec.get("bot_id")}
    if BOT_TYPES_BY_NAME[rec["bot_type"]]["registration"] == "qrcode":
        view["qrcode"] = f"https://sim.astrbot.invalid/register/{rec['bot_type']}/{code}"
    if rec.get("error"):
        view["error"] = rec["error"]
    return view


def find_registration(ctx: Ctx, bot_type: str) -> dict:
    body = ctx.body
    code = body.get("device_code") or body.get("registration_code") or body.get("qrcode")
    if not isinstance(code, str) or not code:
        raise ApiError(400, "Missing key: device_code")
    found = ctx.sim.store.get_resource(REGISTRATIONS, code)
    if found is None:  # the short registration code or the QR code link names it too
        found = next((r for r in ctx.sim.store.list_resources(REGISTRATIONS)
                      if code in (registration_view(r)["registration_code"],
                                  registration_view(r).get("qrcode"))), None)
    if found is None or found["bot_type"] != bot_type:
        raise ApiError(404, f"Registration {code} not found")
    return found


def registered_bot(rec: dict) -> dict:
    """The bot a confirmed registration creates: type defaults, the client's platform
    config, and credentials derived from the device code for required fields left empty."""
    spec = BOT_TYPES_BY_NAME[rec["bot_type"]]
    given = dict(rec["platform_config"])
    config = {**spec["default_config"], **{k: v for k, v in given.items()
                                           if k not in ("id", "name", "type")}}
    for field in spec["config_schema"]["required"]:
        if config.get(field) in ("", None):
            config[field] = f"sim-{field}-{digest(rec['device_code'], field)[:12]}"
    return {"id": rec["bot_id"], "type": rec["bot_type"],
            "name": given.get("name") if isinstance(given.get("name"), str) else spec["name"],
            "enabled": True, "config": config}


@operation("registerBotType")
async def register_bot_type(ctx: Ctx):
    store, bot_type = ctx.sim.store, ctx.param("bot_type")
    spec = BOT_TYPES_BY_NAME.get(bot_type)
    if spec is None:
        raise ApiError(404, f"Unknown bot type: {bot_type}")
    if spec["registration"] is None:
        raise ApiError(400, f"Bot type {bot_type} has no registration flow")
    if ctx.body["action"] == "start":
        platform = as_dict(ctx.body.get("platform_config"))
        code = uuid.uuid4().hex
        bot_id = platform.get("id")
        if bot_id is not None and (not isinstance(bot_id, str) or not bot_id.strip()):
            raise ApiError(400, "platform_config.id must be a non-empty string")
        bot_id = bot_id or f"{bot_type}-{code[:8]}"
        if store.get_resource(BOTS.kind, bot_id) is not None:
            raise ApiError(409, f"bot {bot_id} already exists")
        rec = {"device_code": code, "bot_type": bot_type, "status": "pending", "polls": 0,
               "platform_config": platform, "bot_id": bot_id, "created_at": now_iso()}
        store.put_resource(REGISTRATIONS, code, rec, rec["created_at"])
        return registration_view(rec)
    rec = find_registration(ctx, bot_type)
    if rec["status"] == "pending":
        rec["polls"] += 1
        if rec["polls"] >= REGISTRATION_POLLS:
            if store.get_resource(BOTS.kind, rec["bot_id"]) is not None:
                rec["status"], rec["error"] = "failed", f"bot {rec['bot_id']} already exists"
            else:
                rec["status"] = "confirmed"
                store.put_resource(BOTS.kind, rec["bot_id"], registered_bot(rec), now_iso())
        store.put_resource(REGISTRATIONS, rec["device_code"], rec, rec["created_at"])
    view = registration_view(rec)
    if rec["status"] == "confirmed":
        view["bot"] = store.get_resource(BOTS.kind, rec["bot_id"])
    return view


def bot_status(bot: dict, stats: dict) -> str:
    if not BOTS.value(bot, "enabled"):
        return "stopped"
    return "error" if stats.get("last_test_ok") is False else "running"


@operation("listBotStats")
async def list_bot_stats(ctx: Ctx):
    rows = []
    for bot in ctx.sim.store.list_resources(BOTS.kind):
        stats = ctx.sim.store.get_resource(BOT_STATS, bot["id"]) or {}
        rows.append({"id": bot["id"], "type": bot.get("type"), "name": bot.get("name"),
                     "enabled": BOTS.value(bot, "enabled"), "status": bot_status(bot, stats),
                     "test_count": stats.get("test_count", 0),
                     "error_count": stats.get("error_count", 0),
                     "last_test_at": stats.get("last_test_at"),
                     "last_test_ok": stats.get("last_test_ok"),
                     "last_error": stats.get("last_error")})
    summary = {"total": len(rows)}
    for status in ("running", "stopped", "error"):
        summary[status] = sum(row["status"] == status for row in rows)
    return {"bots": rows, "summary": summary}


def bot_test_result(bot: dict) -> dict:
    spec = BOT_TYPES_BY_NAME.get(bot.get("type"))
    result = {"bot_id": bot["id"], "type": bot.get("type"), "missing_fields": []}
    if spec is None:
        return {**result, "ok": False, "status": "failed", "latency_ms": None,
                "message": f"Unknown bot type: {bot.get('type')}"}
    config = {**spec["default_config"], **as_dict(bot.get("config"))}
    missing = [f for f in spec["config_schema"]["required"] if config.get(f) in ("", None)]
    if missing:
        return {**result, "ok": False, "status": "failed", "latency_ms": None,
                "missing_fields": missing, "message": f"Missing {', '.join(missing)}"}
    return {**result, "ok": True, "status": "connected", "latency_ms": latency_ms(bot["id"]),
            "message": f"{spec['name']} connection OK"}


@operation("testBot")
@operation("testBotById")
async def test_bot(ctx: Ctx):
    rid, bot = BOTS.existing(ctx)
    result = bot_test_result(bot)
    stats = ctx.sim.store.get_resource(BOT_STATS, rid) or {"bot_id": rid}
    stats.update(test_count=stats.get("test_count", 0) + 1, last_test_at=now_iso(),
                 last_test_ok=result["ok"],
                 error_count=stats.get("error_count", 0) + (not result["ok"]),
                 last_error=None if result["ok"] else result["message"])
    ctx.sim.store.put_resource(BOT_STATS, rid, stats, now_iso())
    return result


# -- providers and provider sources -------------------------------------------------------------
def source_type(config: dict) -> str:
    for key in ("type", "provider", "provider_type"):
        if isinstance(config.get(key), str) and config[key]:
            return config[key].lower()
    return ""


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


# -- cron ---------------------------------------------------------------------------------------
@operation("runCronJob")
async def run_cron_job(ctx: Ctx):
    """Run now: the job records the run (count, time, status); its schedule is unchanged."""
    rid, job = CRON_JOBS.existing(ctx)
    count = job["run_count"] if type(job.get("run_count")) is int else 0
    job = {**job, "run_count": count + 1, "last_run_at": now_iso(),
           "last_run_status": "succeeded"}
    return CRON_JOBS.save(ctx, rid, job)
