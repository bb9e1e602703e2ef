"""Seed 004 tag Backups: list, create (a task), upload (whole or in chunks), download, rename,
delete, check and import backups (the archive format is domain/backups.py). Every `filename` is
one safe segment ending in `.zip` (an unknown name is a 404, a bad one a 400); an import takes
effect after a restart."""

from __future__ import annotations

import json
import logging
import math
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from ..domain.backups import (
    BACKUP_KINDS,
    MAX_BACKUP_BYTES,
    backup_path,
    backups_dir,
    describe,
    inspect_backup,
    sections_of,
    store_new_backup,
    write_backup,
)
from ..domain.system import installed_versions, read_task
from ..kernel import tasks
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.forms import FormFile, read_form
from ..kernel.paths import escapes, lookup, safe_name, sanitize_name
from ..kernel.router import Ctx, Operations

operation = Operations()
UPLOAD_KIND = "backup upload"
CHUNK_SIZE = 1024 * 1024


@operation("listBackups")
async def list_backups(ctx: Ctx):
    page, page_size = ctx.query["page"], ctx.query["page_size"]
    files = [p for p in backups_dir(ctx.sim).iterdir()
             if p.is_file() and p.suffix.lower() == ".zip" and not p.name.startswith(".")]
    files.sort(key=lambda p: (-p.stat().st_mtime_ns, p.name))
    chosen = files[(page - 1) * page_size: page * page_size]
    return {"items": [describe(p) for p in chosen], "total": len(files), "page": page,
            "page_size": page_size}


@operation("createBackup")
async def create_backup(ctx: Ctx):
    body, available = ctx.body or {}, sections_of(ctx.sim)
    # a section the simulator does not have is left out, as AstrBot's exporter skips names
    # it does not know (the contract lists no sections)
    include = [s for s in body.get("include") or [] if s in available] or available
    sections = [s for s in available if s in include and s not in body.get("exclude", [])]
    if not sections:
        raise ApiError(400, "Nothing to back up: include/exclude leave no section")
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    path = backups_dir(ctx.sim) / f"astrbot_backup_{stamp}_{uuid.uuid4().hex[:6]}.zip"
    manifest = write_backup(ctx.sim, path, sections)
    result = {**describe(path), "sections": sections, "file_count": len(manifest["files"])}
    task = tasks.start(ctx.sim.store, "backup_export", 2, result=result, filename=path.name)
    ctx.sim.events.event(logging.INFO, "backup %s created (%d bytes)", path.name, result["size"])
    return {**task, "filename": path.name}


@operation("getBackupProgress")
async def get_backup_progress(ctx: Ctx):
    task, finished = read_task(ctx.sim.store, ctx.param("task_id"), BACKUP_KINDS)
    if finished and task["type"] == "backup_import":
        ctx.sim.events.event(logging.INFO, "backup %s imported (takes effect after a restart)",
                             task["result"]["filename"])
    return task


@operation("uploadBackup")
async def upload_backup(ctx: Ctx):
    file = (await read_form(ctx))["file"]
    if not isinstance(file, FormFile):
        raise ApiError(400, "Send exactly one file in the `file` field")
    return store_new_backup(ctx.sim, file.filename, file.data)


@operation("initBackupUpload")
async def init_backup_upload(ctx: Ctx):
    raw_name = ctx.body["filename"]
    if not escapes(raw_name):  # made a backup file name as AstrBot does with uploads (FILE-003)
        raw_name = sanitize_name(raw_name, f"upload_{uuid.uuid4().hex[:12]}").lstrip(".")[:190]
        raw_name = raw_name.replace('"', "_") or f"upload_{uuid.uuid4().hex[:12]}"
        raw_name += "" if raw_name.lower().endswith(".zip") else ".zip"
    path = backup_path(ctx.sim, raw_name, must_exist=False)
    # any declared size is taken (the contract sets no maximum); the simulator's own limit
    # (MAX_BACKUP_BYTES) is held where the bytes arrive, in uploadBackupChunk
    total = ctx.body["total_size"]
    if path.exists():
        raise ApiError(409, f"Backup {path.name} already exists")
    session = {"upload_id": uuid.uuid4().hex, "filename": path.name, "total_size": total,
               "chunk_size": CHUNK_SIZE, "total_chunks": math.ceil(total / CHUNK_SIZE),
               "chunks": {}, "created_at": now_iso()}
    ctx.sim.store.put_resource(UPLOAD_KIND, session["upload_id"], session,
                               session["created_at"])
    return session


def upload_session(ctx: Ctx, raw_id) -> tuple[dict, Path]:
    if not isinstance(raw_id, str):
        raise ApiError(400, "upload_id must be one text field")
    upload_id = lookup(lambda raw: safe_name(raw, "upload_id"), raw_id, "Upload")
    session = ctx.sim.store.get_resource(UPLOAD_KIND, upload_id)
    if session is None:
        raise ApiError(404, f"Upload {upload_id} not found")
    return session, ctx.sim.config.data_dir / "backup_uploads" / upload_id


def session_view(session: dict) -> dict:
    received = sum(session["chunks"].values())
    return {**session, "received_chunks": len(session["chunks"]), "received_bytes": received}


