"""Seed 004 tag Conversations (scope `data`): the AstrBot-side conversation records. One
record per conversation {cid, user_id (the UMO), platform_id, session_id, title, persona_id,
history, token_usage, created_at, updated_at}, derived from chat sessions: the first read after
a chat session got messages creates its record (a `conversation link` keyed by session_id
remembers it, so a deleted conversation is not derived again). While `history` is null the
record follows the session's messages; replaceConversationMessages freezes its own history.
Batch deletes report the items they could not delete instead of failing; the export is JSON
Lines (`format: json`, as AstrBot exports) or Markdown."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from aiohttp import web

from ..domain.conversation_store import CONVERSATION, LINK, page_of, umo_info, umo_of
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
ROLES = ("system", "user", "assistant", "tool")
BUILTIN_PERSONAS = ("default", "[%None]")


def csv(raw) -> list[str]:
    return [item.strip() for item in str(raw or "").split(",") if item.strip()]


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
