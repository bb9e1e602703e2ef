"""Plugins, plugin pages, plugin sources, commands and tools: the seeded world, CRUD round
trips, simulated installs and updates, path escapes, and persistence across a restart (real
sockets, SQLite, files under the data dir)."""

from __future__ import annotations

import io
import zipfile

import aiohttp
import pytest

from simulator.config import SimConfig

from .conftest import start_sim, stop_sim

WEATHER, FUN = "astrbot_plugin_weather", "astrbot_plugin_fun"
WEATHER_CMD = f"data.plugins.{WEATHER}.main.weather"
FUN_WT = f"data.plugins.{FUN}.main.wt"


def api_of(sim, jwt: str):
    async def call(method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {jwt}", **kwargs.pop("headers", {})}
        return await sim.call(method, "/api/v1" + path, headers=headers, **kwargs)

    return call


@pytest.fixture
async def api(sim):
    return api_of(sim, await sim.admin_jwt())


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def form(field_files: list[tuple[str, str, bytes]], **fields) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for field, filename, content in field_files:
        data.add_field(field, content, filename=filename, content_type="application/zip")
    for key, value in fields.items():
        data.add_field(key, value)
    return data


async def names(api, path="/plugins") -> list[str]:
    status, body = await api("GET", path)
    assert status == 200, body
    return [p["name"] for p in body["data"]]


# plugins ------------------------------------------------------------------------------------
async def test_seeded_plugins_list_filter_and_detail(api):
    assert await names(api) == ["astrbot", FUN, WEATHER]
    assert await names(api, "/plugins?include_reserved=false") == [FUN, WEATHER]
    assert await names(api, "/plugins?enabled=false") == []
    _, listing = await api("GET", "/plugins")
    weather = listing["data"][2]
    assert weather["version"] == "v1.2.0" and weather["has_update"] is True
    assert weather["pages"] == ["dashboard"] and weather["tools"] == ["get_weather"]
    assert listing["data"][0]["reserved"] is True
    _, by_path = await api("GET", f"/plugins/{WEATHER}")
    _, by_query = await api("GET", f"/plugins/by-id?plugin_id={WEATHER}")
    assert by_path == by_query and by_path["data"]["routes"][0]["methods"] == ["GET"]
    assert [c["effective_command"] for c in by_path["data"]["commands"]] == ["weather",
                                                                            "forecast"]


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/plugins/nope", None), ("GET", "/plugins/by-id?plugin_id=nope", None),
    ("DELETE", "/plugins/nope", None), ("GET", "/plugins/nope/config", None),
    ("PUT", "/plugins/nope/config", {}), ("GET", "/plugins/config/schema?plugin_id=nope", None),
    ("GET", "/plugins/nope/readme", None), ("GET", "/plugins/astrbot/changelog", None),
    ("POST", "/plugins/nope/reload", None), ("PATCH", "/plugins/nope/enabled",
                                             {"enabled": True}),
    ("POST", "/plugins/nope/update", None), ("POST", "/plugins/nope/source",
                                             {"install_method": "market"}),
    ("GET", "/plugins/nope/pages", None), ("GET", f"/plugins/{WEATHER}/pages/nope", None),
    ("GET", f"/plugins/{WEATHER}/pages/dashboard/assets/nope.js", None),
    ("GET", f"/plugins/{WEATHER}/config-files/nope", None),
    ("DELETE", "/plugins/failed/nope", None), ("POST", "/plugins/failed/nope/reload", None),
    ("GET", "/plugins/extensions/nope", None), ("DELETE", "/plugin-sources/nope", None),
    ("PATCH", "/commands/nope", {"enabled": False}),
    ("PATCH", "/tools/nope/enabled", {"enabled": False}),
    ("PATCH", "/tools/nope/permission", {"permission": "admin"}),
    ("GET", "/commands?config_id=nope", None),
    ("POST", "/plugins/install/github", {"repository": "a/b", "market_plugin_id": "nope"}),
])
async def test_unknown_things_are_404(api, method, path, body):
    status, answer = await api(method, path, json=body)
    assert status == 404 and answer["status"] == "error", answer