@operation("uploadBackupChunk")
async def upload_backup_chunk(ctx: Ctx):
    form = await read_form(ctx)
    session, folder = upload_session(ctx, form["upload_id"])
    index, chunk = form["chunk_index"], form["chunk"]
    if not isinstance(chunk, FormFile):
        raise ApiError(400, "Send exactly one `chunk` part")
    if not isinstance(index, int):
        raise ApiError(400, "chunk_index must be an integer")
    # a client may cut its upload in chunks of any size (the contract names none), but each
    # carries a byte: no index reaches total_size. Nothing loops or allocates by the index.
    if not 0 <= index < session["total_size"]:
        raise ApiError(400, f"chunk_index {index} is outside 0..{session['total_size'] - 1} "
                            f"(an upload of {session['total_size']} bytes has fewer chunks)")
    others = sum(size for key, size in session["chunks"].items() if key != str(index))
    if others + len(chunk.data) > session["total_size"]:
        raise ApiError(413, f"Chunk {index} goes beyond total_size {session['total_size']}")
    if others + len(chunk.data) > MAX_BACKUP_BYTES:
        raise ApiError(413, f"Chunk {index}: the upload would pass {MAX_BACKUP_BYTES} bytes, "
                            "the largest backup this server keeps")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{index}.part").write_bytes(chunk.data)
    session["chunks"][str(index)] = len(chunk.data)
    ctx.sim.store.put_resource(UPLOAD_KIND, session["upload_id"], session,
                               session["created_at"])
    return {**session_view(session), "chunk_index": index}


def _missing(chunks: dict, folder: Path, shown: int = 20) -> list[int]:
    """The first chunk numbers absent from 0.. up to the last one received: at most
    len(chunks) + `shown` steps, whatever the indices are (never a loop by a client's number)."""
    missing, i = [], 0
    last = max((int(k) for k in chunks), default=-1)
    while i <= last and len(missing) < shown:
        if str(i) not in chunks or not (folder / f"{i}.part").is_file():
            missing.append(i)
        i += 1
    return missing if missing or chunks else [0]


def drop_session(ctx: Ctx, session: dict, folder: Path) -> None:
    ctx.sim.store.delete_resource(UPLOAD_KIND, session["upload_id"])
    shutil.rmtree(folder, ignore_errors=True)


@operation("completeBackupUpload")
async def complete_backup_upload(ctx: Ctx):
    session, folder = upload_session(ctx, ctx.body["upload_id"])
    view = session_view(session)
    indices = sorted(int(k) for k in session["chunks"])
    missing = _missing(session["chunks"], folder)
    if missing or view["received_bytes"] != session["total_size"]:
        raise ApiError(409, f"Upload incomplete: {view['received_bytes']} of "
                            f"{session['total_size']} bytes, missing chunks {missing[:20]}",
                       data=view)
    data = b"".join((folder / f"{i}.part").read_bytes() for i in indices)
    described = store_new_backup(ctx.sim, session["filename"], data)
    drop_session(ctx, session, folder)
    return described


@operation("abortBackupUpload")
async def abort_backup_upload(ctx: Ctx):
    session, folder = upload_session(ctx, ctx.body["upload_id"])
    drop_session(ctx, session, folder)
    return {"upload_id": session["upload_id"], "aborted": True}


# -- one backup ----------------------------------------------------------------------------------
@operation("downloadBackup")
async def download_backup(ctx: Ctx):
    path = backup_path(ctx.sim, ctx.param("filename"))
    return web.FileResponse(path, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{path.name}"'})


@operation("deleteBackup")
async def delete_backup(ctx: Ctx):
    path = backup_path(ctx.sim, ctx.param("filename"))
    path.unlink()
    ctx.sim.events.event(logging.INFO, "backup %s deleted", path.name)
    return {"filename": path.name, "deleted": True}


@operation("renameBackup")
async def rename_backup(ctx: Ctx):
    new_name = ctx.body["new_name"]
    if escapes(new_name):  # a way out is refused before anything else
        backup_path(ctx.sim, new_name, must_exist=False)
    path = backup_path(ctx.sim, ctx.param("filename"))  # an unknown backup: 404
    target = backup_path(ctx.sim, new_name, must_exist=False)
    if target != path:
        if target.exists():
            raise ApiError(409, f"Backup {target.name} already exists")
        path.rename(target)
    return describe(target)


@operation("checkBackup")
async def check_backup(ctx: Ctx):
    return inspect_backup(backup_path(ctx.sim, ctx.param("filename")),
                          installed_versions(ctx.sim.store))


@operation("importBackup")
async def import_backup(ctx: Ctx):
    path = backup_path(ctx.sim, ctx.param("filename"))
    report = inspect_backup(path, installed_versions(ctx.sim.store))
    if not report["valid"]:
        raise ApiError(400, f"Backup {path.name} cannot be imported: "
                            f"{'; '.join(report['errors'])}", data=report)
    if not (ctx.body or {}).get("confirmed", True):
        return {**report, "imported": False, "requires_confirmation": True}
    sections = report["manifest"].get("sections", [])
    result = {"filename": path.name, "sections": sections, "restart_required": True,
              "applied_to_live_database": False}
    task = tasks.start(ctx.sim.store, "backup_import", 3, result=result, filename=path.name)
    ctx.sim.store.set_setting("last_backup_import", json.dumps(
        {"filename": path.name, "task_id": task["task_id"], "requested_at": now_iso()}))
    ctx.sim.events.event(logging.INFO, "backup %s import requested", path.name)
    return {**task, "filename": path.name}
