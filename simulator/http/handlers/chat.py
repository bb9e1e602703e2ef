"""Seed 004 tag Chat (scope `chat`): POST /api/v1/chat (SSE, domain/chat.py), chat sessions,
their messages (edit, regenerate), threads and projects, and the Open API's session and config
lists.

Who is the caller: a dashboard JWT is its own user; an API-key caller names the user in the
`username` query parameter (research SESS-001: absent -> 400 `Missing key: username`, blank ->
400 `username is empty`). Unknown session / thread / project / message -> 404; one of another
user -> 403 `Permission denied` (research VER-007). updateChatMessage edits only the latest user
message (409 otherwise) and drops everything after it; regenerateChatMessage replaces the
replies of the latest turn with a new deterministic reply streamed like POST /api/v1/chat;
createChatThread needs a bot message of the session (400 for a user message) and reuses the
thread with the same parent message and selected text. Sessions in a project are left out of
listChatSessions (SESS-003); its page_size is capped at 100 (NOTE-PAGE-SIZE)."""

from __future__ import annotations

import uuid

from ...history import Saved, StoreHistory
from ..domain import chat
from ..domain.chat_store import (
    MEMBER,
    PROJECT,
    THREAD,
    delete_session,
    drop_threads,
    entry,
    forget_replies,
    latest_user_message,
    members,
    public,
    threads_of,
)
from ..domain.configuration import config_files
from ..kernel import sse
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


# --- who, and what they own -------------------------------------------------------------------
def caller(ctx: Ctx) -> str:
    if ctx.principal.kind != "api_key":
        return ctx.principal.username
    username = ctx.request.query.get("username")
    if username is None:
        raise ApiError(400, "Missing key: username")
    if not username.strip():
        raise ApiError(400, "username is empty")
    return username.strip()


def owned_session(ctx: Ctx, session_id: str | None = None) -> tuple[str, dict]:
    user = caller(ctx)
    sid = session_id if session_id is not None else ctx.param("session_id")
    session = ctx.sim.store.chat_session(sid)
    if session is None:
        raise ApiError(404, f"Session {sid} not found")
    if session["creator"] != user:
        raise ApiError(403, "Permission denied")
    return user, session


def owned(ctx: Ctx, kind: str, param: str) -> tuple[str, dict]:
    user = caller(ctx)
    rid = ctx.param(param)
    found = ctx.sim.store.get_resource(kind, rid)
    if found is None:
        raise ApiError(404, f"{kind.split()[-1].capitalize()} {rid} not found")
    if found["creator"] != user:
        raise ApiError(403, "Permission denied")
    return user, found


def session_message(ctx: Ctx, session_id: str) -> dict:
    raw = ctx.param("message_id")
    try:
        found = ctx.sim.store.message(int(raw.strip()))
    except ValueError:
        found = None
    if found is None or found["session_id"] != session_id:
        raise ApiError(404, f"Message {raw} not found in session {session_id}")
    return found


# --- sessions ---------------------------------------------------------------------------------
@operation("createChatSession")
async def create_chat_session(ctx: Ctx):
    user = caller(ctx)
    platform_id = str(ctx.query.get("platform_id") or "").strip() or "webchat"
    sid = str(uuid.uuid4())
    ctx.sim.store.add_chat_session(sid, user, now_iso(), platform_id)
    return ctx.sim.store.chat_session(sid)


@operation("getChatSession")
async def get_chat_session(ctx: Ctx):
    user, session = owned_session(ctx)
    store, sid = ctx.sim.store, session["session_id"]
    data = {"session": session,
            "history": [entry(m, session["platform_id"], sid) for m in store.messages(sid)],
            "threads": [public(t) for t in threads_of(store, sid)],
            "is_running": False, "active_runs": []}
    member = store.get_resource(MEMBER, sid)
    project = store.get_resource(PROJECT, member["project_id"]) if member else None
    if project is not None:
        data["project"] = {k: project[k] for k in ("project_id", "title", "emoji")}
    return data


@operation("updateChatSession")
async def update_chat_session(ctx: Ctx):
    _, session = owned_session(ctx)
    sid = session["session_id"]
    if (ctx.body or {}).get("display_name") is not None:
        ctx.sim.store.update_chat_session(sid, now_iso(), ctx.body["display_name"])
    return ctx.sim.store.chat_session(sid)


