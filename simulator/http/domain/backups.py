"""Backup archives (seed 004 Backups): a backup is `<data_dir>/backups/<name>.zip` holding
`manifest.json` ({format, version, created_at, sections, versions, files: {name: {size,
sha256}}}), `database/simulator.db` (a consistent copy taken with SQLite's backup API) and the
data directory's files (minus the simulator's own folders). Inspection checks the format, the
entries (no escapes, sizes within MAX_UNPACKED_BYTES), every file's size and digest and the
database's integrity, before an import is accepted."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sqlite3
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.jsonbody import decode
from ..kernel.paths import inside, lookup, safe_name
from .system import installed_versions

FORMAT = "astrbot-sim-backup"
FORMAT_VERSION = 1
DB_ENTRY = "database/simulator.db"
OWN_FOLDERS = {"backups", "backup_uploads", "temp", "cache"}
MAX_BACKUP_BYTES = 1024 * 1024 * 1024
MAX_UNPACKED_BYTES = 2 * MAX_BACKUP_BYTES
BACKUP_KINDS = ("backup_export", "backup_import")
REQUIRED_TABLES = {"settings", "resources", "messages"}


def backups_dir(sim) -> Path:
    folder = sim.config.data_dir / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backup_name(raw, what: str = "filename") -> str:
    name = safe_name(raw, what)
    if (not name.lower().endswith(".zip") or len(name) <= 4 or name.startswith(".")
            or len(name) > 200 or any(c < " " or c in '"\x7f' for c in name)):
        raise ApiError(400, f"Invalid {what}: {raw!r} must be a file name ending in .zip")
    return name


def backup_path(sim, raw, must_exist: bool = True) -> Path:
    name = lookup(backup_name, raw, "Backup") if must_exist else backup_name(raw)
    path = inside(backups_dir(sim), name)
    if must_exist and not path.is_file():
        raise ApiError(404, f"Backup {path.name} not found")
    return path


def describe(path: Path) -> dict:
    stat = path.stat()
    return {"filename": path.name, "size": stat.st_size,
            "created_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()}


# -- create --------------------------------------------------------------------------------------
def sections_of(sim) -> list[str]:
    root = sim.config.data_dir
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


def write_backup(sim, path: Path, sections: list[str]) -> dict:
    entries: dict[str, bytes | Path] = {}
    if "database" in sections:
        entries[DB_ENTRY] = database_copy(sim.store.path)
    root = sim.config.data_dir
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
                        **installed_versions(sim.store), "created_at": now_iso(),
                        "sections": sections, "files": files}
            archive.writestr("manifest.json", json.dumps(manifest, indent=2,
                                                         ensure_ascii=False))
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    return manifest


# -- upload --------------------------------------------------------------------------------------
def store_new_backup(sim, raw_name: str, data: bytes) -> dict:
    path = backup_path(sim, raw_name, must_exist=False)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ApiError(400, f"{path.name} is not a zip file")
    if path.exists():
        raise ApiError(409, f"Backup {path.name} already exists")
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    staging.write_bytes(data)
    staging.replace(path)
    sim.events.event(logging.INFO, "backup %s uploaded (%d bytes)", path.name, len(data))
    return describe(path)


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
                manifest = decode(archive.read("manifest.json"), "manifest.json")
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
    except ApiError as exc:  # depth, surrogates, numbers, duplicate keys: kernel/jsonbody.py
        errors.append(f"manifest.json is not valid JSON: {exc.message}")
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
