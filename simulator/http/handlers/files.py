"""Seed 004 tag Files (scope `file`): uploadFile stores like /api/v1/file and also answers
`stored_name` and a `file_token`; getFileByName reads <data_dir>/attachments/<stored name>
through kernel/paths.py (`..`, separators, absolute -> 400); attachments by id or token;
downloads are application/octet-stream."""

from __future__ import annotations

import mimetypes
import secrets
import uuid
from urllib.parse import quote

from aiohttp import web

from ..domain.attachments import attachment_kind
from ..domain.attachments import safe_name as upload_name
from ..domain.chat_store import ATTACHMENT_TOKEN, TOKEN, folder, remove_attachment
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.forms import files_of, read_form
from ..kernel.paths import inside, lookup, safe_name
from ..kernel.router import Ctx, Operations

operation = Operations()
MAX_NAME_BYTES = 200  # of an uploaded file's name; the stored name adds a uuid and `_`


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
    try:
        ctx.sim.store.add_attachment(row)
    except BaseException:  # no file without its row (issue 15)
        (folder(ctx.sim) / stored).unlink(missing_ok=True)
        raise
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