@operation("deleteChatSession")
async def delete_chat_session(ctx: Ctx):
    _, session = owned_session(ctx)
    delete_session(ctx.sim, session)
    return {"session_id": session["session_id"]}


@operation("batchDeleteChatSessions")
async def batch_delete_chat_sessions(ctx: Ctx):
    user = caller(ctx)
    ids = ctx.body["session_ids"]  # none named: nothing deleted
    deleted, failed = 0, []
    for sid in ids:
        session = ctx.sim.store.chat_session(sid)
        if session is None or session["creator"] != user:
            failed.append({"session_id": sid,
                           "reason": "not found" if session is None else "permission denied"})
            continue
        delete_session(ctx.sim, session)
        deleted += 1
    return {"deleted_count": deleted, "failed_count": len(failed), "failed_items": failed}


@operation("stopChatSession")
async def stop_chat_session(ctx: Ctx):
    _, session = owned_session(ctx)
    return {"session_id": session["session_id"], "stopped_count": 0}


@operation("updateChatMessage")
async def update_chat_message(ctx: Ctx):
    _, session = owned_session(ctx)
    store, sid = ctx.sim.store, session["session_id"]
    message = session_message(ctx, sid)
    content = ctx.body["content"]
    if content.get("type") not in ("user", "bot"):
        raise ApiError(400, "Invalid key: content.type (user or bot)")
    if not isinstance(content.get("message"), list):
        raise ApiError(400, "Missing key: content.message (a list of message parts)")
    if content["type"] != ("user" if message["role"] == "user" else "bot"):
        raise ApiError(400, "Message type cannot be changed")
    if content["type"] != "user":
        raise ApiError(409, "Only user messages can be edited")
    if latest_user_message(store.messages(sid))["id"] != message["id"]:
        raise ApiError(409, "Only the latest user message can be edited")
    _, parts = chat.chat_text(ctx.sim.store, [p for p in content["message"] if isinstance(p, dict)])
    if not any(p["type"] != "reply" for p in parts):
        raise ApiError(400, "Message content is empty (reply only is not allowed)")
    store.update_message(message["id"], content=parts, checkpoint=str(uuid.uuid4()))
    gone = forget_replies(store, sid, message["id"])
    store.update_chat_session(sid, now_iso())
    return {"message": entry(store.message(message["id"]), session["platform_id"], sid),
            "needs_regenerate": True, "truncated_after_message": True,
            "deleted_message_ids": gone}


@operation("regenerateChatMessage")
async def regenerate_chat_message(ctx: Ctx):
    _, session = owned_session(ctx)
    store, sid = ctx.sim.store, session["session_id"]
    target = session_message(ctx, sid)
    messages = store.messages(sid)
    earlier = [m for m in messages if m["role"] == "user" and m["id"] <= target["id"]]
    # the user message of the target's turn: same checkpoint, else the closest before it
    source = next((m for m in reversed(earlier)
                   if m["llm_checkpoint_id"] == target["llm_checkpoint_id"]),
                  earlier[-1] if earlier else None)
    if source is None:
        raise ApiError(409, "No user message to answer before this message")
    if latest_user_message(messages)["id"] != source["id"]:
        raise ApiError(409, "Regenerating older turns requires branching")
    checkpoint = str(uuid.uuid4())
    forget_replies(store, sid, source["id"])
    store.update_message(source["id"], checkpoint=checkpoint)
    text, _ = chat.chat_text(ctx.sim.store, source["content"])
    return await sse.stream(ctx.request, chat.reply_events(
        ctx.sim, sid, text, checkpoint, bool((ctx.body or {}).get("enable_streaming", True))))


