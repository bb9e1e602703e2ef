"""Skills (seed 004 tag Skills): local skill folders, and the Shipyard Neo release flow.

Local skills
- A skill is a folder `data_dir/skills/<name>/` holding at least `SKILL.md`. The folder decides
  existence (a folder dropped there by hand is listed too, names starting with `.` are not);
  the store (kind "skill") keeps the metadata: enabled, display_name / description overrides
  (else the SKILL.md front matter), source (local | upload | neo), times. Lists are by name.
- `skill_name` is one safe segment (paths.safe_name; no leading dot, control character or
  more than 128 characters), else 400; an unknown skill is 404.
- Upload takes a real zip: SKILL.md at the root (the skill is named by the front matter `name`,
  else by the archive's file name) or one top-level folder holding SKILL.md (named by the
  folder). Not a zip, no SKILL.md, entries that escape (`..`, absolute, backslash, NUL: zip
  slip), symlink or encrypted entries -> 400; more than 2000 entries or 32 MiB unpacked -> 413;
  an existing skill without `overwrite` -> 409. Archives are unpacked into a hidden staging
  folder and renamed into place, so a refused upload changes nothing. Batch upload is
  all-or-nothing (any bad archive -> 400, any existing skill -> 409, nothing installed).
- Files: paths go through paths.inside(skill folder): escapes -> 400, unknown -> 404, a folder
  where a file is expected (or the reverse) -> 400, a non-UTF-8 file read as text -> 400. PUT
  writes a UTF-8 file (creating it and its folders) inside an existing skill.
- Archive download: application/zip of the folder, entries `<name>/<path>` sorted with a fixed
  timestamp, so the same folder always gives the same bytes (and uploads back as is).

Shipyard Neo (simulated: nothing leaves the host; records in the store)
- Three fixed candidates are seeded once (setting "neo_seeded"); deleting them sticks.
- candidate: pending -> evaluated (records {passed, score, report}; body fields `passed`,
  `score` (0..1), `report` override the deterministic defaults) -> promoted. Promote needs a
  passed evaluation (else 409) and creates release v<n> of the candidate's skill_key at `stage`
  (stable | canary, default stable), the active one of that skill_key+stage; the previous
  active release becomes superseded. A promoted candidate cannot be evaluated/promoted (409).
- rollback of the active release -> rolled_back, and the newest superseded earlier release of
  the same skill_key+stage becomes active again; rollback of any other release -> 409.
- sync writes the release payload into `data_dir/skills/<skill_key>/` (a local skill with
  source "neo"); a rolled-back release cannot be synced (409).
- delete: a candidate a release still refers to -> 409; the active release -> 409 (roll it back
  first). Unknown candidate, release or payload_ref -> 404.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from aiohttp import web

from ..history import now_iso
from .envelope import ApiError
from .forms import FormFile, files_of, read_form
from .paths import inside, lookup, safe_name, safe_relative
from .router import Ctx, operation

KIND = "skill"
SKILL_FILE = "SKILL.md"
MAX_ENTRIES = 2000
MAX_UNPACKED = 32 * 1024 * 1024
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


# local skills: helpers -------------------------------------------------------------------------
def root_of(ctx: Ctx) -> Path:
    root = ctx.sim.config.data_dir / "skills"
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_name(raw) -> str:
    name = safe_name(raw, "skill_name")
    if name.startswith(".") or len(name) > 128 or not name.strip() \
            or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApiError(400, f"Invalid skill_name: {raw!r}")
    return name


def is_skill(folder: Path) -> bool:
    return folder.is_dir() and (folder / SKILL_FILE).is_file()


def existing(ctx: Ctx, raw) -> tuple[str, Path]:
    name = lookup(check_name, raw, "Skill")
    folder = root_of(ctx) / name
    if not is_skill(folder):
        raise ApiError(404, f"Skill {name} not found")
    return name, folder


def front_matter(text: str) -> dict:
    """The `key: value` lines between a leading `---` and the next one."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    found = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return found
        key, sep, value = line.partition(":")
        if sep and key.strip():
            found[key.strip()] = value.strip().strip("\"'")
    return {}


def record_of(ctx: Ctx, name: str) -> dict:
    record = ctx.sim.store.get_resource(KIND, name)
    if record is None:  # a folder placed by hand: first seen now
        now = now_iso()
        record = {"name": name, "enabled": True, "display_name": None, "description": None,
                  "source": "local", "created_at": now, "updated_at": now}
        ctx.sim.store.put_resource(KIND, name, record, now)
    return record


