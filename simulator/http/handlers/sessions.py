"""Seed 004 tag Sessions (scope `data`): the known UMOs (those of chat sessions,
conversations and rules), session groups (CRUD from domain/resources.py) and the per-UMO session
rules (`session rule`, id = UMO, with AstrBot's rule keys: an unknown key is 400); batch
provider/service updates write the `provider_perf_<type>` and `session_service_config` rules
and check everything before the first write."""

from __future__ import annotations

from ..domain.conversation_store import CONVERSATION, page_of, umo_info, umo_of
from ..domain.im import parse_umo
from ..domain.resources import SESSION_GROUPS
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(SESSION_GROUPS, {
    "listSessionGroups": "list", "createSessionGroup": "create", "updateSessionGroup": "merge",
    "deleteSessionGroup": "delete"})


RULE = "session rule"
# the keys AstrBot's dashboard knows, listed as `available_rule_keys`; seed 004's rule_key is
# any text, so another key is stored and deleted like these
RULE_KEYS = ("session_service_config", "session_plugin_config", "kb_config",
             "provider_perf_chat_completion", "provider_perf_speech_to_text",
             "provider_perf_text_to_speech")


def known_umos(store) -> list[str]:
    umos = {umo_of(s) for s in store.all_chat_sessions()}
    umos.update(rule["umo"] for rule in store.list_resources(RULE))
    umos.update(c["user_id"] for c in store.list_resources(CONVERSATION))
    return sorted(umos)


# --- sessions (UMO status and rules) ----------------------------------------------------------
def _providers(store, kind: str) -> list[dict]:
    found = []
    for doc in store.list_resources("provider"):
        config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
        ptype = doc.get("provider_type") or config.get("provider_type") or "chat_completion"
        if ptype == kind:
            found.append({"id": doc.get("id"), "name": doc.get("id"),
                          "model": config.get("model") or doc.get("model")})
    return found


def _available(store) -> dict:
    return {f"available_{short}_providers": _providers(store, kind) for short, kind in (
        ("chat", "chat_completion"), ("stt", "speech_to_text"), ("tts", "text_to_speech"))}


def _rules(store) -> dict[str, dict]:
    return {r["umo"]: r["rules"] for r in store.list_resources(RULE)}


def _is_group(umo: str) -> bool:
    return umo_info(umo)["message_type"].lower() in ("groupmessage", "group")


def _status(umo: str, rules: dict | None) -> dict:
    service = (rules or {}).get("session_service_config")
    service = service if isinstance(service, dict) else {}
    return {**umo_info(umo), "custom_name": service.get("custom_name") or "",
            "session_enabled": service.get("session_enabled", True),
            "llm_enabled": service.get("llm_enabled", True),
            "tts_enabled": service.get("tts_enabled", True), "has_rules": rules is not None,
            "chat_provider": (rules or {}).get("provider_perf_chat_completion"),
            "stt_provider": (rules or {}).get("provider_perf_speech_to_text"),
            "tts_provider": (rules or {}).get("provider_perf_text_to_speech")}


@operation("listSessions")
async def list_sessions(ctx: Ctx):
    store, q = ctx.sim.store, ctx.query
    rules = _rules(store)
    rows = [_status(umo, rules.get(umo)) for umo in known_umos(store)]
    kind = q.get("message_type") or "all"
    if kind != "all":
        rows = [r for r in rows if _is_group(r["umo"]) == (kind == "group")]
    if q.get("platform"):
        rows = [r for r in rows if r["platform"] == q["platform"]]
    needle = str(q.get("search") or "").strip().lower()
    if needle:
        rows = [r for r in rows if needle in r["umo"].lower() or needle in r["custom_name"].lower()]
    return {"sessions": page_of(rows, q["page"], q["page_size"]), "total": len(rows),
            "page": q["page"], "page_size": q["page_size"],
            "platforms": sorted({r["platform"] for r in rows}), **_available(store)}


@operation("listActiveUmos")
async def list_active_umos(ctx: Ctx):
    umos = known_umos(ctx.sim.store)
    return {"umos": umos, "umo_infos": [umo_info(u) for u in umos]}


@operation("listSessionRules")
async def list_session_rules(ctx: Ctx):
    store, q = ctx.sim.store, ctx.query
    rows = [{**umo_info(umo), "rules": rules} for umo, rules in _rules(store).items()]
    needle = str(q.get("search") or "").strip().lower()
    if needle:
        rows = [r for r in rows if needle in r["umo"].lower()
                or needle in _status(r["umo"], r["rules"])["custom_name"].lower()]
    return {"rules": page_of(rows, q["page"], q["page_size"]), "total": len(rows),
            "page": q["page"], "page_size": q["page_size"],
            "available_rule_keys": list(RULE_KEYS), **_available(store)}


