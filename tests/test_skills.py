"""Skills: zip uploads (zip slip refused), files, archives, metadata, and the Shipyard Neo
candidate -> release flow, over real sockets with the state surviving a restart."""

from __future__ import annotations

import io
import zipfile

import aiohttp
import pytest
from yarl import URL

from .conftest import start_sim, stop_sim

SKILL_MD = "---\nname: greeter\ndescription: Say hello politely.\n---\n\n# Greeter\n"


def make_zip(entries: dict[str, str | bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def form(archives: list[tuple[str, bytes]], field: str = "file", **fields) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for filename, payload in archives:
        data.add_field(field, payload, filename=filename, content_type="application/zip")
    for name, value in fields.items():
        data.add_field(name, value)
    return data


async def auth(sim) -> dict:
    return {"X-API-Key": (await sim.new_key(["skill"]))["api_key"]}


async def upload(sim, headers, entries, filename="greeter.zip", **fields):
    return await sim.call("POST", "/api/v1/skills", headers=headers,
                          data=form([(filename, make_zip(entries))], **fields))


async def names(sim, headers) -> list[str]:
    status, body = await sim.call("GET", "/api/v1/skills", headers=headers)
    assert status == 200, body
    return [s["name"] for s in body["data"]["skills"]]


async def test_upload_files_archive_patch_delete_round_trip(sim):
    h = await auth(sim)
    status, made = await upload(sim, h, {"greeter/SKILL.md": SKILL_MD,
                                         "greeter/scripts/hello.py": "print('hi')\n"})
    assert status == 200, made
    skill = made["data"]
    assert (skill["name"], skill["description"], skill["enabled"], skill["file_count"]) == (
        "greeter", "Say hello politely.", True, 2)
    assert (sim.sim.config.data_dir / "skills/greeter/scripts/hello.py").read_text() == \
        "print('hi')\n"
    status, again = await upload(sim, h, {"greeter/SKILL.md": SKILL_MD})
    assert status == 409 and again["status"] == "error"

    status, listing = await sim.call("GET", "/api/v1/skills/greeter/files", headers=h)
    assert [(f["path"], f["type"]) for f in listing["data"]["files"]] == [
        ("SKILL.md", "file"), ("scripts", "dir"), ("scripts/hello.py", "file")]
    status, sub = await sim.call("GET", "/api/v1/skills/files", headers=h,
                                 params={"skill_name": "greeter", "path": "scripts"})
    assert [f["path"] for f in sub["data"]["files"]] == ["scripts/hello.py"]

    url = URL(sim.url + "/api/v1/skills/greeter/files/scripts%2Fhello.py", encoded=True)
    async with sim.http.put(url, data="print('bye')\n", headers=h) as resp:
        assert resp.status == 200 and (await resp.json())["data"]["created"] is False
    async with sim.http.get(url, headers=h) as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert await resp.text() == "print('bye')\n"
    status, put = await sim.call("PUT", "/api/v1/skills/file", headers=h, json={
        "skill_name": "greeter", "path": "docs/notes.md", "content": "new file"})
    assert status == 200 and put["data"] == {"skill_name": "greeter", "path": "docs/notes.md",
                                             "size": 8, "created": True}
    status, text = await sim.call("GET", "/api/v1/skills/file", headers=h,
                                  params={"skill_name": "greeter", "path": "docs/notes.md"})
    assert (status, text) == (200, "new file")

    async with sim.http.get(sim.url + "/api/v1/skills/archive", headers=h,
                            params={"skill_name": "greeter"}) as resp:
        assert resp.status == 200 and resp.content_type == "application/zip"
        archive = await resp.read()
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert sorted(zf.namelist()) == ["greeter/SKILL.md", "greeter/docs/notes.md",
                                         "greeter/scripts/hello.py"]
        assert zf.read("greeter/scripts/hello.py") == b"print('bye')\n"
    async with sim.http.get(sim.url + "/api/v1/skills/greeter/archive", headers=h) as resp:
        assert await resp.read() == archive  # deterministic bytes

    status, patched = await sim.call("PATCH", "/api/v1/skills/greeter", headers=h, json={
        "enabled": False, "description": "Overridden."})
    assert status == 200 and patched["data"]["enabled"] is False
    assert patched["data"]["description"] == "Overridden."
    _, disabled = await sim.call("GET", "/api/v1/skills?enabled=false", headers=h)
    assert [s["name"] for s in disabled["data"]["skills"]] == ["greeter"]
    status, patched = await sim.call("PATCH", "/api/v1/skills/by-name", headers=h, json={
        "skill_name": "greeter", "active": True, "enabled": False})
    assert status == 400  # contradictory flags change nothing
    status, patched = await sim.call("PATCH", "/api/v1/skills/by-name", headers=h, json={
        "skill_name": "greeter", "active": True})
    assert status == 200 and patched["data"]["enabled"] is True
    assert patched["data"]["description"] == "Overridden."
    _, disabled = await sim.call("GET", "/api/v1/skills?enabled=false", headers=h)
    assert disabled["data"]["skills"] == []

    status, _ = await sim.call("DELETE", "/api/v1/skills/by-name?skill_name=greeter", headers=h)
    assert status == 200 and await names(sim, h) == []
    assert not (sim.sim.config.data_dir / "skills/greeter").exists()
    for method, path in (("DELETE", "/api/v1/skills/greeter"),
                         ("GET", "/api/v1/skills/greeter/archive"),
                         ("PATCH", "/api/v1/skills/greeter")):
        status, gone = await sim.call(method, path, headers=h, json={"enabled": True})
        assert status == 404 and gone["status"] == "error"


async def test_root_layout_overwrite_and_batch(sim):
    h = await auth(sim)
    root_md = "# no front matter\n"
    status, made = await upload(sim, h, {"SKILL.md": root_md}, filename="plain-skill.zip")
    assert status == 200 and made["data"]["name"] == "plain-skill"
    status, _ = await upload(sim, h, {"SKILL.md": "# v2\n", "extra.txt": "x"},
                             filename="plain-skill.zip", overwrite="true")
    assert status == 200
    status, text = await sim.call("GET", "/api/v1/skills/plain-skill/files/SKILL.md", headers=h)
    assert text == "# v2\n"

    batch = [("a.zip", make_zip({"alpha/SKILL.md": "# a"})),
             ("b.zip", make_zip({"beta/SKILL.md": "# b"}))]
    status, done = await sim.call("POST", "/api/v1/skills/batch", headers=h,
                                  data=form(batch, field="files"))
    assert status == 200 and [s["name"] for s in done["data"]["installed"]] == ["alpha", "beta"]
    bad_batch = [("c.zip", make_zip({"gamma/SKILL.md": "# c"})), ("d.zip", b"not a zip")]
    status, bad = await sim.call("POST", "/api/v1/skills/batch", headers=h,
                                 data=form(bad_batch, field="files"))
    assert status == 400 and "d.zip" in bad["message"]
    status, _ = await sim.call("POST", "/api/v1/skills/batch", headers=h, data=form(
        [("c.zip", make_zip({"gamma/SKILL.md": "# c"})), ("a.zip", batch[0][1])], field="files"))
    assert status == 409
    assert await names(sim, h) == ["alpha", "beta", "plain-skill"]  # nothing half-installed


@pytest.mark.parametrize("entries, symlink, status, fragment", [
    ({"../evil/SKILL.md": "x"}, None, 400, "escapes"),
    ({"greeter/SKILL.md": "x", "greeter/../../evil.txt": "x"}, None, 400, "escapes"),
    ({"/etc/SKILL.md": "x"}, None, 400, "escapes"),
    ({"greeter\\SKILL.md": "x"}, None, 400, "escapes"),
    ({"greeter/SKILL.md": "x"}, "greeter/link", 400, "symlink"),
    ({"greeter/README.md": "x"}, None, 400, "no SKILL.md"),
    ({"a/SKILL.md": "x", "b/SKILL.md": "x"}, None, 400, "no SKILL.md"),
    ({"SKILL.md": "---\nname: ../up\n---\n"}, None, 400, "Invalid skill_name"),
])
async def test_bad_archives_change_nothing(sim, entries, symlink, status, fragment):
    h = await auth(sim)
    got, body = await sim.call("POST", "/api/v1/skills", headers=h,
                               data=form([("greeter.zip", make_zip(entries, symlink))]))
    assert got == status and body["status"] == "error" and fragment in body["message"], body
    data_dir = sim.sim.config.data_dir
    assert await names(sim, h) == []
    assert not (data_dir / "evil").exists() and not (data_dir / "evil.txt").exists()
    assert list((data_dir / "skills").iterdir()) == []  # no staging folder left behind


async def test_non_zip_and_missing_file_are_400(sim):
    h = await auth(sim)
    status, body = await sim.call("POST", "/api/v1/skills", headers=h,
                                  data=form([("x.zip", b"PK but not really")]))
    assert status == 400 and "not a zip" in body["message"]
    status, body = await sim.call("POST", "/api/v1/skills", headers=h, data=form([], x="1"))
    assert status == 400


@pytest.mark.parametrize("method, raw_path", [
    ("GET", "/api/v1/skills/greeter/files/..%2F..%2Fsimulator.db"),
    ("PUT", "/api/v1/skills/greeter/files/..%2Fescaped.txt"),
    ("GET", "/api/v1/skills/greeter/files/%252e%252e%252fsimulator.db"),
    ("GET", "/api/v1/skills/..%2Fskills/files"),
    ("GET", "/api/v1/skills/file?skill_name=greeter&path=../../simulator.db"),
    ("GET", "/api/v1/skills/file?skill_name=greeter&path=/etc/passwd"),
    ("GET", "/api/v1/skills/files?skill_name=greeter&path=..%2F.."),
    ("GET", "/api/v1/skills/archive?skill_name=..%2Fskills"),
])
async def test_path_escapes_are_400(sim, method, raw_path):
    h = await auth(sim)
    assert (await upload(sim, h, {"greeter/SKILL.md": SKILL_MD}))[0] == 200
    async with sim.http.request(method, URL(sim.url + raw_path, encoded=True), headers=h,
                                data="pwned") as resp:
        body = await resp.json()
    assert resp.status == 400 and body["status"] == "error", body
    assert not (sim.sim.config.data_dir / "skills" / "escaped.txt").exists()
    status, _ = await sim.call("PUT", "/api/v1/skills/file", headers=h, json={
        "skill_name": "greeter", "path": "../../outside.txt", "content": "x"})
    assert status == 400 and not (sim.sim.config.data_dir / "outside.txt").exists()


async def test_unknown_files_are_404(sim):
    h = await auth(sim)
    await upload(sim, h, {"greeter/SKILL.md": SKILL_MD})
    for path in ("/api/v1/skills/greeter/files/nope.txt", "/api/v1/skills/nobody/files",
                 "/api/v1/skills/files?skill_name=greeter&path=nope"):
        status, body = await sim.call("GET", path, headers=h)
        assert status == 404 and body["status"] == "error"


async def neo_post(sim, h, action: str, **body):
    return await sim.call("POST", f"/api/v1/skills/neo/{action}", headers=h, json=body)


async def test_neo_candidate_release_state_machine(sim):
    h = await auth(sim)
    status, listing = await sim.call("GET", "/api/v1/skills/neo/candidates", headers=h,
                                     params={"skill_key": "weather-report"})
    assert [c["candidate_id"] for c in listing["data"]["items"]] == [
        "cand-weather-report-1", "cand-weather-report-2"]
    assert {c["status"] for c in listing["data"]["items"]} == {"pending"}
    status, payload = await sim.call("GET", "/api/v1/skills/neo/payload", headers=h, params={
        "payload_ref": listing["data"]["items"][0]["payload_ref"]})
    assert status == 200 and "name: weather-report" in payload["data"]["files"]["SKILL.md"]

    status, _ = await neo_post(sim, h, "promote", candidate_id="cand-weather-report-1")
    assert status == 409  # not evaluated yet
    status, evaluated = await neo_post(sim, h, "evaluate", candidate_id="cand-weather-report-1")
    assert status == 200 and evaluated["data"]["status"] == "evaluated"
    assert evaluated["data"]["evaluation"]["passed"] is True
    status, first = await neo_post(sim, h, "promote", candidate_id="cand-weather-report-1")
    assert status == 200 and first["data"]["release_id"] == "rel-weather-report-stable-1"
    await neo_post(sim, h, "evaluate", candidate_id="cand-weather-report-2")
    status, second = await neo_post(sim, h, "promote", candidate_id="cand-weather-report-2")
    assert second["data"]["version"] == 2 and second["data"]["status"] == "active"
    status, releases = await sim.call("GET", "/api/v1/skills/neo/releases?stage=stable",
                                      headers=h)
    assert [(r["version"], r["status"]) for r in releases["data"]["items"]] == [
        (1, "superseded"), (2, "active")]

    status, _ = await neo_post(sim, h, "releases/delete", release_id=second["data"]["release_id"])
    assert status == 409  # active
    status, _ = await neo_post(sim, h, "candidates/delete", candidate_id="cand-weather-report-2")
    assert status == 409  # a release refers to it
    status, synced = await neo_post(sim, h, "sync", release_id=second["data"]["release_id"])
    assert status == 200 and synced["data"]["skill"]["source"] == "neo"
    assert "forecast" in synced["data"]["skill"]["description"]
    status, rolled = await neo_post(sim, h, "rollback", release_id=second["data"]["release_id"])
    assert status == 200 and rolled["data"]["active"]["version"] == 1
    status, _ = await neo_post(sim, h, "rollback", release_id=second["data"]["release_id"])
    assert status == 409
    status, _ = await neo_post(sim, h, "sync", release_id=second["data"]["release_id"])
    assert status == 409
    status, _ = await neo_post(sim, h, "releases/delete", release_id=second["data"]["release_id"])
    assert status == 200
    status, _ = await neo_post(sim, h, "candidates/delete", candidate_id="cand-weather-report-2")
    assert status == 200

    status, failed = await neo_post(sim, h, "evaluate", candidate_id="cand-csv-summary-1",
                                    passed=False, score=0.2)
    assert failed["data"]["evaluation"] == {**failed["data"]["evaluation"], "passed": False,
                                            "score": 0.2}
    status, _ = await neo_post(sim, h, "promote", candidate_id="cand-csv-summary-1")
    assert status == 409
    for action, body in (("evaluate", {"candidate_id": "nope"}),
                         ("rollback", {"release_id": "nope"}),
                         ("sync", {"release_id": "nope"})):
        status, err = await neo_post(sim, h, action, **body)
        assert status == 404 and err["status"] == "error"
    status, _ = await neo_post(sim, h, "evaluate", candidate_id="cand-csv-summary-1", score=7)
    assert status == 400
    status, _ = await neo_post(sim, h, "evaluate", candidate_id="cand-csv-summary-1",
                               passed=True)
    status, _ = await neo_post(sim, h, "promote", candidate_id="cand-csv-summary-1",
                               stage="prod")
    assert status == 400
    assert (await sim.call("GET", "/api/v1/skills/neo/payload?payload_ref=x", headers=h))[0] \
        == 404


async def test_skills_and_neo_state_survive_a_restart(sim_config):
    first = await start_sim(sim_config)
    h = await auth(first)
    await upload(first, h, {"greeter/SKILL.md": SKILL_MD})
    await first.call("PATCH", "/api/v1/skills/greeter", headers=h, json={"enabled": False})
    await neo_post(first, h, "evaluate", candidate_id="cand-csv-summary-1")
    await neo_post(first, h, "promote", candidate_id="cand-csv-summary-1", stage="canary")
    await neo_post(first, h, "candidates/delete", candidate_id="cand-weather-report-1")
    await stop_sim(first)

    second = await start_sim(sim_config)
    try:
        h = await auth(second)
        status, listing = await second.call("GET", "/api/v1/skills?enabled=false", headers=h)
        assert [(s["name"], s["enabled"]) for s in listing["data"]["skills"]] == [
            ("greeter", False)]
        _, candidates = await second.call("GET", "/api/v1/skills/neo/candidates", headers=h)
        assert {c["candidate_id"]: c["status"] for c in candidates["data"]["items"]} == {
            "cand-csv-summary-1": "promoted", "cand-weather-report-2": "pending"}
        _, releases = await second.call("GET", "/api/v1/skills/neo/releases", headers=h,
                                        params={"stage": "canary"})
        assert [r["release_id"] for r in releases["data"]["items"]] == [
            "rel-csv-summary-canary-1"]
    finally:
        await stop_sim(second)