async def test_config_round_trip_and_invalid_config_changes_nothing(api):
    _, schema = await api("GET", f"/plugins/{WEATHER}/config/schema")
    assert schema["data"]["schema"]["units"]["options"] == ["metric", "imperial"]
    _, config = await api("GET", f"/plugins/config?plugin_id={WEATHER}")
    assert config["data"]["config"]["default_city"] == "Beijing"
    status, saved = await api("PUT", f"/plugins/{WEATHER}/config",
                              json={"api_key": "k-1", "units": "imperial", "forecast_days": 5})
    assert status == 200 and saved["data"]["config"]["default_city"] == "Beijing"  # default
    for bad in ({"forecast_days": "5"}, {"forecast_days": True}, {"units": "kelvin"},
                {"surprise": 1}, {"icon_pack": [1]}):
        status, answer = await api("PUT", f"/plugins/{WEATHER}/config", json=bad)
        assert status == 400 and answer["status"] == "error", (bad, answer)
    status, _ = await api("PUT", "/plugins/config", json={"plugin_id": WEATHER,
                                                          "config": {"units": "x"}})
    assert status == 400
    _, after = await api("GET", f"/plugins/{WEATHER}/config")
    assert after["data"]["config"] == saved["data"]["config"]
    status, by_id = await api("PUT", "/plugins/config",
                              json={"plugin_id": FUN, "config": {"sides": 20}})
    assert status == 200 and by_id["data"]["config"] == {"sides": 20, "announce": True}
    assert (await api("GET", f"/plugins/{FUN}/config"))[1]["data"]["config"]["sides"] == 20


