"""TODO"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import shutil
import sqlite3
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from aiohttp import web

from ..domain.system import installed_versions, read_task
from ..kernel import tasks
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.forms import FormFile, read_form
from ..kernel.paths import escapes, inside, lookup, safe_name, sanitize_name
from ..kernel.router import Ctx, Operations

operation = Operations()


FORMAT = "astrbot-sim-backup"


FORMAT_VERSION = 1


DB_ENTRY = "database/simulator.db"


OWN_FOLDERS = {"backups", "backup_uploads", "temp", "cache"}


UPLOAD_KIND = "backup upload"


CHUNK_SIZE = 1024 * 1024


MAX_BACKUP_BYTES = 1024 * 1024 * 1024


MAX_UNPACKED_BYTES = 2 * MAX_BACKUP_BYTES


BACKUP_KINDS = ("backup_export", "backup_import")


REQUIRED_TABLES = {"settings", "resources", "messages"}


def backups_dir(ctx: Ctx) -> Path:
    folder = ctx.sim.config.data_dir / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backup_name(raw, what: str = "filename") -> str:
    name = safe_name(raw, what)
    if (not name.lower().endswith(".zip") or len(name) <= 4 or name.startswith(".")
            or len(name) > 200 or any(c < " " or c in '"\x7f' for c in name)):
        raise ApiError(400, f"Invalid {what}: {raw!r} must be a file name ending in .zip")
    return name


def backup_path(ctx: Ctx, raw, must_exist: bool = True) -> Path:
    name = lookup(backup_name, raw, "Backup") if must_exist else backup_name(raw)
    path = inside(backups_dir(ctx), name)
    if must_exist and not path.is_file():
        raise ApiError(404, f"Backup {path.name} not found")
    return path


def describe(path: Path) -> dict:
    stat = path.stat()
    return {"filename": path.name, "size": stat.st_size,
            "created_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()}


@operation("listBackups")
async def list_backups(ctx: Ctx):
    page, page_size = ctx.query["page"], ctx.query["page_size"]
    files = [p for p in backups_dir(ctx).iterdir()
             if p.is_file() and p.suffix.lower() == ".zip" and not p.name.startswith(".")]
    files.sort(key=lambda p: (-p.stat().st_mtime_ns, p.name))
    chosen = files[(page - 1) * page_size: page * page_size]
    return {"items": [describe(p) for p in chosen], "total": len(files), "page": page,
            "page_size": page_size}


# -- create --------------------------------------------------------------------------------------
def sections_of(ctx: Ctx) -> list[str]:
    root = ctx.sim.config.data_dir
    return ["database", *sorted(p.name for p in root.iterdir() if p.is_dir() and not
                                p.is_symlink() and p.name not in OWN_FOLDERS | {"database"})]


def rollback_journal(data: bytes) -> bytes:
    """The database image with header bytes 18-19 (file format versions) set to 1, the
    rollback journal: a WAL-mode image cannot be opened in memory or without its -wal file."""
    return data[:18] + b"\x01\x01" + data[20:] if len(data) >= 20 else data


def database_copy(db_path: Path) -> bytes:
    """A consistent snapshot of the live database, via the backup API on a new connection."""
    source, target = sqlite3.connect(db_path), sqlite3.connect(":memory:")
    try:
        source.backup(target)
        return rollback_journal(target.serialize())
    finally:
        source.close()
        target.close()


def write_backup(ctx: Ctx, path: Path, sections: list[str]) -> dict:
    entries: dict[str, bytes | Path] = {}
    if "database" in sections:
        entries[DB_ENTRY] = database_copy(ctx.sim.store.path)
    root = ctx.sim.config.data_dir
    for section in sections:
        if section == "database":
            continue
        for file in sorted((root / section).rglob("*")):
            if file.is_file() and not file.is_symlink():
                entries[f"files/{section}/{file.relative_to(root / section).as_posix()}"] = file
    files = {}
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, source in entries.items():
                data = source if isinstance(source, bytes) else source.read_bytes()
                archive.writestr(name, data)
                files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                        **installed_versions(ctx.sim.store), "created_at": now_iso(),
                        "sections": sections, "files": files}
            archive.writestr("manifest.json", json.dumps(manifest, indent=2,
                                                         ensure_ascii=False))
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    return manifest


@operation("createBackup")
async def create_backup(ctx: Ctx):
    body, available = ctx.body or {}, sections_of(ctx)
    # a section the simulator does not have is left out, as AstrBot's exporter skips names
    # it does not know (the contract lists no sections)
    include = [s for s in body.get("include") or [] if s in available] or available
    sections = [s for s in available if s in include and s not in body.get("exclude", [])]
    if not sections:
        raise ApiError(400, "Nothing to back up: include/exclude leave no section")
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    path = backups_dir(ctx) / f"astrbot_backup_{stamp}_{uuid.uuid4().hex[:6]}.zip"
    manifest = write_backup(ctx, path, sections)
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


# -- upload --------------------------------------------------------------------------------------
def store_new_backup(ctx: Ctx, raw_name: str, data: bytes) -> dict:
    path = backup_path(ctx, raw_name, must_exist=False)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ApiError(400, f"{path.name} is not a zip file")
    if path.exists():
        raise ApiError(409, f"Backup {path.name} already exists")
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    staging.write_bytes(data)
    staging.replace(path)
    ctx.sim.events.event(logging.INFO, "backup %s uploaded (%d bytes)", path.name, len(data))
    return describe(path)


@operation("uploadBackup")
async def upload_backup(ctx: Ctx):
    file = (await read_form(ctx))["file"]
    if not isinstance(file, FormFile):
        raise ApiError(400, "Send exactly one file in the `file` field")
    return store_new_backup(ctx, file.filename, file.data)


@operation("initBackupUpload")
async def init_backup_upload(ctx: Ctx):
    raw_name = ctx.body["filename"]
    if not escapes(raw_name):  # made a backup file name as AstrBot does with uploads (FILE-003)
        raw_name = sanitize_name(raw_name, f"upload_{uuid.uuid4().hex[:12]}").lstrip(".")[:190]
        raw_name = raw_name.replace('"', "_") or f"upload_{uuid.uuid4().hex[:12]}"
        raw_name += "" if raw_name.lower().endswith(".zip") else ".zip"
    path = backup_path(ctx, raw_name, must_exist=False)
    total = ctx.body["total_size"]
    if total > MAX_BACKUP_BYTES:
        raise ApiError(413, f"total_size exceeds {MAX_BACKUP_BYTES} bytes")
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
    others = sum(size for key, size in session["chunks"].items() if key != str(index))
    if others + len(chunk.data) > session["total_size"]:
        raise ApiError(413, f"Chunk {index} goes beyond total_size {session['total_size']}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{index}.part").write_bytes(chunk.data)
    session["chunks"][str(index)] = len(chunk.data)
    ctx.sim.store.put_resource(UPLOAD_KIND, session["upload_id"], session,
                               session["created_at"])
    return {**session_view(session), "chunk_index": index}


def drop_session(ctx: Ctx, session: dict, folder: Path) -> None:
    ctx.sim.store.delete_resource(UPLOAD_KIND, session["upload_id"])
    shutil.rmtree(folder, ignore_errors=True)


@operation("completeBackupUpload")
async def complete_backup_upload(ctx: Ctx):
    session, folder = upload_session(ctx, ctx.body["upload_id"])
    view = session_view(session)
    indices = sorted(int(k) for k in session["chunks"])
    expected = max(session["total_chunks"], indices[-1] + 1 if indices else 0)
    missing = [i for i in range(expected) if str(i) not in session["chunks"]
               or not (folder / f"{i}.part").is_file()]
    if missing or view["received_bytes"] != session["total_size"]:
        raise ApiError(409, f"Upload incomplete: {view['received_bytes']} of "
                            f"{session['total_size']} bytes, missing chunks {missing[:20]}",
                       data=view)
    data = b"".join((folder / f"{i}.part").read_bytes() for i in indices)
    described = store_new_backup(ctx, session["filename"], data)
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
    path = backup_path(ctx, ctx.param("filename"))
    return web.FileResponse(path, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{path.name}"'})


@operation("deleteBackup")
async def delete_backup(ctx: Ctx):
    path = backup_path(ctx, ctx.param("filename"))
    path.unlink()
    ctx.sim.events.event(logging.INFO, "backup %s deleted", path.name)
    return {"filename": path.name, "deleted": True}


@operation("renameBackup")
async def rename_backup(ctx: Ctx):
    new_name = ctx.body["new_name"]
    if escapes(new_name):  # a way out is refused before anything else
        backup_path(ctx, new_name, must_exist=False)
    path = backup_path(ctx, ctx.param("filename"))  # an unknown backup: 404
    target = backup_path(ctx, new_name, must_exist=False)
    if target != path:
        if target.exists():
            raise ApiError(409, f"Backup {target.name} already exists")
        path.rename(target)
    return describe(target)


def _entry_name_ok(name: str) -> bool:
    pure = PurePosixPath(name)
    return not (pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name)


def _database_errors(data: bytes) -> list[str]:
    if not data.startswith(b"SQLite format 3\x00"):
        return [f"{DB_ENTRY} is not an SQLite database"]
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(rollback_journal(data))
        if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return [f"{DB_ENTRY} fails the integrity check"]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = sorted(REQUIRED_TABLES - tables)
        return [f"{DB_ENTRY} lacks tables: {', '.join(missing)}"] if missing else []
    except sqlite3.Error as exc:
        return [f"{DB_ENTRY} cannot be read: {exc}"]
    finally:
        con.close()


def inspect_backup(path: Path, versions: dict) -> dict:
    """{valid, can_import, errors, warnings, manifest}: problems are data, not exceptions."""
    errors, warnings, manifest = [], [], None
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {i.filename: i for i in archive.infolist() if not i.is_dir()}
            bad = [n for n in infos if not _entry_name_ok(n)]
            if bad:
                errors.append(f"unsafe entry names: {', '.join(bad[:5])}")
            if sum(i.file_size for i in infos.values()) > MAX_UNPACKED_BYTES:
                errors.append("unpacked size is too large")
            elif (corrupt := archive.testzip()) is not None:
                errors.append(f"corrupt entry: {corrupt}")
            elif "manifest.json" not in infos:
                errors.append("manifest.json is missing")
            else:
                manifest = json.loads(archive.read("manifest.json"))
                if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
                        or manifest.get("format_version") != FORMAT_VERSION \
                        or not isinstance(manifest.get("files"), dict):
                    errors.append(f"manifest.json is not a {FORMAT} v{FORMAT_VERSION} manifest")
                else:
                    errors += _check_entries(archive, infos, manifest["files"])
                    if manifest.get("version") != versions["version"]:
                        warnings.append(f"made by AstrBot {manifest.get('version')}, running "
                                        f"{versions['version']}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        errors.append(f"not a readable zip file: {exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        errors.append(f"manifest.json is not valid JSON: {exc}")
    return {"filename": path.name, "valid": not errors, "can_import": not errors,
            "errors": errors, "warnings": warnings,
            "manifest": manifest if isinstance(manifest, dict) else None}


def _check_entries(archive: zipfile.ZipFile, infos: dict, files: dict) -> list[str]:
    errors = []
    for name, meta in files.items():
        if name not in infos:
            errors.append(f"{name} is listed in the manifest but missing")
            continue
        data = archive.read(name)
        if not isinstance(meta, dict) or meta.get("size") != len(data) \
                or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            errors.append(f"{name} does not match its manifest checksum")
        elif name == DB_ENTRY:
            errors += _database_errors(data)
    extra = sorted(set(infos) - set(files) - {"manifest.json"})
    if extra:
        errors.append(f"entries not in the manifest: {', '.join(extra[:5])}")
    return errors


@operation("checkBackup")
async def check_backup(ctx: Ctx):
    return inspect_backup(backup_path(ctx, ctx.param("filename")),
                          installed_versions(ctx.sim.store))


@operation("importBackup")
async def import_backup(ctx: Ctx):
    path = backup_path(ctx, ctx.param("filename"))
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
