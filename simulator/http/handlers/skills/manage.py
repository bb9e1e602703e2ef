"""Skills: local skills (domain/skill_store.py). `skill_name` is one safe segment, else 400;
unknown 404. Upload takes a zip with SKILL.md at the root or in one top-level folder; not a zip,
no SKILL.md, escaping, symlink or encrypted entries -> 400; more than 2000 entries or 32 MiB
unpacked -> 413; an existing skill without `overwrite` -> 409; batch upload is all-or-nothing.
Files go through kernel/paths.inside; the archive download has sorted entries with a fixed
timestamp, so the same folder always gives the same bytes."""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from aiohttp import web

from ...domain.skill_store import (
    KIND,
    SKILL_FILE,
    check_name,
    commit,
    front_matter,
    record_of,
    root_of,
    save_record,
    stage,
    view,
)
from ...kernel.envelope import ApiError
from ...kernel.forms import FormFile, files_of, read_form
from ...kernel.paths import inside, lookup, safe_relative
from ...kernel.router import Ctx, Operations

operation = Operations()
MAX_ENTRIES = 2000
MAX_UNPACKED = 32 * 1024 * 1024
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def is_skill(folder: Path) -> bool:
    return folder.is_dir() and (folder / SKILL_FILE).is_file()


def existing(ctx: Ctx, raw) -> tuple[str, Path]:
    name = lookup(check_name, raw, "Skill")
    folder = root_of(ctx.sim) / name
    if not is_skill(folder):
        raise ApiError(404, f"Skill {name} not found")
    return name, folder


