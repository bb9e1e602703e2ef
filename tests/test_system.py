"""Stats, updates, logs, webhooks and backups (simulator/http/handlers/: stats, updates, logs,
webhooks, backups), over real sockets with the SQLite store; restarts prove what persists."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
import zipfile

import aiohttp
import pytest

from simulator.config import SimConfig

from .conftest import start_sim, stop_sim

# as sent on the wire (the client would normalize a plain `..` segment away before sending)
ESCAPES = ["..%2Fsimulator.db", "%2e%2e%2fsimulator.db", "%252e%252e%252fsimulator.db",
           "..%5Csimulator.db", "a%2Fb.zip", "x%00.zip"]


async def auth(sim) -> dict:
    return {"Authorization": f"Bearer {await sim.admin_jwt()}"}


async def ok(sim, method, path, **kwargs):
    status, body = await sim.call(method, path, **kwargs)
    assert status == 200 and body["status"] == "ok", (status, body)
    return body["data"]


async def error(sim, method, path, expected, **kwargs):
    status, body = await sim.call(method, path, **kwargs)
    assert status == expected and body["status"] == "error", (status, body)
    return body["message"]


async def poll(sim, path, headers, reads):
    """Read a task `reads` times; return the statuses seen and the last task."""
    seen = []
    for _ in range(reads):
        task = await ok(sim, "GET", path, headers=headers)
        seen.append(task["status"])
    return seen, task


async def chat(sim, headers, text, session_id):
    async with sim.http.post(sim.url + "/api/v1/chat", headers=headers,
                             json={"message": text, "session_id": session_id}) as resp:
        assert resp.status == 200
        await resp.read()


# -- stats ---------------------------------------------------------------------------------------
async def test_stats_count_what_the_store_holds(sim):
    h = await auth(sim)
    await ok(sim, "POST", "/api/v1/bots", headers=h, json={"id": "b1", "type": "telegram",
                                                          "config": {}})
    await ok(sim, "POST", "/api/v1/providers", headers=h, json={"id": "p1", "config": {}})
    await chat(sim, h, "hello world", "s-1")
    stats = await ok(sim, "GET", "/api/v1/stats", headers=h)
    assert (stats["message_count"], stats["message_count_in_window"]) == (2, 2)
    assert (stats["session_count"], stats["bot_count"], stats["provider_count"]) == (1, 1, 1)
    assert stats["platform"] == [{"name": "webchat", "count": 2}]
    assert sum(count for _, count in stats["message_time_series"]) == 2
    assert (await ok(sim, "GET", "/api/v1/stats?offset_sec=0", headers=h))[
        "message_count_in_window"] == 0
    tokens = await ok(sim, "GET", "/api/v1/stats/provider-tokens?days=2", headers=h)
    builtin, configured = tokens["providers"]
    reply = "You said: hello world. I am the AstrBot simulator."
    assert (builtin["input_tokens"], builtin["output_tokens"]) == (2, len(reply.split()))
    assert builtin["requests"] == 1 and len(builtin["daily"]) == 2
    assert builtin["daily"][-1]["total_tokens"] == 2 + len(reply.split())
    assert configured["provider_id"] == "p1" and configured["total_tokens"] == 0
    for bad in ("/api/v1/stats/provider-tokens?days=0", "/api/v1/stats?offset_sec=x"):
        await error(sim, "GET", bad, 400, headers=h)
    key = await sim.new_key(["chat"])
    await error(sim, "GET", "/api/v1/stats", 403, headers={"X-API-Key": key["api_key"]})


async def test_versions_releases_changelogs_and_notice(sim):
    h = await auth(sim)
    assert (await ok(sim, "GET", "/api/v1/stats/version", headers=h))["version"] == "4.26.2"
    assert await ok(sim, "GET", "/api/v1/stats/versions") == {
        "version": "4.26.2", "dashboard_version": "4.26.2"}  # public
    check = await ok(sim, "GET", "/api/v1/updates/check", headers=h)
    assert check["latest_version"] == "4.27.0" and check["has_new_version"] is True
    releases = await ok(sim, "GET", "/api/v1/updates/releases?type=dashboard", headers=h)
    assert {r["type"] for r in releases} == {"dashboard"} and releases[0]["version"] == "4.27.0"
    assert len(await ok(sim, "GET", "/api/v1/updates/releases", headers=h)) == 2 * len(releases)
    await error(sim, "GET", "/api/v1/updates/releases?type=plugin", 400, headers=h)
    versions = (await ok(sim, "GET", "/api/v1/changelogs", headers=h))["versions"]
    assert versions[:2] == ["4.27.0", "4.26.2"]
    one = await ok(sim, "GET", "/api/v1/changelogs/v4.26.2", headers=h)
    assert one == await ok(sim, "GET", "/api/v1/changelogs/4.26.2", headers=h)
    assert one["content"].startswith("# AstrBot v4.26.2")
    await error(sim, "GET", "/api/v1/changelogs/9.9.9", 404, headers=h)
    zh = await ok(sim, "GET", "/api/v1/stats/first-notice?locale=zh-CN", headers=h)
    en = await ok(sim, "GET", "/api/v1/stats/first-notice", headers=h)
    assert (zh["locale"], en["locale"]) == ("zh-CN", "en-US") and zh["content"] != en["content"]


# -- tasks: updates, pip, restart, ghproxy -------------------------------------------------------
async def test_core_update_task_completes_and_persists(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    h = await auth(first)
    before = (await ok(first, "GET", "/api/v1/stats/start-time"))["started_at"]
    task = await ok(first, "POST", "/api/v1/updates/core", headers=h,
                    json={"version": "v4.27.0", "progress_id": "up-1", "reboot": True})
    assert (task["task_id"], task["status"]) == ("up-1", "pending")
    await error(first, "POST", "/api/v1/updates/core", 409, headers=h,
                json={"progress_id": "up-1"})
    seen, done = await poll(first, "/api/v1/updates/progress/up-1", h, 4)
    assert seen == ["running", "running", "completed", "completed"]
    assert done["result"] == {"type": "core", "version": "4.27.0", "reboot": True}
    assert (await ok(first, "GET", "/api/v1/stats/version", headers=h))["version"] == "4.27.0"
    assert (await ok(first, "GET", "/api/v1/updates/check", headers=h))[
        "has_new_version"] is False
    assert (await ok(first, "GET", "/api/v1/stats/start-time"))["started_at"] > before
    await stop_sim(first)
    second = await start_sim(config)
    try:
        h = await auth(second)
        assert (await ok(second, "GET", "/api/v1/stats/versions"))["version"] == "4.27.0"
        assert (await ok(second, "GET", "/api/v1/updates/progress/up-1", headers=h))[
            "status"] == "completed"
    finally:
        await stop_sim(second)


@pytest.mark.parametrize("path, body, expected", [
    ("/api/v1/updates/core", {"version": "0.0.1"}, 404),
    ("/api/v1/updates/dashboard", {"proxy": "ftp://mirror"}, 404),  # reaches nothing
    ("/api/v1/updates/dashboard", {"reboot": "yes"}, 400),
    ("/api/v1/updates/core", {"unknown": 1}, 400),
    ("/api/v1/pip/install", {"package": "-r requirements.txt"}, 400),
    # no shell runs pip: shell syntax names no distribution (a schema-valid string, seed 004)
    ("/api/v1/pip/install", {"package": "pkg; rm -rf /"}, 404),
    ("/api/v1/pip/install", {"package": "i$t<x"}, 404),
    ("/api/v1/pip/install", {"package": "requests", "mirror": "not a url"}, 404),
    ("/api/v1/stats/ghproxy/test", {"proxy_url": "ghproxy.com"}, 400),
    ("/api/v1/stats/ghproxy/test", {"proxy_url": "https://gh.example:99999/"}, 400),
])
async def test_task_requests_with_bad_input_record_nothing(sim, path, body, expected):
    h = await auth(sim)
    await error(sim, "POST", path, expected, headers=h, json=body)
    assert sim.sim.store.list_resources("task") == []


async def test_pip_restart_and_ghproxy_are_deterministic_tasks(sim):
    h = await auth(sim)
    task = await ok(sim, "POST", "/api/v1/pip/install", headers=h,
                    json={"package": "Foo_Bar[extra]==1.2.3", "mirror": "https://pypi.example"})
    seen, done = await poll(sim, f"/api/v1/updates/progress/{task['task_id']}", h, 3)
    assert seen == ["running", "running", "completed"]
    assert done["result"] == {"package": "Foo_Bar[extra]==1.2.3", "name": "foo-bar",
                              "installed": True, "version": "1.2.3"}
    before = await ok(sim, "GET", "/api/v1/stats/start-time")
    restart = await ok(sim, "POST", "/api/v1/system/restart", headers=h)
    after = await ok(sim, "GET", "/api/v1/stats/start-time")
    assert after["started_at"] > before["started_at"]
    done = await ok(sim, "GET", f"/api/v1/updates/progress/{restart['task_id']}", headers=h)
    assert done["status"] == "completed" and done["result"]["restarted"] is True
    probes = [await ok(sim, "POST", "/api/v1/stats/ghproxy/test", headers=h,
                       json={"proxy_url": url}) for url in
              ("https://gh.example.com/", "https://gh.example.com/", "https://gh.invalid/")]
    assert probes[0]["reachable"] and probes[0]["latency_ms"] == probes[1]["latency_ms"]
    assert probes[2]["reachable"] is False and probes[2]["latency_ms"] is None
    await error(sim, "GET", "/api/v1/updates/progress/nope", 404, headers=h)


# -- storage -------------------------------------------------------------------------------------
async def test_storage_status_and_cleanup_touch_only_temp_and_cache(sim):
    h = await auth(sim)
    root = sim.sim.config.data_dir
    (root / "temp").mkdir()
    (root / "temp" / "a.bin").write_bytes(b"x" * 100)
    (root / "cache" / "sub").mkdir(parents=True)
    (root / "cache" / "sub" / "b.bin").write_bytes(b"y" * 50)
    (root / "attachments").mkdir(exist_ok=True)
    (root / "attachments" / "keep.txt").write_bytes(b"keep")
    status = await ok(sim, "GET", "/api/v1/stats/storage", headers=h)
    items = {i["name"]: i for i in status["items"]}
    assert items["temp"]["size_bytes"] == 100 and items["temp"]["cleanable"] is True
    assert items["cache"]["file_count"] == 1 and items["attachments"]["cleanable"] is False
    assert items["database"]["size_bytes"] > 0
    await error(sim, "POST", "/api/v1/stats/storage/cleanup", 400, headers=h,
                json={"targets": ["attachments"]})
    assert (root / "temp" / "a.bin").exists()
    cleaned = await ok(sim, "POST", "/api/v1/stats/storage/cleanup", headers=h)
    assert (cleaned["removed_files"], cleaned["freed_bytes"]) == (2, 150)
    assert list((root / "temp").iterdir()) == [] and list((root / "cache").iterdir()) == []
    assert (root / "attachments" / "keep.txt").read_bytes() == b"keep"


# -- backups -------------------------------------------------------------------------------------
def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload_form(name: str, data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/zip")
    return form


async def test_backup_round_trip_check_rename_import_delete(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    h = await auth(first)
    await ok(first, "POST", "/api/v1/bots", headers=h, json={"id": "kept-bot",
                                                            "type": "telegram", "config": {}})
    (config.data_dir / "attachments").mkdir(exist_ok=True)
    (config.data_dir / "attachments" / "a.txt").write_text("attached")
    assert (await ok(first, "GET", "/api/v1/backups", headers=h))["total"] == 0
    made = await ok(first, "POST", "/api/v1/backups", headers=h)
    name = made["filename"]
    seen, done = await poll(first, f"/api/v1/backups/tasks/{made['task_id']}", h, 2)
    assert seen == ["running", "completed"]
    assert done["result"]["sections"] == ["database", "attachments"]
    await error(first, "GET", f"/api/v1/updates/progress/{made['task_id']}", 404, headers=h)
    async with first.http.get(f"{first.url}/api/v1/backups/{name}", headers=h) as resp:
        assert resp.status == 200 and resp.content_type == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["files"]) == {"database/simulator.db", "files/attachments/a.txt"}
    assert archive.read("files/attachments/a.txt") == b"attached"
    copy = tmp_path / "copy.db"
    copy.write_bytes(archive.read("database/simulator.db"))
    with sqlite3.connect(copy) as con:
        assert con.execute("SELECT id FROM resources WHERE kind = 'bot'").fetchall() == [
            ("kept-bot",)]
    check = await ok(first, "POST", f"/api/v1/backups/{name}/check", headers=h)
    assert check["valid"] is True and check["errors"] == [], check
    renamed = await ok(first, "PATCH", f"/api/v1/backups/{name}", headers=h,
                       json={"new_name": "mine.zip"})
    assert renamed["filename"] == "mine.zip"
    await error(first, "GET", f"/api/v1/backups/{name}", 404, headers=h)
    await ok(first, "POST", "/api/v1/backups/upload", headers=h,
             data=upload_form("other.zip", zip_bytes({"x": b"1"})))
    await error(first, "PATCH", "/api/v1/backups/mine.zip", 409, headers=h,
                json={"new_name": "other.zip"})
    await error(first, "PATCH", "/api/v1/backups/mine.zip", 400, headers=h,
                json={"new_name": "mine.tar"})
    dry = await ok(first, "POST", "/api/v1/backups/mine.zip/import", headers=h,
                   json={"confirmed": False})
    assert dry["imported"] is False and first.sim.store.setting("last_backup_import") is None
    imported = await ok(first, "POST", "/api/v1/backups/mine.zip/import", headers=h)
    seen, done = await poll(first, f"/api/v1/backups/tasks/{imported['task_id']}", h, 3)
    assert seen == ["running", "running", "completed"]
    assert done["result"]["filename"] == "mine.zip" and done["result"]["restart_required"]
    await stop_sim(first)
    second = await start_sim(config)  # backups and the import record survive a restart
    try:
        h = await auth(second)
        listing = await ok(second, "GET", "/api/v1/backups?page_size=1", headers=h)
        assert listing["total"] == 2 and len(listing["items"]) == 1
        names = [i["filename"] for i in (await ok(second, "GET", "/api/v1/backups",
                                                  headers=h))["items"]]
        assert sorted(names) == ["mine.zip", "other.zip"]
        assert json.loads(second.sim.store.setting("last_backup_import"))[
            "filename"] == "mine.zip"
        await ok(second, "DELETE", "/api/v1/backups/mine.zip", headers=h)
        await error(second, "DELETE", "/api/v1/backups/mine.zip", 404, headers=h)
    finally:
        await stop_sim(second)


@pytest.mark.parametrize("entries, problem", [
    ({"x.txt": b"no manifest"}, "manifest.json is missing"),
    ({"manifest.json": b"{not json"}, "not valid JSON"),
    ({"manifest.json": json.dumps({"format": "other"}).encode()}, "manifest"),
    ({"manifest.json": json.dumps({"format": "astrbot-sim-backup", "format_version": 1,
                                   "files": {"a": {"size": 1, "sha256": "0"}}}).encode(),
      "a": b"1"}, "checksum"),
    ({"manifest.json": json.dumps({"format": "astrbot-sim-backup", "format_version": 1,
                                   "files": {}}).encode(), "../evil": b"1"}, "unsafe"),
])
async def test_check_and_import_refuse_broken_backups(sim, entries, problem):
    h = await auth(sim)
    await ok(sim, "POST", "/api/v1/backups/upload", headers=h,
             data=upload_form("broken.zip", zip_bytes(entries)))
    check = await ok(sim, "POST", "/api/v1/backups/broken.zip/check", headers=h)
    assert check["valid"] is False and problem in " ".join(check["errors"])
    await error(sim, "POST", "/api/v1/backups/broken.zip/import", 400, headers=h)
    assert sim.sim.store.list_resources("task") == []


async def test_upload_rejects_bad_files_and_duplicates(sim):
    h = await auth(sim)
    await error(sim, "POST", "/api/v1/backups/upload", 400, headers=h,
                data=upload_form("plain.zip", b"not a zip"))
    await error(sim, "POST", "/api/v1/backups/upload", 400, headers=h,
                data=upload_form("../escape.zip", zip_bytes({"a": b"1"})))
    await error(sim, "POST", "/api/v1/backups/upload", 400, headers=h,
                data=upload_form("backup.tar", zip_bytes({"a": b"1"})))
    await error(sim, "POST", "/api/v1/backups/upload", 400, headers=h, json={"file": "x"})
    await ok(sim, "POST", "/api/v1/backups/upload", headers=h,
             data=upload_form("ok.zip", zip_bytes({"a": b"1"})))
    await error(sim, "POST", "/api/v1/backups/upload", 409, headers=h,
                data=upload_form("ok.zip", zip_bytes({"a": b"2"})))
    listing = await ok(sim, "GET", "/api/v1/backups", headers=h)
    assert [i["filename"] for i in listing["items"]] == ["ok.zip"]
    assert not (sim.sim.config.data_dir / "escape.zip").exists()


@pytest.mark.parametrize("raw", ESCAPES)
@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None), ("DELETE", "", None), ("PATCH", "", {"new_name": "x.zip"}),
    ("POST", "/check", None), ("POST", "/import", None)])
async def test_backup_filenames_cannot_escape(sim, raw, method, suffix, body):
    h = await auth(sim)
    status, answer = await sim.call(method, f"/api/v1/backups/{raw}{suffix}", headers=h,
                                    json=body)
    assert status == 400 and answer["status"] == "error", (status, answer)
    assert sim.sim.store.path.is_file()
    await error(sim, "PATCH", "/api/v1/backups/missing.zip", 400, headers=h,
                json={"new_name": raw.replace("%2F", "/").replace("%5C", "\\")})


async def test_a_backup_name_starting_with_a_tilde_is_a_name(sim):
    """`~` expands nowhere here (no shell, no home directory): `~x.zip` names a backup like any
    other, so an unknown one is a 404, not a 400 "escapes its folder" (full-depth V1-FUZZ-004:
    `GET /api/v1/backups/~±=`)."""
    h = await auth(sim)
    for raw in ("~%C2%B1%3D", "~x.zip", "~"):
        await error(sim, "GET", f"/api/v1/backups/{raw}", 404, headers=h)


def chunk_form(upload_id: str, index: int, data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("upload_id", upload_id)
    form.add_field("chunk_index", str(index))
    form.add_field("chunk", data, filename="blob", content_type="application/octet-stream")
    return form


async def test_chunked_upload_complete_and_abort(sim):
    h = await auth(sim)
    data = zip_bytes({"manifest.json": b"{}", "pad": bytes(range(256)) * 40})
    half = len(data) // 2
    session = await ok(sim, "POST", "/api/v1/backups/upload/init", headers=h,
                       json={"filename": "big.zip", "total_size": len(data)})
    uid = session["upload_id"]
    step = await ok(sim, "POST", "/api/v1/backups/upload/chunk", headers=h,
                    data=chunk_form(uid, 1, data[half:]))
    assert step["received_bytes"] == len(data) - half
    await error(sim, "POST", "/api/v1/backups/upload/complete", 409, headers=h,
                json={"upload_id": uid})
    await error(sim, "POST", "/api/v1/backups/upload/chunk", 413, headers=h,
                data=chunk_form(uid, 0, data))  # more than the declared total
    await ok(sim, "POST", "/api/v1/backups/upload/chunk", headers=h,
             data=chunk_form(uid, 0, b"garbage"))
    await ok(sim, "POST", "/api/v1/backups/upload/chunk", headers=h,
             data=chunk_form(uid, 0, data[:half]))  # a re-sent chunk replaces
    done = await ok(sim, "POST", "/api/v1/backups/upload/complete", headers=h,
                    json={"upload_id": uid})
    assert done["filename"] == "big.zip" and done["size"] == len(data)
    async with sim.http.get(f"{sim.url}/api/v1/backups/big.zip", headers=h) as resp:
        assert await resp.read() == data
    await error(sim, "POST", "/api/v1/backups/upload/complete", 404, headers=h,
                json={"upload_id": uid})
    await error(sim, "POST", "/api/v1/backups/upload/init", 409, headers=h,
                json={"filename": "big.zip", "total_size": 10})
    # any declared size is taken (seed 004 sets no maximum); the server's own limit holds
    # where the bytes arrive
    huge = await ok(sim, "POST", "/api/v1/backups/upload/init", headers=h,
                    json={"filename": "huge.zip", "total_size": 2**40})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("simulator.http.handlers.backups.MAX_BACKUP_BYTES", 8)
        await ok(sim, "POST", "/api/v1/backups/upload/chunk", headers=h,
                 data=chunk_form(huge["upload_id"], 0, b"12345"))
        await error(sim, "POST", "/api/v1/backups/upload/chunk", 413, headers=h,
                    data=chunk_form(huge["upload_id"], 1, b"6789"))
    await error(sim, "POST", "/api/v1/backups/upload/init", 400, headers=h,
                json={"filename": "..%2Fx.zip", "total_size": 10})
    other = await ok(sim, "POST", "/api/v1/backups/upload/init", headers=h,
                     json={"filename": "gone.zip", "total_size": 10})
    await ok(sim, "POST", "/api/v1/backups/upload/chunk", headers=h,
             data=chunk_form(other["upload_id"], 0, b"12345"))
    staged = sim.sim.config.data_dir / "backup_uploads" / other["upload_id"]
    assert staged.is_dir()
    await ok(sim, "POST", "/api/v1/backups/upload/abort", headers=h,
             json={"upload_id": other["upload_id"]})
    assert not staged.exists()
    await error(sim, "POST", "/api/v1/backups/upload/chunk", 404, headers=h,
                data=chunk_form(other["upload_id"], 1, b"6"))
    await error(sim, "POST", "/api/v1/backups/upload/chunk", 400, headers=h,
                data=chunk_form("../../etc", 0, b"6"))
    names = [i["filename"] for i in (await ok(sim, "GET", "/api/v1/backups", headers=h))["items"]]
    assert names == ["big.zip"]


# -- logs and trace ------------------------------------------------------------------------------
async def read_event(resp, wanted, timeout=5.0):
    """Lines of the SSE stream until a `data:` entry whose text contains `wanted`."""
    comments = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(resp.content.readline(), timeout)).decode().strip()
        if line.startswith(":"):
            comments.append(line)
        elif line.startswith("data: ") and wanted in json.loads(line[6:])["data"]:
            return json.loads(line[6:]), comments
    raise AssertionError(f"no log entry with {wanted!r}")


async def test_live_logs_stream_history_then_new_entries(sim):
    h = await auth(sim)
    await ok(sim, "PUT", "/api/v1/trace/settings", headers=h, json={"level": "debug"})
    history = (await ok(sim, "GET", "/api/v1/logs/history", headers=h))["logs"]
    assert "level=DEBUG" in history[-1]["data"]
    async with sim.http.get(sim.url + "/api/v1/logs/live", headers=h) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        entry, _ = await read_event(resp, "level=DEBUG")  # the history comes first
        assert entry["seq"] == history[-1]["seq"]
        _, comments = await read_event_after_heartbeat(resp)
        assert ": heartbeat" in comments
        await ok(sim, "PUT", "/api/v1/trace/settings", headers=h, json={"enabled": True})
        entry, _ = await read_event(resp, "enabled=True")
        assert entry["level"] == "INFO" and entry["seq"] > history[-1]["seq"]
    for _ in range(30):  # the server notices the client left within a heartbeat
        if not sim.sim.events.subscribers:
            break
        await asyncio.sleep(0.1)
    assert not sim.sim.events.subscribers


async def read_event_after_heartbeat(resp):
    comments = []
    while ": heartbeat" not in comments:
        comments.append((await asyncio.wait_for(resp.content.readline(), 3)).decode().strip())
    return None, comments


async def test_trace_settings_merge_validate_and_persist(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    h = await auth(first)
    assert await ok(first, "GET", "/api/v1/trace/settings", headers=h) == {
        "enabled": False, "level": "INFO"}
    await ok(first, "PUT", "/api/v1/trace/settings", headers=h,
             json={"enabled": True, "sample_rate": 0.5})
    await ok(first, "PUT", "/api/v1/trace/settings", headers=h, json={"level": "info"})
    await error(first, "PUT", "/api/v1/trace/settings", 400, headers=h, json={"enabled": "on"})
    await stop_sim(first)
    second = await start_sim(config)
    try:
        assert await ok(second, "GET", "/api/v1/trace/settings", headers=await auth(second)) \
            == {"enabled": True, "level": "INFO", "sample_rate": 0.5}
    finally:
        await stop_sim(second)


# -- webhooks ------------------------------------------------------------------------------------
async def test_webhooks_verify_and_record_for_known_bots(sim):
    h = await auth(sim)
    await ok(sim, "POST", "/api/v1/bots", headers=h, json={
        "id": "wx", "type": "wecom", "config": {"webhook_uuid": "wh-1"}})
    await ok(sim, "POST", "/api/v1/bots", headers=h, json={
        "id": "off", "type": "lark", "enabled": False, "config": {"webhook_uuid": "wh-2"}})
    status, text = await sim.call("GET", "/api/v1/webhooks/platforms/wh-1?echostr=abc123")
    assert (status, text) == (200, "abc123")  # public: no credentials
    status, body = await sim.call("GET", "/api/v1/webhooks/platforms/wh-1?challenge=c1")
    assert (status, body) == (200, {"challenge": "c1"})
    plain = await ok(sim, "GET", "/api/v1/webhooks/platforms/wh-1")
    assert (plain["bot_id"], plain["platform"], plain["verified"]) == ("wx", "wecom", True)
    await error(sim, "GET", "/api/v1/webhooks/platforms/nobody", 404)
    await error(sim, "GET", "/api/v1/webhooks/platforms/wh-2", 409)
    got = await ok(sim, "POST", "/api/v1/webhooks/platforms/wh-1", json={"msg": "hi"})
    status, body = await sim.call("POST", "/api/v1/webhooks/platforms/wh-1",
                                  json={"type": "url_verification", "challenge": "c2"})
    assert (status, body) == (200, {"challenge": "c2"})
    await error(sim, "POST", "/api/v1/webhooks/platforms/nobody", 404, json={"msg": "x"})
    await error(sim, "POST", "/api/v1/webhooks/platforms/wh-1", 400, data=b"{broken",
                headers={"Content-Type": "application/json"})
    events = sim.sim.store.list_resources("webhook event")
    assert [e["body"] for e in events] == [{"msg": "hi"},
                                           {"type": "url_verification", "challenge": "c2"}]
    assert events[0]["event_id"] == got["event_id"] and events[0]["bot_id"] == "wx"
