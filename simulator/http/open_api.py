"""The Open API (seeds 002/003; seed 004 `sendChatMessage`, `listChatSessions`,
`listChatConfigs`, `uploadOpenApiFile`, `downloadOpenApiFile`): chat over SSE, chat sessions,
config files, attachments. Where the seeds are silent the research behaviours are followed
(SSE-001..SSE-010, SESS-001..SESS-004, CFG-001/002, FILE-002/003), except that errors use
4xx status codes (the simulator's rule, see envelope.py) instead of AstrBot's 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import uuid
from pathlib import PurePosixPath
from urllib.parse import unquote

from aiohttp import web

from ..backends.llm import LLMFailure
from ..history import StoreHistory, now_iso
from .envelope import ApiError
from .router import Ctx, operation

HEARTBEAT_SECONDS = 1.0  # SSE-003: a comment line after each silent second
MAX_PAGE_SIZE = 200  # seed 004 PageSize (seed 002 says 100)
LEGACY_MAX_PAGE_SIZE = 100  # seed 002, for the one operation both documents declare
MEDIA = ("image", "record", "file", "video")


def chat_text(ctx: Ctx, message) -> tuple[str, list[dict]]:
    """The text the LLM gets and the parts kept in history (research CHAT-010: unknown parts
    and parts naming a missing attachment are dropped; reply alone is not content)."""
    if isinstance(message, str):
        text = message.strip()
        return text, ([{"type": "plain", "text": text}] if text else [])
    kept = []
    for part in message:
        kind = part.get("type")
        if kind in ("plain", "text") and part.get("text"):  # seed 004 MessagePart adds `text`
            kept.append({"type": "plain", "text": part["text"]})
        elif kind == "reply" and part.get("message_id"):
            kept.append({"type": "reply", "message_id": part["message_id"],
                         "selected_text": part.get("selected_text", "")})
        elif kind in (*MEDIA, "audio") and part.get("attachment_id"):  # seed 004: `audio`
            stored = ctx.sim.store.attachment(part["attachment_id"])
            if stored:
                kept.append({"type": stored["kind"], "attachment_id": stored["attachment_id"],
                             "filename": stored["filename"]})
    text = "".join(p["text"] for p in kept if p["type"] == "plain")
    return text, kept


def sse(event: dict) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


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
    text, parts = chat_text(ctx, body["message"])
    if not any(p["type"] != "reply" for p in parts):
        raise ApiError(400, "Message content is empty (reply only is not allowed)")
    history.ensure_session(session_id, username)
    user_saved = history.save(session_id, username, "user", parts)
    return await stream_reply(ctx, session_id, text, user_saved.llm_checkpoint_id,
                              body.get("enable_streaming", True), user_saved)


async def stream_reply(ctx: Ctx, session_id: str, text: str, checkpoint: str,
                       streaming: bool, user_saved=None) -> web.StreamResponse:
    """The POST /api/v1/chat event sequence for one deterministic bot reply, saved under
    `session_id` with `checkpoint`."""
    history, loop = StoreHistory(ctx.sim.store), asyncio.get_running_loop()
    message_id = str(uuid.uuid4())
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    await response.prepare(ctx.request)
    await response.write(sse({"type": "session_id", "data": None, "session_id": session_id}))
    if user_saved is not None:
        await response.write(sse({"type": "user_message_saved", "data": user_saved.as_data()}))
    reply, started, first = "", loop.time(), None
    try:
        async for delta in heartbeats(ctx.sim.llm.stream(text), response):
            first = first or loop.time()
            reply += delta
            if streaming:
                await response.write(sse({"type": "plain", "data": delta, "streaming": True,
                                          "chain_type": None, "message_id": message_id}))
    except LLMFailure as exc:
        await response.write(sse({"type": "error", "data": f"Processing failed: {exc}"}))
    finally:  # a client that went away still gets its partial reply kept (SSE-014)
        saved = history.save(session_id, "bot", "assistant", [{"type": "plain", "text": reply}],
                             checkpoint)
    done = loop.time()
    if not streaming:
        await response.write(sse({"type": "plain", "data": reply, "streaming": False,
                                  "chain_type": None, "message_id": message_id}))
    await response.write(sse({"type": "agent_stats", "data": {
        "token_usage": {"input_other": 0, "input_cached": 0, "output": len(reply.split())},
        "start_time": started, "end_time": done,
        "time_to_first_token": (first or done) - started}}))
    if streaming:
        await response.write(sse({"type": "complete", "data": reply, "reasoning": "",
                                  "streaming": True, "message_id": message_id}))
    await response.write(sse({"type": "message_saved", "data": saved.as_data()}))
    await response.write(sse({"type": "end", "data": "", "streaming": False,
                              "message_id": message_id}))
    await response.write_eof()
    return response


async def heartbeats(deltas, response: web.StreamResponse):
    """The deltas of `deltas`, writing `: heartbeat` whenever a second passes without one."""
    iterator = deltas.__aiter__()
    pending = asyncio.ensure_future(iterator.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_SECONDS)
            if not done:
                await response.write(b": heartbeat\n\n")
                continue
            try:
                yield pending.result()
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(iterator.__anext__())
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, LLMFailure):
            await pending


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


def _config_files(ctx: Ctx) -> list[dict]:
    path = str(ctx.sim.config.data_dir.resolve() / "config" / "default.json")
    return [{"id": "default", "name": "default", "path": path, "is_default": True}]


@operation("legacy GET /api/v1/configs")
async def list_configs(ctx: Ctx):
    return {"configs": _config_files(ctx)}


@operation("listChatConfigs")
async def list_chat_configs(ctx: Ctx):
    return {"info_list": [{k: c[k] for k in ("id", "name", "path")} for c in _config_files(ctx)]}


def attachment_kind(mime: str) -> str:
    """FILE-002: the attachment type from the part's content type."""
    for prefix, kind in (("image/", "image"), ("audio/", "record"), ("video/", "video")):
        if mime.startswith(prefix):
            return kind
    return "file"