# archives --------------------------------------------------------------------------------------
def unpack(archive) -> tuple[str, dict[str, bytes]]:
    """(skill name, {relative path: bytes}) of an uploaded skill archive, or 400/413."""
    if not isinstance(archive, FormFile):
        raise ApiError(400, "Expected a zip file upload")
    label = archive.filename or "archive"
    try:
        zf = zipfile.ZipFile(io.BytesIO(archive.data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise ApiError(400, f"{label}: not a zip archive") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise ApiError(413, f"{label}: archive too large")
        files: dict[str, bytes] = {}
        for info in infos:
            try:
                rel = safe_relative(info.filename.rstrip("/"), "zip entry")
            except ApiError:
                raise ApiError(400, f"{label}: zip entry {info.filename!r} escapes the skill "
                                    "folder") from None
            if rel.parts[0] == "__MACOSX" or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ApiError(400, f"{label}: zip entry {info.filename!r} is a symlink")
            if info.flag_bits & 0x1:
                raise ApiError(400, f"{label}: zip entry {info.filename!r} is encrypted")
            try:
                files[rel.as_posix()] = zf.read(info)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error,
                    OSError, EOFError, ValueError):
                raise ApiError(400, f"{label}: zip entry {info.filename!r} is corrupt") from None
    if SKILL_FILE in files:
        meta = front_matter(files[SKILL_FILE].decode("utf-8", errors="replace"))
        return check_name(meta.get("name") or PurePosixPath(label).stem), files
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and f"{next(iter(tops))}/{SKILL_FILE}" in files \
            and all("/" in path for path in files):
        return check_name(tops.pop()), {p.split("/", 1)[1]: d for p, d in files.items()}
    raise ApiError(400, f"{label}: no {SKILL_FILE} at the archive root or in its only folder")


def zip_folder(name: str, folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            info = zipfile.ZipInfo(f"{name}/{path.relative_to(folder).as_posix()}", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


# local skills: operations ----------------------------------------------------------------------
@operation("listSkills")
async def list_skills(ctx: Ctx):
    root = root_of(ctx.sim)
    names = sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and is_skill(p))
    skills = [view(ctx.sim, name) for name in names]
    if ctx.query.get("enabled") is not None:
        skills = [s for s in skills if s["enabled"] == ctx.query["enabled"]]
    if ctx.query.get("source"):
        skills = [s for s in skills if s["source"] == ctx.query["source"]]
    return {"skills": skills, "total": len(skills)}


@operation("uploadSkill")
async def upload_skill(ctx: Ctx):
    form = await read_form(ctx)
    archives = files_of(form.get("file"))
    overwrite = form.get("overwrite", False)
    if len(archives) != 1:
        raise ApiError(400, "Expected exactly one `file`")
    if not isinstance(overwrite, bool):
        raise ApiError(400, "Invalid multipart field overwrite: not a boolean")
    name, files = unpack(archives[0])
    root = root_of(ctx.sim)
    if is_skill(root / name) and not overwrite:
        raise ApiError(409, f"Skill {name} already exists (send overwrite=true to replace it)")
    return commit(ctx.sim, name, stage(root, files), "upload")


@operation("uploadSkillsBatch")
async def upload_skills_batch(ctx: Ctx):
    form = await read_form(ctx)
    unpacked = [unpack(archive) for archive in files_of(form.get("files"))]
    names = [name for name, _ in unpacked]
    if len(set(names)) != len(names):
        raise ApiError(400, "Expected archives of distinct skills")
    root = root_of(ctx.sim)
    taken = [name for name in names if is_skill(root / name)]
    if taken:
        raise ApiError(409, f"Skills already exist: {', '.join(taken)}")
    staged = []
    try:
        for _, files in unpacked:
            staged.append(stage(root, files))
    except ApiError:
        for folder in staged:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    installed = [commit(ctx.sim, name, folder, "upload")
                 for name, folder in zip(names, staged, strict=True)]
    return {"installed": installed, "count": len(installed)}


@operation("deleteSkill")
@operation("deleteSkillByName")
async def delete(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    shutil.rmtree(folder)
    ctx.sim.store.delete_resource(KIND, name)
    return {"name": name, "deleted": True}


@operation("updateSkill")
@operation("updateSkillByName")
async def update(ctx: Ctx):
    name, _ = existing(ctx, ctx.param("skill_name"))
    changes = {k: v for k, v in (ctx.body or {}).items() if k != "skill_name"}
    flags = {changes[k] for k in ("enabled", "active") if k in changes}
    if any(not isinstance(flag, bool) for flag in flags) or len(flags) > 1:
        raise ApiError(400, "enabled/active must be one boolean")
    for key in ("display_name", "description"):
        if key in changes and not isinstance(changes[key], str | None):
            raise ApiError(400, f"{key} must be a string")
    record = record_of(ctx.sim, name)
    if flags:
        record["enabled"] = flags.pop()
    for key in ("display_name", "description"):
        if key in changes:
            record[key] = changes[key]
    save_record(ctx.sim, record)
    return view(ctx.sim, name)


@operation("downloadSkill")
@operation("downloadSkillByName")
async def download(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return web.Response(body=zip_folder(name, folder), content_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=\"{fallback}.zip\"; "
                               f"filename*=UTF-8''{quote(name)}.zip"})


@operation("listSkillFiles")
@operation("listSkillFilesByName")
async def list_files(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    sub = ctx.query.get("path") or ""
    base = inside(folder, sub, "path") if sub else folder
    if not base.exists():
        raise ApiError(404, f"Path {sub} not found in skill {name}")
    if not base.is_dir():
        raise ApiError(400, f"Path {sub} is not a folder")
    entries = [{"path": p.relative_to(folder).as_posix(), "name": p.name,
                "type": "file" if p.is_file() else "dir" if p.is_dir() else "other",
                "size": p.stat().st_size if p.is_file() else 0}
               for p in sorted(base.rglob("*"))]
    return {"skill_name": name, "path": sub, "files": entries}


@operation("getSkillFile")
@operation("getSkillFileByName")
async def get_file(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    raw = ctx.param("file_path") if "file_path" in ctx.request.match_info else ctx.param("path")
    target = inside(folder, raw, "path")
    if not target.exists():
        raise ApiError(404, f"File {raw} not found in skill {name}")
    if not target.is_file():
        raise ApiError(400, f"Path {raw} is a folder")
    try:
        text = target.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"File {raw} is not UTF-8 text (download the archive)") from None
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


@operation("updateSkillFile")
@operation("updateSkillFileByName")
async def put_file(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    if "file_path" in ctx.request.match_info:
        raw = ctx.request.match_info["file_path"]
        try:
            content = (await ctx.request.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "File content must be UTF-8 text") from None
    else:
        raw, content = ctx.body["path"], ctx.body["content"]
    target = inside(folder, raw, "path")
    if target.is_dir():
        raise ApiError(400, f"Path {raw} is a folder")
    created = not target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise ApiError(400, f"Cannot write {raw}: {exc.strerror}") from None
    save_record(ctx.sim, record_of(ctx.sim, name))
    return {"skill_name": name, "path": target.relative_to(folder.resolve()).as_posix(),
            "size": target.stat().st_size, "created": created}