def _put_rules(store, umo: str, change) -> dict:
    record = store.get_resource(RULE, umo) or {"umo": umo, "rules": {}}
    change(record["rules"])
    store.put_resource(RULE, umo, record, now_iso())
    return record["rules"]


@operation("upsertSessionRule")
async def upsert_session_rule(ctx: Ctx):
    body = ctx.body
    parse_umo(body["umo"])
    if not body["rule_key"]:
        raise ApiError(400, "Missing key: rule_key")
    value = body.get("rule_value", {})
    rules = _put_rules(ctx.sim.store, body["umo"],
                       lambda r: r.__setitem__(body["rule_key"], value))
    return {"message": f"Rule {body['rule_key']} updated", "umo": body["umo"], "rules": rules}


def target_umos(store, body: dict) -> list[str]:
    """The UMOs a batch request names: `umos`, else `umo`, else every known UMO of `scope`
    (`custom_group`: the members of session group `group_id`). Named UMOs must be valid."""
    umos = list(body.get("umos") or ([body["umo"]] if body.get("umo") else []))
    for umo in umos:
        parse_umo(umo)
    scope = body.get("scope")
    if not umos and scope:
        if scope == "custom_group":
            group_id = body.get("group_id")  # optional in seed 004: a missing one names nothing
            group = store.get_resource("session group", str(group_id or ""))
            if group is None:
                raise ApiError(404, f"Session group {group_id!r} not found")
            umos = [u for u in group.get("umos") or [] if isinstance(u, str)]
        else:
            umos = [u for u in known_umos(store) if scope == "all"
                    or _is_group(u) == (scope == "group")]
        if not umos:
            raise ApiError(404, f"No session matches scope {scope}")
    # none named: an empty batch, nothing changes
    return list(dict.fromkeys(umos))


@operation("deleteSessionRules")
async def delete_session_rules(ctx: Ctx):
    store, body = ctx.sim.store, ctx.body or {}
    key = body.get("rule_key")  # any text (seed 004): a key no rule has deletes nothing
    umos = target_umos(store, body)
    single = body.get("umo") and not body.get("umos") and not body.get("scope")
    deleted = []
    for umo in umos:
        record = store.get_resource(RULE, umo)
        if record is None or (key and key not in record["rules"]):
            if single:
                raise ApiError(404, f"No {key or 'rules'} rule for {umo}")
            continue
        if key:
            del record["rules"][key]
        if key and record["rules"]:
            store.put_resource(RULE, umo, record, now_iso())
        else:
            store.delete_resource(RULE, umo)
        deleted.append(umo)
    return {"message": f"Deleted {'rule ' + key if key else 'all rules'} of {len(deleted)} "
                       "session(s)", "success_count": len(deleted), "deleted_umos": deleted}


# Seed 004 composes both batch bodies as allOf(UmoListRequest, {...}); UmoListRequest has
# `additionalProperties: false`, so strict validation refuses `provider_id` and the service
# flags before these handlers run (reported to the lead; tests call the handlers directly).
@operation("batchUpdateSessionProvider")
async def batch_update_session_provider(ctx: Ctx):
    store, body = ctx.sim.store, ctx.body
    if store.get_resource("provider", body["provider_id"]) is None:
        raise ApiError(404, f"Provider {body['provider_id']} not found")
    umos = target_umos(store, body)
    key = f"provider_perf_{body['provider_type']}"
    for umo in umos:
        _put_rules(store, umo, lambda r: r.__setitem__(key, body["provider_id"]))
    return {"message": f"Set {body['provider_type']} to {body['provider_id']} for "
                       f"{len(umos)} session(s)", "success_count": len(umos),
            "failed_count": 0, "failed_umos": [], "umos": umos}


@operation("batchUpdateSessionService")
async def batch_update_session_service(ctx: Ctx):
    store, body = ctx.sim.store, ctx.body or {}
    flags = {k: body[k] for k in ("session_enabled", "llm_enabled", "tts_enabled")
             if body.get(k) is not None}
    umos = target_umos(store, body)  # no flag given: the rules stay as they are

    def merge(rules: dict) -> None:
        current = rules.get("session_service_config")
        rules["session_service_config"] = {**(current if isinstance(current, dict) else {}),
                                           **flags}

    for umo in umos:
        _put_rules(store, umo, merge)
    return {"message": f"Updated {len(umos)} session(s)", "success_count": len(umos),
            "failed_count": 0, "failed_umos": [], "umos": umos, "changes": flags}
