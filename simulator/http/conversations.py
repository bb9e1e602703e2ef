"""Conversations and Sessions (seed 004 tags Conversations and Sessions, scope `data`): the
AstrBot-side conversation records and the per-UMO session rules. Registered through
chat_data.py, which imports this module.

Where data lives (SQLite resources):
- `conversation` (id = cid): one record per conversation {cid, user_id (the UMO), platform_id,
  session_id, title, persona_id, history, token_usage, created_at, updated_at}. Conversations
  derive from chat sessions: the first read after a chat session got messages creates its
  record (a `conversation link` keyed by session_id remembers it, so a deleted conversation is
  not derived again). While `history` is null the record follows the session's messages
  ({role, content} entries); replaceConversationMessages freezes its own history. Deleting a
  chat session deletes its conversation (chat_data.py calls `forget_session`).
- `session rule` (id = UMO): {umo, rules: {rule_key: value}} with AstrBot's rule keys.
  Batch provider/service updates write the `provider_perf_<type>` and
  `session_service_config` rules.

UMOs are `platform:MessageType:session`; a chat session's UMO is
`<platform>:FriendMessage:<platform>!<creator>!<session_id>` (as AstrBot's webchat builds it).
The known UMOs are those of chat sessions, conversations and rules.

Status codes: 400 invalid input (bad UMO, unknown rule key, empty lists, a history entry
without a valid role), 404 unknown conversation (or one of another user_id), rules, provider,
persona or session group. Batch deletes report the items they could not delete instead of
failing. The export answers a file: JSON Lines (`format: json`, as AstrBot exports) or
Markdown.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from aiohttp import web

from ..history import now_iso
from .envelope import ApiError
from .im import parse_umo
from .router import Ctx, operation

CONVERSATION = "conversation"
LINK = "conversation link"
RULE = "session rule"
RULE_KEYS = ("session_service_config", "session_plugin_config", "kb_config",
             "provider_perf_chat_completion", "provider_perf_speech_to_text",
             "provider_perf_text_to_speech")
ROLES = ("system", "user", "assistant", "tool")
BUILTIN_PERSONAS = ("default", "[%None]")


# --- UMOs -------------------------------------------------------------------------------------
def umo_of(session: dict) -> str:
    kind = "GroupMessage" if session["is_group"] else "FriendMessage"
    platform = session["platform_id"]
    return f"{platform}:{kind}:{platform}!{session['creator']}!{session['session_id']}"


def umo_info(umo: str) -> dict:
    platform, message_type, session_id = (umo.split(":", 2) + ["", ""])[:3]
    return {"umo": umo, "platform": platform, "message_type": message_type,
            "session_id": session_id}


def known_umos(store) -> list[str]:
    umos = {umo_of(s) for s in store.all_chat_sessions()}
    umos.update(rule["umo"] for rule in store.list_resources(RULE))
    umos.update(c["user_id"] for c in store.list_resources(CONVERSATION))
    return sorted(umos)


def csv(raw) -> list[str]:
    return [item.strip() for item in str(raw or "").split(",") if item.strip()]


def page_of(items: list, page: int, page_size: int) -> list:
    return items[(page - 1) * page_size: page * page_size]


# --- conversations ----------------------------------------------------------------------------
def sync(store) -> None:
    """Give every chat session that has messages its conversation record (once)."""
    for session in store.all_chat_sessions():
        sid = session["session_id"]
        if store.get_resource(LINK, sid) is not None or not store.messages(sid):
            continue
        cid = str(uuid.uuid4())
        record = {"cid": cid, "user_id": umo_of(session), "platform_id": session["platform_id"],
                  "session_id": sid, "title": session["display_name"], "persona_id": None,
                  "history": None, "token_usage": 0, "created_at": session["created_at"],
                  "updated_at": session["updated_at"]}
        store.put_resource(CONVERSATION, cid, record, record["created_at"])
        store.put_resource(LINK, sid, {"session_id": sid, "cid": cid}, now_iso())


def forget_session(store, session_id: str) -> None:
    """A chat session is gone: so are its conversation and the link to it."""
    link = store.get_resource(LINK, session_id)
    if link is not None:
        store.delete_resource(CONVERSATION, link["cid"])
        store.delete_resource(LINK, session_id)


def text_of(parts) -> str:
    if isinstance(parts, str):
        return parts
    return "".join(p.get("text") or "" for p in parts or []
                   if isinstance(p, dict) and p.get("type") == "plain")


def view(store, record: dict, include_history: bool = True) -> dict:
    updated_at = record["updated_at"]
    history = record["history"]
    if history is None:  # still following its chat session
        session = store.chat_session(record["session_id"]) if record.get("session_id") else None
        history = [{"role": "user" if m["role"] == "user" else "assistant",
                    "content": text_of(m["content"])}
                   for m in store.messages(record["session_id"])] if session else []
        updated_at = max(updated_at, session["updated_at"]) if session else updated_at
    data = {"platform_id": record["platform_id"], "user_id": record["user_id"],
            "cid": record["cid"], "title": record["title"], "persona_id": record["persona_id"],
            "token_usage": record["token_usage"], "created_at": record["created_at"],
            "updated_at": updated_at, "umo_info": umo_info(record["user_id"])}
    if include_history:
        data["history"] = history
    return data


def user_id_param(ctx: Ctx) -> str:
    user_id = str(ctx.query.get("user_id") or "").strip()
    if not user_id:  # the schema takes any string; an empty user owns no conversation
        raise ApiError(404, f"No conversation of user {user_id!r}")
    return user_id


def find(store, cid: str, user_id: str | None) -> dict:
    record = store.get_resource(CONVERSATION, cid)
    if record is None or (user_id is not None and record["user_id"] != user_id):
        raise ApiError(404, f"Conversation {cid} not found")
    return record


def _matches(conv: dict, ctx: Ctx) -> bool:
    q, info = ctx.query, umo_info(conv["user_id"])
    if q.get("platform_id") and conv["platform_id"] != q["platform_id"]:
        return False
    if q.get("user_id") and conv["user_id"] != q["user_id"]:
        return False
    if csv(q.get("platforms")) and conv["platform_id"] not in csv(q.get("platforms")):
        return False
    if conv["platform_id"] in csv(q.get("exclude_platforms")):
        return False
    types = [t.lower() for t in csv(q.get("message_types"))]
    if types and info["message_type"].lower() not in types:
        return False
    excluded = csv(q.get("exclude_ids"))
    if conv["user_id"] in excluded or info["session_id"] in excluded:
        return False
    needle = str(q.get("search") or "").strip().lower()
    if needle:
        haystack = [conv["cid"], conv["user_id"], conv["title"] or ""]
        haystack += [json.dumps(m.get("content"), ensure_ascii=False) for m in conv["history"]]
        if not any(needle in text.lower() for text in haystack):
            return False
    return True


@operation("listConversations")
async def list_conversations(ctx: Ctx):
    store = ctx.sim.store
    sync(store)
    convs = [view(store, c) for c in store.list_resources(CONVERSATION)]
    convs = sorted((c for c in convs if _matches(c, ctx)),
                   key=lambda c: (c["created_at"], c["cid"]), reverse=True)
    page, size = ctx.query["page"], ctx.query["page_size"]
    return {"conversations": page_of(convs, page, size),
            "pagination": {"page": page, "page_size": size, "total": len(convs),
                           "total_pages": max(1, -(-len(convs) // size))}}


@operation("getConversation")
async def get_conversation(ctx: Ctx):
    store = ctx.sim.store
    sync(store)
    return view(store, find(store, ctx.param("conversation_id"), user_id_param(ctx)))


@operation("updateConversation")
async def update_conversation(ctx: Ctx):
    store = ctx.sim.store
    sync(store)
    record = find(store, ctx.param("conversation_id"), user_id_param(ctx))
    body = ctx.body or {}
    persona = body.get("persona_id")
    if persona and persona not in BUILTIN_PERSONAS \
            and store.get_resource("persona", persona) is None:
        raise ApiError(404, f"Persona {persona} not found")
    if "title" in body:
        record["title"] = body["title"]
    if "persona_id" in body:
        record["persona_id"] = persona or None
    record["updated_at"] = now_iso()
    store.put_resource(CONVERSATION, record["cid"], record, record["created_at"])
    return view(store, record)


@operation("replaceConversationMessages")
async def replace_conversation_messages(ctx: Ctx):
    store = ctx.sim.store
    sync(store)
    body = ctx.body or {}
    user_id = str(body.get("user_id") or "").strip() or user_id_param(ctx)
    record = find(store, ctx.param("conversation_id"), user_id)
    history = body["history"] if "history" in body else body.get("messages")
    if history is None:
        raise ApiError(400, "Missing key: history (or messages)")
    for index, entry in enumerate(history):
        if entry.get("role") not in ROLES:
            raise ApiError(400, f"Invalid history[{index}].role: one of {', '.join(ROLES)}")
    record["history"] = history
    record["updated_at"] = now_iso()
    store.put_resource(CONVERSATION, record["cid"], record, record["created_at"])
    return view(store, record)


@operation("deleteConversation")
async def delete_conversation(ctx: Ctx):
    store = ctx.sim.store
    sync(store)
    record = find(store, ctx.param("conversation_id"), user_id_param(ctx))
    store.delete_resource(CONVERSATION, record["cid"])
    return {"cid": record["cid"], "user_id": record["user_id"]}


@operation("batchDeleteConversations")
async def batch_delete_conversations(ctx: Ctx):
    store = ctx.sim.store
    refs = ctx.body["conversations"]  # none named: nothing deleted
    sync(store)
    deleted, failed = 0, []
    for ref in refs:
        record = store.get_resource(CONVERSATION, ref["cid"])
        if record is None or record["user_id"] != ref["user_id"]:
            failed.append({"user_id": ref["user_id"], "cid": ref["cid"], "reason": "not found"})
            continue
        store.delete_resource(CONVERSATION, ref["cid"])
        deleted += 1
    return {"deleted_count": deleted, "failed_count": len(failed), "failed_items": failed}


def _markdown(records: list[dict]) -> str:
    lines = ["# AstrBot conversations export", ""]
    for rec in records:
        lines += [f"## {rec['title'] or rec['cid']}", "", f"- cid: `{rec['cid']}`",
                  f"- user_id: `{rec['user_id']}`", f"- platform: {rec['platform_id']}",
                  f"- persona: {rec['persona_id'] or '-'}", f"- created: {rec['created_at']}",
                  f"- updated: {rec['updated_at']}", ""]
        for entry in rec["content"]:
            content = entry.get("content")
            text = content if isinstance(content, str) else json.dumps(content,
                                                                       ensure_ascii=False)
            lines += [f"**{entry.get('role')}**: {text}", ""]
    return "\n".join(lines)


@operation("exportConversations")
async def export_conversations(ctx: Ctx):
    store = ctx.sim.store
    body = ctx.body or {}
    wanted = [(r["cid"], r["user_id"]) for r in body.get("conversations") or []]
    wanted += [(cid, None) for cid in body.get("conversation_ids") or []]
    sync(store)  # none named: an export of nothing
    records, seen, failed = [], set(), 0
    for cid, user_id in wanted:
        try:
            conv = view(store, find(store, cid, user_id))
        except ApiError:
            failed += 1
            continue
        if cid not in seen:
            seen.add(cid)
            records.append({**{k: conv[k] for k in ("cid", "user_id", "platform_id", "title",
                                                     "persona_id", "created_at",
                                                     "updated_at")},
                            "content": conv["history"]})
    if not records:
        raise ApiError(404, "None of the conversations to export was found")
    if body.get("format", "json") == "markdown":
        text, mime, name = _markdown(records), "text/markdown", "astrbot_conversations.md"
    else:
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
        mime, name = "application/jsonl", "astrbot_conversations.jsonl"
    return web.Response(body=text.encode(), headers={
        "Content-Type": f"{mime}; charset=utf-8",
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
        "X-Exported-Count": str(len(records)), "X-Failed-Count": str(failed)})


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


def _check_rule_key(key) -> None:
    if key and key not in RULE_KEYS:
        raise ApiError(400, f"Unsupported rule_key: {key} (one of {', '.join(RULE_KEYS)})")


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
    _check_rule_key(body["rule_key"])
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
    key = body.get("rule_key")
    _check_rule_key(key)
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