# --- threads ----------------------------------------------------------------------------------
@operation("createChatThread")
async def create_chat_thread(ctx: Ctx):
    body, store = ctx.body, ctx.sim.store
    user, session = owned_session(ctx, body["session_id"])  # an unknown session first: 404
    selected = body["selected_text"].strip()
    if not selected:
        raise ApiError(400, "Missing key: selected_text")
    try:
        parent_id = int(str(body["parent_message_id"]).strip())
    except ValueError:
        raise ApiError(404, f"Message {body['parent_message_id']!r} not found") from None
    sid = session["session_id"]
    parent = store.message(parent_id)
    if parent is None or parent["session_id"] != sid:
        raise ApiError(404, "Parent message not found")
    if parent["role"] == "user":
        raise ApiError(400, "Only bot messages can create threads")
    for thread in threads_of(store, sid):
        if (thread["parent_message_id"], thread["selected_text"]) == (parent_id, selected):
            return public(thread)
    stamp = now_iso()
    thread = {"thread_id": str(uuid.uuid4()), "creator": user, "parent_session_id": sid,
              "parent_message_id": parent_id, "base_checkpoint_id": parent["llm_checkpoint_id"],
              "selected_text": selected, "created_at": stamp, "updated_at": stamp}
    store.put_resource(THREAD, thread["thread_id"], thread, stamp)
    return public(thread)


@operation("getChatThread")
async def get_chat_thread(ctx: Ctx):
    user, thread = owned(ctx, THREAD, "thread_id")
    tid = thread["thread_id"]
    return {"thread": public(thread),
            "history": [entry(m, "webchat_thread", tid) for m in ctx.sim.store.messages(tid)],
            "is_running": False, "active_runs": []}


@operation("deleteChatThread")
async def delete_chat_thread(ctx: Ctx):
    _, thread = owned(ctx, THREAD, "thread_id")
    drop_threads(ctx.sim.store, [thread])
    return {"thread_id": thread["thread_id"]}


@operation("sendChatThreadMessage")
async def send_chat_thread_message(ctx: Ctx):
    user, thread = owned(ctx, THREAD, "thread_id")
    text, parts = chat.chat_text(ctx.sim.store, ctx.body["message"])
    if not any(p["type"] != "reply" for p in parts):
        raise ApiError(400, "Message content is empty (reply only is not allowed)")
    tid, store = thread["thread_id"], ctx.sim.store
    thread["updated_at"] = now_iso()
    store.put_resource(THREAD, tid, thread, thread["created_at"])
    user_saved = StoreHistory(store).save(tid, user, "user", parts)
    return await sse.stream(ctx.request, chat.reply_events(
        ctx.sim, tid, text, user_saved.llm_checkpoint_id, ctx.body.get("enable_streaming", True),
        user_saved))


# --- projects ---------------------------------------------------------------------------------
@operation("listChatProjects")
async def list_chat_projects(ctx: Ctx):
    user = caller(ctx)
    return [public(p) for p in ctx.sim.store.list_resources(PROJECT) if p["creator"] == user]


@operation("createChatProject")
async def create_chat_project(ctx: Ctx):
    user, body = caller(ctx), ctx.body or {}
    # seed 004 does not require a title (AstrBot's dashboard always sends one)
    title = str(body.get("title") or "").strip() or "Untitled project"
    stamp = now_iso()
    project = {"project_id": str(uuid.uuid4()), "creator": user, "title": title,
               "emoji": body.get("emoji") or "📁", "description": body.get("description"),
               "created_at": stamp, "updated_at": stamp}
    ctx.sim.store.put_resource(PROJECT, project["project_id"], project, stamp)
    return public(project)


@operation("getChatProject")
async def get_chat_project(ctx: Ctx):
    return public(owned(ctx, PROJECT, "project_id")[1])


@operation("updateChatProject")
async def update_chat_project(ctx: Ctx):
    _, project = owned(ctx, PROJECT, "project_id")
    body = ctx.body or {}
    project.update({k: ((v.strip() or project["title"]) if k == "title" else v)
                    for k, v in body.items()})
    project["updated_at"] = now_iso()
    ctx.sim.store.put_resource(PROJECT, project["project_id"], project, project["created_at"])
    return public(project)


@operation("deleteChatProject")
async def delete_chat_project(ctx: Ctx):
    _, project = owned(ctx, PROJECT, "project_id")
    store, pid = ctx.sim.store, project["project_id"]
    for member in members(store, pid):
        store.delete_resource(MEMBER, member["session_id"])
    store.delete_resource(PROJECT, pid)
    return {"project_id": pid}


@operation("listChatProjectSessions")
async def list_chat_project_sessions(ctx: Ctx):
    _, project = owned(ctx, PROJECT, "project_id")
    store = ctx.sim.store
    sessions = [store.chat_session(m["session_id"]) for m in members(store,
                                                                      project["project_id"])]
    return sorted((s for s in sessions if s), key=lambda s: (s["updated_at"], s["session_id"]),
                  reverse=True)