def safe_name(name: str) -> str:
    """Only a base name is kept: no directories (also percent-encoded), no `..`, no NUL
    (FILE-003)."""
    name = unquote(name).replace("\\", "/").replace("\x00", "")
    base = PurePosixPath(name).name.strip()
    return base if base not in ("", ".", "..") else uuid.uuid4().hex


def fit_name(filename: str, limit: int = 200) -> str:
    """Short enough for `<uuid>_<name>` on any file system: the stem is cut, the suffix kept."""
    if len(filename.encode()) <= limit:
        return filename
    stem, dot, suffix = filename.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, dot, suffix = filename, "", ""
    while stem and len((stem + dot + suffix).encode()) > limit:
        stem = stem[:-1]
    return (stem + dot + suffix) if stem else uuid.uuid4().hex


@operation("uploadOpenApiFile")
async def upload_file(ctx: Ctx):
    if not ctx.request.content_type.startswith("multipart/"):
        raise ApiError(400, "Expected multipart/form-data with a `file` field")
    try:
        reader = await ctx.request.multipart()
    except (ValueError, AssertionError) as exc:  # e.g. no boundary
        raise ApiError(400, f"Malformed multipart body: {exc}") from exc
    async for part in reader:
        if part.name != "file":
            continue
        filename = fit_name(safe_name(part.filename or ""))
        mime = part.headers.get("Content-Type") or mimetypes.guess_type(filename)[0] \
            or "application/octet-stream"
        data = await part.read(decode=False)
        attachment_id = str(uuid.uuid4())
        folder = ctx.sim.config.data_dir / "attachments"
        folder.mkdir(parents=True, exist_ok=True)
        stored = f"{attachment_id}_{filename}"
        (folder / stored).write_bytes(data)
        ctx.sim.store.add_attachment({
            "attachment_id": attachment_id, "filename": filename, "stored_name": stored,
            "mime_type": mime, "kind": attachment_kind(mime), "size": len(data),
            "created_at": now_iso()})
        return {"attachment_id": attachment_id, "filename": filename,
                "type": attachment_kind(mime)}
    raise ApiError(400, "Missing multipart field: file")


@operation("downloadOpenApiFile")
async def download_file(ctx: Ctx):
    attachment_id = ctx.request.query.get("attachment_id")
    if attachment_id is None or not attachment_id.strip():
        raise ApiError(400, "Missing key: attachment_id")
    row = ctx.sim.store.attachment(attachment_id.strip())
    path = ctx.sim.config.data_dir / "attachments" / row["stored_name"] if row else None
    if row is None or not path.is_file():
        raise ApiError(404, "Attachment not found")
    return web.Response(body=path.read_bytes(), headers={
        "Content-Type": row["mime_type"],
        "Content-Disposition": f'attachment; filename="{row["filename"]}"'})