async def test_readme_and_changelog_are_text(sim, api):
    jwt = await sim.admin_jwt()
    async with sim.http.get(f"{sim.url}/api/v1/plugins/{WEATHER}/readme",
                            headers={"Authorization": f"Bearer {jwt}"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert (await resp.text()).startswith("# Weather")
    status, body = await api("GET", f"/plugins/changelog?plugin_id={WEATHER}",
                             headers={"Accept": "application/json"})
    assert status == 200 and "## v1.3.0" in body["data"]["content"]


async def test_enable_disable_reload_and_reserved_rules(api):
    status, off = await api("PATCH", f"/plugins/{WEATHER}/enabled", json={"enabled": False})
    assert status == 200 and off["data"]["activated"] is False
    assert await names(api, "/plugins?enabled=false") == [WEATHER]
    _, tools = await api("GET", "/tools?origin=plugin")
    assert {t["name"]: t["active"] for t in tools["data"]} == {"roll_dice": True,
                                                               "get_weather": False}
    status, _ = await api("GET", f"/plugins/extensions/{WEATHER}%2Fforecast%2FParis")
    assert status == 409
    status, on = await api("PATCH", "/plugins/enabled", json={"plugin_id": WEATHER,
                                                              "enabled": True})
    assert status == 200 and on["data"]["activated"] is True
    for method, path, body in (("PATCH", "/plugins/astrbot/enabled", {"enabled": False}),
                               ("DELETE", "/plugins/astrbot", None),
                               ("POST", "/plugins/astrbot/update", None),
                               ("POST", "/plugins/astrbot/source", {"install_method": "x"})):
        status, answer = await api(method, path, json=body)
        assert status == 409 and answer["status"] == "error", path
    assert "astrbot" in await names(api)
    for expected in (1, 2):
        status, reloaded = await api("POST", "/plugins/reload", json={"plugin_id": FUN})
        assert status == 200 and reloaded["data"]["reload_count"] == expected


# installs -----------------------------------------------------------------------------------
async def test_install_from_github_and_url_then_uninstall(api):
    status, made = await api("POST", "/plugins/install/github",
                             json={"repository": "someone/astrbot_plugin_echo", "ref": "main"})
    assert status == 200, made
    echo = made["data"]
    assert (echo["name"], echo["author"], echo["install_method"]) == (
        "astrbot_plugin_echo", "someone", "github")
    assert echo["repo"] == "https://github.com/someone/astrbot_plugin_echo"
    _, commands = await api("GET", "/commands")
    assert "data.plugins.astrbot_plugin_echo.main.echo" in [
        c["handler_full_name"] for c in commands["data"]["items"]]
    status, _ = await api("POST", "/plugins/install/github",
                          json={"repository": "https://github.com/someone/astrbot_plugin_echo"})
    assert status == 409
    for bad in ("not a repo", "https://gitlab.com/a/b", "a/b/c", "../x"):
        status, _ = await api("POST", "/plugins/install/github", json={"repository": bad})
        assert status == 404, bad  # names no repository GitHub can have
    for bad in ({"url": "ftp://example.com/x.zip"}, {"url": "example.com/x.zip"}):
        status, _ = await api("POST", "/plugins/install/url", json=bad)
        assert status == 400, bad
    status, _ = await api("POST", "/plugins/install/url", json={"url": "https://example.com/"})
    assert status == 404  # a URL naming no archive finds none
    status, zipped = await api("POST", "/plugins/install/url",
                               json={"url": "https://example.com/dl/astrbot_plugin_zipper.zip"})
    assert status == 200 and zipped["data"]["install_method"] == "url"
    assert await names(api) == ["astrbot", FUN, WEATHER, "astrbot_plugin_echo",
                                "astrbot_plugin_zipper"]
    status, gone = await api("DELETE", "/plugins/by-id?plugin_id=astrbot_plugin_echo")
    assert status == 200 and gone["data"]["uninstalled"] is True
    assert (await api("GET", "/plugins/astrbot_plugin_echo"))[0] == 404
    _, again = await api("POST", "/plugins/install/github",
                         json={"repository": "someone/astrbot_plugin_echo"})
    assert again["data"]["version"] == echo["version"]  # derived from the address alone


async def test_market_installs_check_the_astrbot_version(api):
    status, rss = await api("POST", "/plugins/install/github", json={
        "repository": "astrbot-sim/astrbot_plugin_rss", "install_method": "market",
        "market_plugin_id": "astrbot_plugin_rss"})
    assert status == 200 and rss["data"]["version"] == "v1.0.4"
    assert rss["data"]["source"]["market_plugin_id"] == "astrbot_plugin_rss"
    body = {"repository": "astrbot-sim/astrbot_plugin_next_gen"}
    status, refused = await api("POST", "/plugins/install/github", json=body)
    assert status == 400 and ">=5.0.0" in refused["message"]
    assert "astrbot_plugin_next_gen" not in await names(api)
    status, _ = await api("POST", "/plugins/install/github",
                          json={**body, "ignore_version_check": True})
    assert status == 200


async def test_uninstall_keeps_config_unless_asked(api):
    await api("PUT", f"/plugins/{WEATHER}/config", json={"default_city": "Oslo"})
    reinstall = {"repository": f"astrbot-sim/{WEATHER}"}
    assert (await api("DELETE", f"/plugins/{WEATHER}"))[0] == 200
    assert (await api("GET", f"/plugins/{WEATHER}/pages/dashboard"))[0] == 404
    status, back = await api("POST", "/plugins/install/github", json=reinstall)
    assert status == 200 and back["data"]["version"] == "v1.3.0"
    _, config = await api("GET", f"/plugins/{WEATHER}/config")
    assert config["data"]["config"]["default_city"] == "Oslo"
    assert (await api("GET", f"/plugins/{WEATHER}/pages/dashboard"))[0] == 200
    status, _ = await api("DELETE", f"/plugins/{WEATHER}", json={"delete_config": True})
    assert status == 200
    await api("POST", "/plugins/install/github", json=reinstall)
    _, config = await api("GET", f"/plugins/{WEATHER}/config")
    assert config["data"]["config"]["default_city"] == "Beijing"


UPLOAD = {
    "myplugin-main/metadata.yaml": "name: astrbot_plugin_upload\nauthor: me\nversion: v2.0.0\n"
                                   "desc: Uploaded\nastrbot_version: '>=4.20'\n",
    "myplugin-main/main.py": "print('hi')\n",
    "myplugin-main/README.md": "# Uploaded plugin\n",
    "myplugin-main/_conf_schema.json": '{"greeting": {"type": "string", "default": "hi"}}',
    "myplugin-main/pages/panel/index.html": "<h1>Panel</h1>",
    "myplugin-main/pages/panel/js/main.js": "console.log(1)",
}


async def test_install_from_an_uploaded_zip(api):
    status, made = await api("POST", "/plugins/install/upload",
                             data=form([("file", "p.zip", zip_of(UPLOAD))]))
    assert status == 200, made
    plugin = made["data"]
    assert (plugin["name"], plugin["version"], plugin["install_method"]) == (
        "astrbot_plugin_upload", "v2.0.0", "upload")
    assert [p["name"] for p in plugin["pages"]] == ["panel"]
    _, readme = await api("GET", "/plugins/astrbot_plugin_upload/readme")
    assert readme == "# Uploaded plugin\n"
    _, config = await api("GET", "/plugins/astrbot_plugin_upload/config")
    assert config["data"]["config"] == {"greeting": "hi"}
    _, pages = await api("GET", "/plugins/astrbot_plugin_upload/pages")
    assert pages["data"][0]["assets"] == ["js/main.js"]
    status, html = await api("GET", "/plugins/astrbot_plugin_upload/pages/panel")
    assert status == 200 and html == "<h1>Panel</h1>"
    status, _ = await api("POST", "/plugins/install/upload",
                          data=form([("file", "p.zip", zip_of(UPLOAD))]))
    assert status == 409


@pytest.mark.parametrize("files, flags, status", [
    (None, {}, 400),  # not a ZIP at all
    ({"metadata.yaml": "name: astrbot_plugin_x\n", "../evil.py": "x"}, {}, 400),
    ({"main.py": "x"}, {}, 400),  # no metadata.yaml
    ({"metadata.yaml": "name: ../escape\n"}, {}, 400),
    ({"metadata.yaml": "name: [unclosed\n"}, {}, 400),
    ({"metadata.yaml": "name: astrbot_plugin_x\nastrbot_version: '>=9'\n"}, {}, 400),
    ({"metadata.yaml": "name: astrbot_plugin_x\nastrbot_version: '>=9'\n"},
     {"ignore_version_check": "true"}, 200),
])
async def test_bad_uploads_install_nothing(sim, api, files, flags, status):
    content = b"definitely not a zip" if files is None else zip_of(files)
    got, body = await api("POST", "/plugins/install/upload",
                          data=form([("file", "p.zip", content)], **flags))
    assert got == status, body
    expected = ["astrbot", FUN, WEATHER] + (["astrbot_plugin_x"] if status == 200 else [])
    assert await names(api) == expected
    assert not list(sim.sim.config.data_dir.rglob("evil.py"))


# updates, versions, failed plugins, market ---------------------------------------------------
async def test_updates_single_batch_and_all(api):
    status, _ = await api("POST", "/plugins/update",
                          json={"plugin_ids": [WEATHER, "nope"]})
    assert status == 404  # checked before anything changes
    assert (await api("GET", f"/plugins/{WEATHER}"))[1]["data"]["version"] == "v1.2.0"
    assert (await api("POST", "/plugins/update", json={}))[1]["data"]["updated"] == 0
    status, done = await api("POST", "/plugins/update", json={"update_all": True})
    assert status == 200 and done["data"]["results"] == [{
        "plugin_id": WEATHER, "from_version": "v1.2.0", "to_version": "v1.3.0",
        "updated": True, "reinstalled": False}]
    status, again = await api("POST", f"/plugins/{WEATHER}/update", json={"reinstall": True})
    assert status == 200 and again["data"]["updated"] is False
    assert again["data"]["reinstalled"] is True
    _, weather = await api("GET", f"/plugins/{WEATHER}")
    assert weather["data"]["has_update"] is False and weather["data"]["updated_at"]


@pytest.mark.parametrize("constraint, supported", [
    (">=4.0.0,<5", True), (">=5", False), ("~=4.26", True), ("~=4.25.0", False),
    ("==4.26.2", True), ("!=4.26.2", False), ("", True)])
async def test_version_support(api, constraint, supported):
    status, body = await api("POST", "/plugins/version-support/check",
                             json={"astrbot_version": constraint})
    assert status == 200 and body["data"]["supported"] is supported
    assert body["data"]["current_version"] == "4.26.2"


async def test_validate_repo_and_bad_constraints(api):
    status, body = await api("POST", "/plugins/version-support/check",
                             json={"astrbot_version": "soon"})
    assert status == 200 and body["data"]["supported"] is False  # a verdict, not a refusal
    status, body = await api("POST", "/plugins/validate/repo",
                             json={"url": f"https://github.com/astrbot-sim/{WEATHER}.git"})
    assert status == 200 and body["data"]["installed"] is True
    assert body["data"]["market_plugin_id"] == WEATHER
    status, body = await api("POST", "/plugins/validate/repo", json={"repository": "me/thing"})
    assert status == 200 and body["data"]["plugin_name"] == "thing"
    assert body["data"]["installed"] is False
    assert (await api("POST", "/plugins/validate/repo", json={}))[1]["data"]["valid"] is False
    assert (await api("POST", "/plugins/validate/repo", json={"repository": "nothing"}))[1][
        "data"]["valid"] is False


async def test_failed_plugins_reload_and_uninstall(api):
    _, failed = await api("GET", "/plugins/failed")
    assert [f["name"] for f in failed["data"]] == ["astrbot_plugin_legacy_tts"]
    assert "pyttsx3" in failed["data"][0]["error"]
    status, reloaded = await api("POST", "/plugins/failed/astrbot_plugin_legacy_tts/reload")
    assert status == 200 and reloaded["data"]["activated"] is True
    assert (await api("GET", "/plugins/failed"))[1]["data"] == []
    assert "astrbot_plugin_legacy_tts" in await names(api)
    status, _ = await api("POST", "/plugins/failed/astrbot_plugin_legacy_tts/reload")
    assert status == 404


async def test_uninstall_failed_plugin(api):
    status, _ = await api("DELETE", "/plugins/failed/astrbot_plugin_legacy_tts",
                          json={"delete_config": True})
    assert status == 200
    assert (await api("GET", "/plugins/failed"))[1]["data"] == []
    assert "astrbot_plugin_legacy_tts" not in await names(api)


@pytest.mark.parametrize("query, expected", [
    ("", ["astrbot_plugin_weather", "astrbot_plugin_memory", "astrbot_plugin_rss"]),
    ("?category=entertainment", ["astrbot_plugin_fun", "astrbot_plugin_quiz"]),
    ("?keyword=GAMES&sort=name", ["astrbot_plugin_fun", "astrbot_plugin_quiz"]),
    ("?sort=downloads&page_size=2", ["astrbot_plugin_memory", "astrbot_plugin_weather"]),
    ("?sort=updated&page_size=1", ["astrbot_plugin_next_gen"]),
    ("?sort=name&page=3&page_size=3", ["astrbot_plugin_translate", "astrbot_plugin_weather"]),
    ("?category=nothing", []),
])
async def test_market_filters(api, query, expected):
    status, body = await api("GET", "/plugins/market" + query)
    assert status == 200
    items = body["data"]["items"]
    assert [i["name"] for i in items][:3] == expected
    installed = {i["name"]: i["installed_version"] for i in items if i["installed"]}
    assert set(installed) <= {WEATHER, FUN}
    if WEATHER in installed:
        assert installed[WEATHER] == "v1.2.0"


async def test_market_categories_and_bad_market_queries(api):
    _, body = await api("GET", "/plugins/market/categories")
    assert {c["id"]: c["count"] for c in body["data"]["categories"]} == {
        "ai": 2, "entertainment": 2, "integration": 1, "productivity": 1, "tools": 2}
    for query in ("?sort=stars", "?page=0"):
        assert (await api("GET", "/plugins/market" + query))[0] == 400, query
    assert (await api("GET", "/plugins/market?custom_registry=not-a-url"))[0] == 404
    _, custom = await api("GET", "/plugins/market?custom_registry=https://reg.example/x.json")
    assert custom["data"]["total"] == 8


async def test_bind_plugin_source(api):
    status, bound = await api("POST", f"/plugins/{FUN}/source", json={
        "install_method": "market", "market_plugin_id": FUN})
    assert status == 200 and bound["data"]["source"]["market_plugin_id"] == FUN
    for body, code in (({}, 400), ({"registry_url": "nope"}, 400),
                       ({"market_plugin_id": "nope"}, 404)):
        assert (await api("POST", f"/plugins/{FUN}/source", json=body))[0] == code
    assert (await api("GET", f"/plugins/{FUN}"))[1]["data"]["source"] == bound["data"]["source"]


# pages and extension routes ----------------------------------------------------------------
async def test_pages_assets_and_bridge(sim, api):
    _, pages = await api("GET", f"/plugins/pages?plugin_id={WEATHER}")
    assert pages["data"][0]["assets"] == ["app.js", "css/style.css", "img/logo.svg"]
    jwt = {"Authorization": f"Bearer {await sim.admin_jwt()}"}
    base = f"{sim.url}/api/v1/plugins"
    for url, mime, snippet in (
            (f"{base}/{WEATHER}/pages/dashboard", "text/html", "<h1>Weather dashboard"),
            (f"{base}/page?plugin_id={WEATHER}&page_name=dashboard", "text/html", "<h1>"),
            (f"{base}/{WEATHER}/pages/dashboard/assets/css%2Fstyle.css", "text/css", "h1 {"),
            (f"{base}/page/assets?plugin_id={WEATHER}&page_name=dashboard&asset_path=app.js",
             "text/javascript", "AstrBotPage"),
            (f"{base}/page-bridge-sdk.js", "application/javascript", "AstrBotPage")):
        async with sim.http.get(url, headers=jwt) as resp:
            assert resp.status == 200 and resp.content_type == mime, url
            assert snippet in await resp.text()


@pytest.mark.parametrize("path", [
    f"/plugins/{WEATHER}/pages/dashboard/assets/..%2F..%2F..%2F..%2Fsimulator.db",
    f"/plugins/{WEATHER}/pages/dashboard/assets/%252e%252e%252fx",
    f"/plugins/{WEATHER}/pages/dashboard/assets/%2Fetc%2Fpasswd",
    f"/plugins/page/assets?plugin_id={WEATHER}&page_name=dashboard&asset_path=../../x",
    f"/plugins/page/assets?plugin_id={WEATHER}&page_name=dashboard&asset_path=a%5C..%5Cb",
    f"/plugins/page?plugin_id={WEATHER}&page_name=..",
    f"/plugins/page?plugin_id={WEATHER}&page_name=dashboard%2F..%2F..",
])
async def test_page_path_escapes_are_400(api, path):
    status, body = await api("GET", path)
    assert status == 400 and body["status"] == "error", body


async def test_extension_routes(api):
    forecast = f"/plugins/extensions/{WEATHER}%2Fforecast%2FParis"
    status, first = await api("GET", forecast)
    assert status == 200 and len(first["data"]["days"]) == 3
    assert first == (await api("GET", forecast))[1]  # deterministic
    await api("PUT", f"/plugins/{WEATHER}/config", json={"forecast_days": 5,
                                                         "units": "imperial"})
    _, changed = await api("GET", forecast)
    assert len(changed["data"]["days"]) == 5 and changed["data"]["units"] == "imperial"
    favorites = f"/plugins/extensions/{WEATHER}%2Ffavorites"
    steps = [("PUT", {"a": 1}, {"a": 1}), ("PATCH", {"b": 2}, {"a": 1, "b": 2}),
             ("POST", {"a": 3}, {"a": 3, "b": 2}), ("GET", None, {"a": 3, "b": 2}),
             ("DELETE", None, {}), ("GET", None, {})]
    for method, body, expected in steps:
        status, answer = await api(method, favorites, json=body)
        assert status == 200 and answer["data"] == {"favorites": expected}, method
    status, posted = await api("POST", favorites,
                               data=form([("photo", "p.zip", b"1234")], note="sunny"))
    assert status == 200 and posted["data"]["favorites"] == {
        "note": "sunny", "photo": [{"filename": "p.zip", "size": 4}]}
    assert (await api("DELETE", forecast))[0] == 405
    assert (await api("GET", f"/plugins/extensions/{WEATHER}%2Fnothing"))[0] == 404
    _, stats = await api("GET", f"/plugins/extensions/{FUN}%2Fstats")
    assert stats["data"] == {"plugin": FUN, "commands": 2, "enabled_commands": 2,
                             "reload_count": 0}


async def test_config_files_upload_list_delete_and_escapes(sim, api):
    base = f"/plugins/{WEATHER}/config-files"
    files = [("file", "a.png", b"PNG"), ("file", "b.svg", b"<svg/>")]
    status, made = await api("POST", f"{base}/icon_pack", data=form(files))
    assert status == 200, made
    assert made["data"]["config"]["icon_pack"] == ["files/icon_pack/a.png",
                                                  "files/icon_pack/b.svg"]
    _, listed = await api("GET", f"/plugins/config-files?plugin_id={WEATHER}"
                                 "&config_key=icon_pack")
    assert [(f["name"], f["size"]) for f in listed["data"]["files"]] == [("a.png", 3),
                                                                          ("b.svg", 6)]
    for path, data, code in ((f"{base}/icon_pack", form([("f", "x.exe", b"x")]), 400),
                             (f"{base}/icon_pack", form([("f", "../x.png", b"x")]), 400),
                             (f"{base}/units", form([("f", "x.png", b"x")]), 400),
                             (f"{base}/nope", form([("f", "x.png", b"x")]), 404)):
        assert (await api("POST", path, data=data))[0] == code, path
    for bad in ("../../../simulator.db", "/etc/passwd", "files/icon_pack/../../../x.png",
                "files/icon_pack\\a.png", "files/icon_pack/%2e%2e%2fa.png"):
        status, _ = await api("DELETE", base, json={"path": bad})
        assert status == 400, bad
    assert (sim.sim.config.data_dir / "simulator.db").exists()
    status, deleted = await api("DELETE", f"/plugins/config-files?plugin_id={WEATHER}",
                                json={"path": "files/icon_pack/a.png"})
    assert status == 200 and deleted["data"]["config"]["icon_pack"] == ["files/icon_pack/b.svg"]
    assert (await api("DELETE", base, json={"path": "files/icon_pack/a.png"}))[0] == 404
    _, listed = await api("GET", f"{base}/icon_pack")
    assert [f["name"] for f in listed["data"]["files"]] == ["b.svg"]


# plugin sources -----------------------------------------------------------------------------
async def test_plugin_sources_crud(api):
    status, made = await api("POST", "/plugin-sources",
                             json={"id": "mirror", "url": "https://mirror.example/r.json"})
    assert status == 200 and made["data"]["source"]["name"] == "mirror.example"
    for body, code in (({"id": "mirror", "url": "https://other.example/r.json"}, 409),
                       ({"url": "https://mirror.example/r.json"}, 409),
                       ({"url": "mirror.example"}, 400)):
        assert (await api("POST", "/plugin-sources", json=body))[0] == code, body
    # an id is kept as sent, a separator or a control character too (seed 004: any text);
    # the /by-id variant names it in the query
    odd = "a/b\x0c"
    assert (await api("POST", "/plugin-sources", json={"id": odd, "url": "http://x.y"}))[0] == 200
    _, listed = await api("GET", "/plugin-sources")
    assert [s["id"] for s in listed["data"]["sources"]] == ["mirror", odd]
    status, left = await api("DELETE", "/plugin-sources/by-id", params={"source_id": odd})
    assert status == 200 and [s["id"] for s in left["data"]["sources"]] == ["mirror"]
    replacement = [{"id": "z", "url": "https://z.example"}, {"id": "a", "url": "http://a.example",
                                                             "name": "A"}]
    status, replaced = await api("PUT", "/plugin-sources", json={"sources": replacement})
    assert status == 200
    assert [(s["id"], s["name"]) for s in replaced["data"]["sources"]] == [("z", "z.example"),
                                                                           ("a", "A")]
    # repeats (the same id, or the same URL under another id): the first of each stays
    repeated = [*replacement, {"id": "z", "url": "https://z2.example"},
                {"id": "b", "url": "http://a.example"}]
    status, again = await api("PUT", "/plugin-sources", json={"sources": repeated})
    assert status == 200 and again["data"] == replaced["data"]
    assert (await api("GET", "/plugin-sources"))[1]["data"] == replaced["data"]
    status, left = await api("DELETE", "/plugin-sources/z")
    assert status == 200 and [s["id"] for s in left["data"]["sources"]] == ["a"]
    status, left = await api("DELETE", "/plugin-sources/by-id?source_id=a")
    assert status == 200 and left["data"]["sources"] == []


# commands and tools -------------------------------------------------------------------------
async def test_commands_conflicts_and_patches(api):
    _, listed = await api("GET", "/commands?config_id=default")
    data = listed["data"]
    assert data["summary"] == {"total": 8, "disabled": 0, "conflicts": 2}
    assert data["wake_prefix"] == ["/"]
    _, conflicts = await api("GET", "/commands/conflicts")
    assert [(c["command"], sorted(h["plugin"] for h in c["handlers"]))
            for c in conflicts["data"]] == [("wt", [FUN, WEATHER])]
    status, renamed = await api("PATCH", f"/commands/{FUN_WT}", json={"alias": "weather"})
    assert status == 409  # taken by the weather command
    status, patched = await api("PATCH", f"/commands/{WEATHER_CMD}",
                                json={"aliases": ["天气", "w", "w"], "permission_group": "admin"})
    assert status == 200 and patched["data"]["aliases"] == ["天气", "w"]
    assert patched["data"]["permission"] == "admin" and patched["data"]["has_conflict"] is False
    assert (await api("GET", "/commands/conflicts"))[1]["data"] == []
    for body in ({}, {"permission_group": "root"}, {"alias": "two words"}, {"aliases": [""]}):
        assert (await api("PATCH", f"/commands/{FUN_WT}", json=body))[0] == 400, body
    status, off = await api("PATCH", f"/commands/{FUN_WT}", json={"enabled": False,
                                                                   "alias": "tally"})
    assert status == 200 and off["data"]["effective_command"] == "tally"
    _, listed = await api("GET", "/commands")
    assert listed["data"]["summary"] == {"total": 8, "disabled": 1, "conflicts": 0}


async def test_tools_filters_and_patches(sim, api):
    _, tools = await api("GET", "/tools")
    assert [t["name"] for t in tools["data"]] == ["web_search", "fetch_url",
                                                  "astrbot_execute_python", "roll_dice",
                                                  "get_weather"]
    assert len((await api("GET", "/tools?origin=builtin"))[1]["data"]) == 3
    assert (await api("GET", "/tools?origin=mcp"))[1]["data"] == []
    status, off = await api("PATCH", "/tools/get_weather/enabled", json={"enabled": False})
    assert status == 200 and off["data"]["enabled"] is False and off["data"]["active"] is False
    status, admin = await api("PATCH", "/tools/web_search/permission",
                              json={"permission": "admin"})
    assert status == 200 and admin["data"]["permission"] == "admin"
    _, disabled = await api("GET", "/tools?enabled=false")
    assert [t["name"] for t in disabled["data"]] == ["get_weather"]
    for path, body in (("/tools/web_search/permission", {"permission": "root"}),
                       ("/tools/web_search/enabled", {"enabled": "yes"})):
        assert (await api("PATCH", path, json=body))[0] == 400
    key = await sim.new_key(["plugin"])
    status, _ = await sim.call("GET", "/api/v1/tools", headers={"X-API-Key": key["api_key"]})
    assert status == 403  # tools need the dashboard-only `tool` scope
    status, _ = await sim.call("GET", "/api/v1/plugins", headers={"X-API-Key": key["api_key"]})
    assert status == 200


# persistence --------------------------------------------------------------------------------
async def test_changes_survive_a_restart(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    api = api_of(first, await first.admin_jwt())
    await api("PUT", f"/plugins/{WEATHER}/config", json={"default_city": "Lima"})
    await api("DELETE", f"/plugins/{FUN}")
    await api("PATCH", "/tools/web_search/enabled", json={"enabled": False})
    await api("PATCH", f"/commands/{WEATHER_CMD}", json={"aliases": ["w"]})
    await api("POST", "/plugin-sources", json={"id": "m", "url": "https://m.example"})
    await api("POST", f"/plugins/{WEATHER}/config-files/icon_pack",
              data=form([("file", "i.png", b"1")]))
    await api("POST", "/plugins/install/github", json={"repository": "me/astrbot_plugin_kept"})
    await stop_sim(first)
    second = await start_sim(SimConfig(data_dir=tmp_path / "data"))
    try:
        api = api_of(second, await second.admin_jwt())
        assert await names(api) == ["astrbot", WEATHER, "astrbot_plugin_kept"]
        _, cfg = await api("GET", f"/plugins/{WEATHER}/config")
        assert cfg["data"]["config"]["default_city"] == "Lima"
        assert cfg["data"]["config"]["icon_pack"] == ["files/icon_pack/i.png"]
        _, tools = await api("GET", "/tools?enabled=false")
        assert [t["name"] for t in tools["data"]] == ["web_search"]
        _, commands = await api("GET", "/commands")
        weather = next(c for c in commands["data"]["items"]
                       if c["handler_full_name"] == WEATHER_CMD)
        assert weather["aliases"] == ["w"]
        _, sources = await api("GET", "/plugin-sources")
        assert [s["id"] for s in sources["data"]["sources"]] == ["m"]
        assert (await api("GET", f"/plugins/{WEATHER}/pages/dashboard"))[0] == 200
    finally:
        await stop_sim(second)