@operation("addChatProjectSession")
async def add_chat_project_session(ctx: Ctx):
    _, project = owned(ctx, PROJECT, "project_id")
    _, session = owned_session(ctx)
    member = {"session_id": session["session_id"], "project_id": project["project_id"],
              "added_at": now_iso()}
    ctx.sim.store.put_resource(MEMBER, session["session_id"], member, member["added_at"])
    return member


@operation("removeChatProjectSession")
async def remove_chat_project_session(ctx: Ctx):
    _, session = owned_session(ctx)
    member = ctx.sim.store.get_resource(MEMBER, session["session_id"])
    if member is None:
        raise ApiError(404, f"Session {session['session_id']} is not in a project")
    ctx.sim.store.delete_resource(MEMBER, session["session_id"])
    return member


MAX_PAGE_SIZE = 200  # seed 004 PageSize (seed 002 says 100)


LEGACY_MAX_PAGE_SIZE = 100  # seed 002, for the one operation both documents declare


@operation("sendChatMessage")
async def send_chat_message(ctx: Ctx):
    body, principal = ctx.body, ctx.principal
    history = StoreHistory(ctx.sim.store)
    if principal.kind == "api_key":
        if body.get("username") is None:
            raise ApiError(400, "Missing key: username")
        username = body["username"].strip()
        if not username:
            raise ApiError(400, "username is empty")
    else:
        username = principal.username
    session_id = str(body.get("session_id") or body.get("conversation_id") or "").strip() \
        or str(uuid.uuid4())
    owner = history.owner(session_id)
    if owner is not None and owner != username:
        raise ApiError(403, "session_id belongs to another username")
    config_id = body.get("config_id")
    if config_id not in (None, "", "default"):
        raise ApiError(404, f"config_id not found: {config_id}")
    text, parts = chat.chat_text(ctx.sim.store, body["message"])
    if not any(p["type"] != "reply" for p in parts):
        raise ApiError(400, "Message content is empty (reply only is not allowed)")
    user_saved = open_chat(ctx, session_id, username, parts)  # one transaction
    return await sse.stream(ctx.request, chat.reply_events(
        ctx.sim, session_id, text, user_saved.llm_checkpoint_id,
        body.get("enable_streaming", True), user_saved))


def open_chat(ctx: Ctx, session_id: str, username: str, parts: list) -> Saved:
    """The session (when new) and the user message, written together after every check: a
    refused request leaves no session row behind (issue 15)."""
    stamp, checkpoint = now_iso(), str(uuid.uuid4())
    row = ctx.sim.store.open_chat(session_id, username, stamp, parts, checkpoint)
    return Saved(row, stamp, checkpoint)


def _int_param(ctx: Ctx, name: str, default: int) -> int:
    raw = ctx.request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise ApiError(400, "page and page_size must be integers") from exc


@operation("listChatSessions")
async def list_chat_sessions(ctx: Ctx):
    if ctx.principal.kind == "api_key":
        username = ctx.request.query.get("username")
        if username is None:
            raise ApiError(400, "Missing key: username")
        if not username.strip():
            raise ApiError(400, "username is empty")
    else:
        username = ctx.principal.username
    page = max(1, _int_param(ctx, "page", 1))
    page_size = min(MAX_PAGE_SIZE, max(1, _int_param(ctx, "page_size", 20)))
    if _int_param(ctx, "page_size", 20) > LEGACY_MAX_PAGE_SIZE:
        # seed 002 caps this operation's page_size at 100 (seed 004's PageSize says 200):
        # refusing above 100 satisfies both (specs/contract-notes.yaml NOTE-PAGE-SIZE)
        raise ApiError(400, f"Invalid query parameter page_size: above the maximum "
                            f"{LEGACY_MAX_PAGE_SIZE}")
    sessions, total = ctx.sim.store.list_chat_sessions(
        username.strip(), page, page_size, ctx.request.query.get("platform_id") or None)
    return {"sessions": sessions, "page": page, "page_size": page_size, "total": total}


@operation("listChatConfigs")
async def list_chat_configs(ctx: Ctx):
    return {"info_list": [{k: c[k] for k in ("id", "name", "path")}
                          for c in config_files(ctx.sim)]}