def save_record(ctx: Ctx, record: dict) -> None:
    record["updated_at"] = now_iso()
    ctx.sim.store.put_resource(KIND, record["name"], record, record["created_at"])


def view(ctx: Ctx, name: str) -> dict:
    folder = root_of(ctx) / name
    record = record_of(ctx, name)
    meta = front_matter((folder / SKILL_FILE).read_text("utf-8", errors="replace"))
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"name": name,
            "display_name": record["display_name"] or meta.get("name") or name,
            "description": record["description"] if record["description"] is not None
            else meta.get("description", ""),
            "enabled": record["enabled"], "active": record["enabled"],
            "source": record["source"], "path": f"skills/{name}", "file_count": len(files),
            "size": sum(p.stat().st_size for p in files),
            "created_at": record["created_at"], "updated_at": record["updated_at"]}


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


def stage(root: Path, files: dict[str, bytes]) -> Path:
    """Write files into a hidden staging folder (400 when entries clash, e.g. `a` and `a/b`)."""
    staging = root / f".staging-{uuid.uuid4().hex}"
    try:
        for rel, data in sorted(files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ApiError(400, f"Archive entries clash: {exc.strerror}") from None
    return staging


def commit(ctx: Ctx, name: str, staging: Path, source: str, **extra) -> dict:
    target = root_of(ctx) / name
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    staging.rename(target)
    record = record_of(ctx, name)
    record.update(source=source, display_name=None, description=None, **extra)
    save_record(ctx, record)
    return view(ctx, name)


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
    root = root_of(ctx)
    names = sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and is_skill(p))
    skills = [view(ctx, name) for name in names]
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
    root = root_of(ctx)
    if is_skill(root / name) and not overwrite:
        raise ApiError(409, f"Skill {name} already exists (send overwrite=true to replace it)")
    return commit(ctx, name, stage(root, files), "upload")


@operation("uploadSkillsBatch")
async def upload_skills_batch(ctx: Ctx):
    form = await read_form(ctx)
    unpacked = [unpack(archive) for archive in files_of(form.get("files"))]
    names = [name for name, _ in unpacked]
    if len(set(names)) != len(names):
        raise ApiError(400, "Expected archives of distinct skills")
    root = root_of(ctx)
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
    installed = [commit(ctx, name, folder, "upload")
                 for name, folder in zip(names, staged, strict=True)]
    return {"installed": installed, "count": len(installed)}


async def delete(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    shutil.rmtree(folder)
    ctx.sim.store.delete_resource(KIND, name)
    return {"name": name, "deleted": True}


async def update(ctx: Ctx):
    name, _ = existing(ctx, ctx.param("skill_name"))
    changes = {k: v for k, v in (ctx.body or {}).items() if k != "skill_name"}
    flags = {changes[k] for k in ("enabled", "active") if k in changes}
    if any(not isinstance(flag, bool) for flag in flags) or len(flags) > 1:
        raise ApiError(400, "enabled/active must be one boolean")
    for key in ("display_name", "description"):
        if key in changes and not isinstance(changes[key], str | None):
            raise ApiError(400, f"{key} must be a string")
    record = record_of(ctx, name)
    if flags:
        record["enabled"] = flags.pop()
    for key in ("display_name", "description"):
        if key in changes:
            record[key] = changes[key]
    save_record(ctx, record)
    return view(ctx, name)


async def download(ctx: Ctx):
    name, folder = existing(ctx, ctx.param("skill_name"))
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return web.Response(body=zip_folder(name, folder), content_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=\"{fallback}.zip\"; "
                               f"filename*=UTF-8''{quote(name)}.zip"})


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
    save_record(ctx, record_of(ctx, name))
    return {"skill_name": name, "path": target.relative_to(folder.resolve()).as_posix(),
            "size": target.stat().st_size, "created": created}


for _handler, _ids in ((delete, ("deleteSkill", "deleteSkillByName")),
                       (update, ("updateSkill", "updateSkillByName")),
                       (download, ("downloadSkill", "downloadSkillByName")),
                       (list_files, ("listSkillFiles", "listSkillFilesByName")),
                       (get_file, ("getSkillFile", "getSkillFileByName")),
                       (put_file, ("updateSkillFile", "updateSkillFileByName"))):
    for _operation_id in _ids:
        operation(_operation_id)(_handler)


