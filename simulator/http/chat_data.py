"""Chat sessions, threads and projects (seed 004 tag Chat, scope `chat`) and the v1 files
(tag Files, scope `file`). Importing this module also registers conversations.py
(Conversations and Sessions, scope `data`).

Who is the caller: a dashboard JWT is its own user; an API-key caller names the user in the
`username` query parameter, as listChatSessions does (research SESS-001: absent → 400
`Missing key: username`, blank → 400 `username is empty`).

Where data lives: chat sessions and their messages in the store's chat_sessions / messages
tables (the ones POST /api/v1/chat and the WebSockets write); threads (`chat thread`),
projects (`chat project`) and project membership (`chat project session`, keyed by session id)
as resources; a thread's messages in the messages table under the thread id. Attachments in
the attachments table plus files under <data_dir>/attachments (shared with /api/v1/file);
file tokens as `file token` resources (and `attachment token`, the reverse map).

Rules (after AstrBot's ChatService, with 4xx codes instead of its 200 envelopes):
- unknown session / thread / project / message / attachment / token → 404; a session, thread
  or project of another user → 403 `Permission denied` (research VER-007), everywhere.
- getChatSession answers {session, history, threads, is_running, active_runs[, project]};
  a history entry is {id, content: {type: user|bot, message: [parts]}, llm_checkpoint_id, ...}.
- deleting a session deletes its messages, threads, project membership, conversation and
  the attachments its messages reference; stop is idempotent ({stopped_count: 0}).
- updateChatMessage edits only the latest user message (409 otherwise), gives it a new
  checkpoint and drops everything after it; regenerateChatMessage replaces the replies of
  the latest turn (target: its bot message, or the user message itself after an edit) with a
  new deterministic reply from ctx.sim.llm, streamed as SSE like POST /api/v1/chat (minus
  `user_message_saved`); an older turn → 409.
- createChatThread needs a bot message of the session (400 for a user message) and reuses the
  thread with the same parent message and selected text; sendChatThreadMessage streams a
  deterministic reply (SSE). Sessions in a project are left out of listChatSessions (SESS-003).
- Files: uploadFile stores like /api/v1/file and also answers `stored_name` and a
  `file_token`; getFileByName reads <data_dir>/attachments/<stored name> through paths.py
  (`..`, separators, absolute → 400); downloads are application/octet-stream.
"""

from __future__ import annotations

import mimetypes
import secrets
import uuid
from urllib.parse import quote

from aiohttp import web

from ..history import StoreHistory, now_iso
from ..store import PROJECT_MEMBER_KIND
from . import conversations
from .envelope import ApiError
from .forms import files_of, read_form
from .open_api import attachment_kind, chat_text, stream_reply
from .open_api import safe_name as upload_name
from .paths import inside, lookup, safe_name
from .router import Ctx, operation

THREAD = "chat thread"
PROJECT = "chat project"
MEMBER = PROJECT_MEMBER_KIND
TOKEN = "file token"
ATTACHMENT_TOKEN = "attachment token"
MAX_NAME_BYTES = 200  # of an uploaded file's name; the stored name adds a uuid and `_`


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


def entry(message: dict, platform_id: str, user_id: str) -> dict:
    return {"id": message["id"], "platform_id": platform_id, "user_id": user_id,
            "sender_id": message["sender"], "sender_name": message["sender"],
            "content": {"type": "user" if message["role"] == "user" else "bot",
                        "message": message["content"]},
            "llm_checkpoint_id": message["llm_checkpoint_id"],
            "interrupted": message["interrupted"], "created_at": message["created_at"],
            "updated_at": message["created_at"]}


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "creator"}


def threads_of(store, session_id: str) -> list[dict]:
    return [t for t in store.list_resources(THREAD) if t["parent_session_id"] == session_id]


def drop_threads(store, threads: list[dict]) -> None:
    for thread in threads:
        store.delete_messages(thread["thread_id"])
        store.delete_resource(THREAD, thread["thread_id"])


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


def delete_session(sim, session: dict) -> None:
    store, sid = sim.store, session["session_id"]
    for message in store.messages(sid):
        for part in message["content"] if isinstance(message["content"], list) else []:
            if isinstance(part, dict) and part.get("attachment_id"):
                remove_attachment(sim, part["attachment_id"])
    drop_threads(store, threads_of(store, sid))
    store.delete_resource(MEMBER, sid)
    conversations.forget_session(store, sid)
    store.delete_chat_session(sid)


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


def latest_user_message(messages: list[dict]) -> dict | None:
    return next((m for m in reversed(messages) if m["role"] == "user"), None)


def forget_replies(store, session_id: str, after: int) -> list[int]:
    """Delete the messages after `after`, and the threads hanging off them."""
    gone = store.delete_messages(session_id, after=after)
    drop_threads(store, [t for t in threads_of(store, session_id)
                         if t["parent_message_id"] in gone])
    return gone


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
    _, parts = chat_text(ctx, [p for p in content["message"] if isinstance(p, dict)])
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
    text, _ = chat_text(ctx, source["content"])
    return await stream_reply(ctx, sid, text, checkpoint,
                              bool((ctx.body or {}).get("enable_streaming", True)))


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
    text, parts = chat_text(ctx, ctx.body["message"])
    if not any(p["type"] != "reply" for p in parts):
        raise ApiError(400, "Message content is empty (reply only is not allowed)")
    tid, store = thread["thread_id"], ctx.sim.store
    thread["updated_at"] = now_iso()
    store.put_resource(THREAD, tid, thread, thread["created_at"])
    user_saved = StoreHistory(store).save(tid, user, "user", parts)
    return await stream_reply(ctx, tid, text, user_saved.llm_checkpoint_id,
                              ctx.body.get("enable_streaming", True), user_saved)


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


