"""Seed 004 tag Open API: attachments of the Open API (upload and download, research FILE-002,
FILE-003), kept in the attachments table and under <data_dir>/attachments."""

from __future__ import annotations

import mimetypes
import uuid

from aiohttp import web

from ..domain.attachments import attachment_kind, safe_name
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.jsonbody import scrub
from ..kernel.router import Ctx, Operations

operation = Operations()


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
        filename = fit_name(safe_name(scrub(part.filename or "")))
        mime = scrub(part.headers.get("Content-Type") or mimetypes.guess_type(filename)[0]
                     or "application/octet-stream")
        data = await part.read(decode=False)
        attachment_id = str(uuid.uuid4())
        folder = ctx.sim.config.data_dir / "attachments"
        folder.mkdir(parents=True, exist_ok=True)
        stored = f"{attachment_id}_{filename}"
        (folder / stored).write_bytes(data)
        try:
            ctx.sim.store.add_attachment({
                "attachment_id": attachment_id, "filename": filename, "stored_name": stored,
                "mime_type": mime, "kind": attachment_kind(mime), "size": len(data),
                "created_at": now_iso()})
        except BaseException:  # no file without its row (issue 15)
            (folder / stored).unlink(missing_ok=True)
            raise
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