# Shipyard Neo ----------------------------------------------------------------------------------
CANDIDATE, RELEASE, PAYLOAD = "neo candidate", "neo release", "neo payload"
STAGES = ("stable", "canary")
NEO_SEED = (  # candidate_id, skill_key, description, instructions
    ("cand-weather-report-1", "weather-report", "Report the current weather for a city.",
     "1. Ask for the city if it is missing.\n2. Call the weather tool.\n"
     "3. Answer in one sentence."),
    ("cand-weather-report-2", "weather-report", "Report the weather and a three-day forecast.",
     "1. Ask for the city if it is missing.\n2. Call the weather tool for today and the next "
     "three days.\n3. Answer with one line per day."),
    ("cand-csv-summary-1", "csv-summary", "Summarise a CSV file: columns, rows, outliers.",
     "1. Read the header row.\n2. Count rows and empty cells.\n3. Report the columns and any "
     "outliers."),
)


def neo(ctx: Ctx):
    """The store, with the fixed candidates seeded on first use."""
    store = ctx.sim.store
    if store.setting("neo_seeded") is None:
        now = now_iso()
        for candidate_id, key, description, steps in NEO_SEED:
            ref = f"payload-{candidate_id}"
            text = f"---\nname: {key}\ndescription: {description}\n---\n\n# {key}\n\n{steps}\n"
            store.put_resource(PAYLOAD, ref, {"payload_ref": ref, "skill_key": key,
                                              "files": {SKILL_FILE: text}}, now)
            store.put_resource(CANDIDATE, candidate_id, {
                "candidate_id": candidate_id, "skill_key": key, "description": description,
                "status": "pending", "payload_ref": ref, "evaluation": None, "release_id": None,
                "created_at": now, "updated_at": now}, now)
        store.set_setting("neo_seeded", "1")
    return store


def neo_get(store, kind: str, rid: str) -> dict:
    found = store.get_resource(kind, rid)
    if found is None:
        raise ApiError(404, f"{kind} {rid} not found")
    return found


def neo_put(store, kind: str, rid: str, item: dict) -> dict:
    item["updated_at"] = now_iso()
    store.put_resource(kind, rid, item, item["created_at"])
    return item


def releases_of(store, key: str, stage_name: str) -> list[dict]:
    return [r for r in store.list_resources(RELEASE)
            if r["skill_key"] == key and r["stage"] == stage_name]


@operation("listNeoSkillCandidates")
async def list_candidates(ctx: Ctx):
    items = [c for c in neo(ctx).list_resources(CANDIDATE)
             if ctx.query.get("skill_key") in (None, "", c["skill_key"])
             and ctx.query.get("status") in (None, "", c["status"])]
    return {"items": items, "total": len(items)}


@operation("listNeoSkillReleases")
async def list_releases(ctx: Ctx):
    items = [r for r in neo(ctx).list_resources(RELEASE)
             if ctx.query.get("skill_key") in (None, "", r["skill_key"])
             and ctx.query.get("stage") in (None, "", r["stage"])]
    return {"items": items, "total": len(items)}


@operation("getNeoSkillPayload")
async def get_payload(ctx: Ctx):
    return neo_get(neo(ctx), PAYLOAD, ctx.query["payload_ref"])


@operation("evaluateNeoSkillCandidate")
async def evaluate(ctx: Ctx):
    store, body = neo(ctx), ctx.body
    candidate = neo_get(store, CANDIDATE, body["candidate_id"])
    if candidate["status"] == "promoted":
        raise ApiError(409, f"Candidate {candidate['candidate_id']} is already promoted")
    digest = hashlib.sha256(candidate["candidate_id"].encode()).digest()
    passed = body.get("passed", True)
    score = body.get("score", round(0.6 + digest[0] % 40 / 100, 2))
    report = body.get("report", f"{candidate['skill_key']}: simulated evaluation, 3/3 checks")
    if not isinstance(passed, bool) or not isinstance(report, str) \
            or isinstance(score, bool) or not isinstance(score, int | float) \
            or not 0 <= score <= 1:
        raise ApiError(400, "passed must be a boolean, score a number in 0..1, report a string")
    candidate["evaluation"] = {"passed": passed, "score": score, "report": report,
                               "evaluated_at": now_iso()}
    candidate["status"] = "evaluated"
    return neo_put(store, CANDIDATE, candidate["candidate_id"], candidate)


