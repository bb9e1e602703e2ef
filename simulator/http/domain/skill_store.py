"""Local skills on disk (seed 004 Skills): a skill is a folder `data_dir/skills/<name>/`
holding at least `SKILL.md`; the folder decides existence (a folder dropped there by hand is
listed too, names starting with `.` are not), the store (kind "skill") keeps the metadata:
enabled, display_name / description overrides (else the SKILL.md front matter), source (local |
upload | neo), times. New skills are unpacked into a hidden staging folder and renamed into
place, so a refused upload changes nothing."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.paths import safe_name

KIND = "skill"
SKILL_FILE = "SKILL.md"


# local skills: helpers -------------------------------------------------------------------------
def root_of(sim) -> Path:
    root = sim.config.data_dir / "skills"
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_name(raw) -> str:
    name = safe_name(raw, "skill_name")
    if name.startswith(".") or len(name) > 128 or not name.strip() \
            or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApiError(400, f"Invalid skill_name: {raw!r}")
    return name


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


def record_of(sim, name: str) -> dict:
    record = sim.store.get_resource(KIND, name)
    if record is None:  # a folder placed by hand: first seen now
        now = now_iso()
        record = {"name": name, "enabled": True, "display_name": None, "description": None,
                  "source": "local", "created_at": now, "updated_at": now}
        sim.store.put_resource(KIND, name, record, now)
    return record


def save_record(sim, record: dict) -> None:
    record["updated_at"] = now_iso()
    sim.store.put_resource(KIND, record["name"], record, record["created_at"])


def view(sim, name: str) -> dict:
    folder = root_of(sim) / name
    record = record_of(sim, name)
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


def commit(sim, name: str, staging: Path, source: str, **extra) -> dict:
    target = root_of(sim) / name
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    staging.rename(target)
    record = record_of(sim, name)
    record.update(source=source, display_name=None, description=None, **extra)
    save_record(sim, record)
    return view(sim, name)