def members(store, project_id: str) -> list[dict]:
    return [m for m in store.list_resources(MEMBER) if m["project_id"] == project_id]


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


# --- files ------------------------------------------------------------------------------------
def folder(sim):
    return sim.config.data_dir / "attachments"


def token_for(store, attachment_id: str) -> str:
    """The attachment's file token, issued on first need (at upload for /api/v1/files)."""
    found = store.get_resource(ATTACHMENT_TOKEN, attachment_id)
    if found is not None:
        return found["token"]
    token, stamp = secrets.token_urlsafe(24), now_iso()
    store.put_resource(TOKEN, token, {"token": token, "attachment_id": attachment_id}, stamp)
    store.put_resource(ATTACHMENT_TOKEN, attachment_id, {"token": token}, stamp)
    return token


def attachment_view(store, row: dict) -> dict:
    return {"attachment_id": row["attachment_id"], "filename": row["filename"],
            "stored_name": row["stored_name"], "type": row["kind"],
            "mime_type": row["mime_type"], "size": row["size"], "created_at": row["created_at"],
            "file_token": token_for(store, row["attachment_id"])}


def remove_attachment(sim, attachment_id: str) -> bool:
    row = sim.store.attachment(attachment_id)
    if row is None:
        return False
    (folder(sim) / row["stored_name"]).unlink(missing_ok=True)
    token = sim.store.get_resource(ATTACHMENT_TOKEN, attachment_id)
    if token is not None:
        sim.store.delete_resource(TOKEN, token["token"])
        sim.store.delete_resource(ATTACHMENT_TOKEN, attachment_id)
    return sim.store.delete_attachment(attachment_id)


def disposition(name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(path, name: str) -> web.Response:
    return web.Response(body=path.read_bytes(), headers={
        "Content-Type": "application/octet-stream", "Content-Disposition": disposition(name)})


def fit(filename: str, limit: int = MAX_NAME_BYTES) -> str:
    """A file name short enough for `<uuid>_<name>` on any file system (the stem is cut, the
    suffix kept)."""
    if len(filename.encode()) <= limit:
        return filename
    stem, dot, suffix = filename.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = filename, ""
    while stem and len((stem + dot + suffix).encode()) > limit:
        stem = stem[:-1]
    return (stem + dot + suffix) if stem else uuid.uuid4().hex


@operation("uploadFile")
async def upload_v1_file(ctx: Ctx):
    files = files_of((await read_form(ctx)).get("file"))
    if len(files) != 1:
        raise ApiError(400, "Send exactly one file in the `file` field")
    upload = files[0]
    filename = fit(upload_name(upload.filename or ""))
    mime = upload.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    attachment_id = str(uuid.uuid4())
    stored = f"{attachment_id}_{filename}"
    folder(ctx.sim).mkdir(parents=True, exist_ok=True)
    (folder(ctx.sim) / stored).write_bytes(upload.data)
    row = {"attachment_id": attachment_id, "filename": filename, "stored_name": stored,
           "mime_type": mime, "kind": attachment_kind(mime), "size": len(upload.data),
           "created_at": now_iso()}
    ctx.sim.store.add_attachment(row)
    return attachment_view(ctx.sim.store, row)


@operation("getFileByName")
async def get_file_by_name(ctx: Ctx):
    name = lookup(lambda raw: safe_name(raw, "filename"), ctx.query.get("filename"), "File")
    if len(name.encode()) > 255:
        raise ApiError(400, "Invalid filename: longer than 255 bytes")
    path = inside(folder(ctx.sim), name, "filename")
    if not path.is_file():
        raise ApiError(404, f"File {name} not found")
    row = ctx.sim.store.attachment_by_stored_name(name)
    return file_response(path, row["filename"] if row else name)


def existing_attachment(ctx: Ctx, attachment_id: str) -> tuple[dict, object]:
    row = ctx.sim.store.attachment(attachment_id)
    path = folder(ctx.sim) / row["stored_name"] if row else None
    if row is None or not path.is_file():
        raise ApiError(404, f"Attachment {attachment_id} not found")
    return row, path


@operation("getTokenFile")
async def get_token_file(ctx: Ctx):
    token = ctx.sim.store.get_resource(TOKEN, ctx.param("file_token"))
    if token is None:
        raise ApiError(404, "File token not found")
    row, path = existing_attachment(ctx, token["attachment_id"])
    return file_response(path, row["filename"])


@operation("getAttachment")
async def get_attachment(ctx: Ctx):
    row, _ = existing_attachment(ctx, ctx.param("attachment_id"))
    return attachment_view(ctx.sim.store, row)


@operation("downloadAttachment")
async def download_attachment(ctx: Ctx):
    row, path = existing_attachment(ctx, ctx.param("attachment_id"))
    return file_response(path, row["filename"])


@operation("deleteAttachment")
async def delete_attachment(ctx: Ctx):
    attachment_id = ctx.param("attachment_id")
    if not remove_attachment(ctx.sim, attachment_id):
        raise ApiError(404, f"Attachment {attachment_id} not found")
    return {"attachment_id": attachment_id}