@operation("promoteNeoSkillCandidate")
async def promote(ctx: Ctx):
    store, body = neo(ctx), ctx.body
    candidate = neo_get(store, CANDIDATE, body["candidate_id"])
    stage_name = body.get("stage", "stable")
    if stage_name not in STAGES:
        raise ApiError(400, f"stage must be one of {', '.join(STAGES)}")
    if candidate["status"] != "evaluated" or not candidate["evaluation"]["passed"]:
        raise ApiError(409, f"Candidate {candidate['candidate_id']} is {candidate['status']}: "
                            "only a candidate with a passed evaluation can be promoted")
    key = candidate["skill_key"]
    counter = f"neo_release_seq:{key}:{stage_name}"
    version = int(store.setting(counter) or 0) + 1
    store.set_setting(counter, str(version))
    for previous in releases_of(store, key, stage_name):
        if previous["status"] == "active":
            neo_put(store, RELEASE, previous["release_id"],
                    {**previous, "status": "superseded", "active": False})
    now = now_iso()
    release_id = f"rel-{key}-{stage_name}-{version}"
    release = {"release_id": release_id, "skill_key": key, "stage": stage_name,
               "version": version, "candidate_id": candidate["candidate_id"],
               "payload_ref": candidate["payload_ref"], "status": "active", "active": True,
               "synced_at": None, "created_at": now, "updated_at": now}
    store.put_resource(RELEASE, release_id, release, now)
    neo_put(store, CANDIDATE, candidate["candidate_id"],
            {**candidate, "status": "promoted", "release_id": release_id})
    return release


@operation("rollbackNeoSkillRelease")
async def rollback(ctx: Ctx):
    store = neo(ctx)
    release = neo_get(store, RELEASE, ctx.body["release_id"])
    if release["status"] != "active":
        raise ApiError(409, f"Release {release['release_id']} is {release['status']}, not active")
    release = neo_put(store, RELEASE, release["release_id"],
                      {**release, "status": "rolled_back", "active": False})
    earlier = [r for r in releases_of(store, release["skill_key"], release["stage"])
               if r["status"] == "superseded" and r["version"] < release["version"]]
    restored = None
    if earlier:
        newest = max(earlier, key=lambda r: r["version"])
        restored = neo_put(store, RELEASE, newest["release_id"],
                           {**newest, "status": "active", "active": True})
    return {"rolled_back": release, "active": restored}


@operation("syncNeoSkillRelease")
async def sync(ctx: Ctx):
    store = neo(ctx)
    release = neo_get(store, RELEASE, ctx.body["release_id"])
    if release["status"] == "rolled_back":
        raise ApiError(409, f"Release {release['release_id']} is rolled back")
    payload = neo_get(store, PAYLOAD, release["payload_ref"])
    name = check_name(release["skill_key"])
    files = {rel: text.encode() for rel, text in payload["files"].items()}
    skill = commit(ctx, name, stage(root_of(ctx), files), "neo",
                   neo_release_id=release["release_id"])
    release = neo_put(store, RELEASE, release["release_id"], {**release, "synced_at": now_iso()})
    return {"release": release, "skill": skill}


@operation("deleteNeoSkillCandidate")
async def delete_candidate(ctx: Ctx):
    store = neo(ctx)
    candidate = neo_get(store, CANDIDATE, ctx.body["candidate_id"])
    cid = candidate["candidate_id"]
    if any(r["candidate_id"] == cid for r in store.list_resources(RELEASE)):
        raise ApiError(409, f"Candidate {cid} has releases: delete them first")
    store.delete_resource(CANDIDATE, cid)
    store.delete_resource(PAYLOAD, candidate["payload_ref"])
    return {"candidate_id": cid, "deleted": True}


@operation("deleteNeoSkillRelease")
async def delete_release(ctx: Ctx):
    store = neo(ctx)
    release = neo_get(store, RELEASE, ctx.body["release_id"])
    if release["status"] == "active":
        raise ApiError(409, f"Release {release['release_id']} is active: roll it back first")
    store.delete_resource(RELEASE, release["release_id"])
    return {"release_id": release["release_id"], "deleted": True}
