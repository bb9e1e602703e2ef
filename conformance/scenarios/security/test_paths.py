"""Path safety (ASVS 12.3.1): every parameter of seed 004 (and the legacy Open API document)
that names a file or a path gets traversal names: `../` climbing to `/etc/passwd` raw and
percent-encoded, `%2e%2e`, double encoding, an absolute path, backslashes, a NUL before an
extension. Reads only (GET). A name is refused or not found, or answered with the target's own
content: FAIL is a body that is `/etc/passwd` (`root:...:0:0:`), or one answered, identical, for
two different system files (`/etc/passwd`, `/etc/hosts`) and unlike the answer for a name that
exists nowhere (so an SPA fallback page is not taken for a leak)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import pytest

from conformance.clients.http import HttpResult
from conformance.clients.transcript import Transcript
from conformance.scenario import run
from conformance.scenarios.security.common import bearer, call, ok_data, raw_get, served

UP = 12  # levels climbed: deeper than any data directory


def climbing(sep: str, dots: str, target_file: str) -> str:
    return (dots + sep) * UP + target_file.replace("/", sep)


def traversals(target_file: str) -> dict[str, str]:
    """Wire-ready (already percent-encoded) names reaching `target_file` ("etc/passwd")."""
    return {
        "../ raw": climbing("/", "..", target_file),
        "..%2F": climbing("%2F", "..", target_file),
        "%2e%2e%2f": climbing("%2f", "%2e%2e", target_file),
        "double-encoded": climbing("%252f", "%252e%252e", target_file),
        "absolute": "%2F" + target_file.replace("/", "%2F"),
        "backslashes": climbing("%5C", "..", target_file),
        "NUL": climbing("%2F", "..", target_file) + "%00.png",
    }


NOWHERE = "conformance-no-such-file-7f3a.txt"


@dataclass(frozen=True)
class FileParam:
    operation_id: str
    template: str  # {v}: where the name goes; {plugin}, {page}, {skill}: existing ids
    scope: str  # a developer scope (the all-scope key), or "system" (the dashboard JWT)


PARAMS = (
    FileParam("getFileByName", "/api/v1/files/content?filename={v}", "file"),
    FileParam("downloadOpenApiFile", "/api/v1/file?attachment_id={v}", "file"),
    FileParam("getAttachment", "/api/v1/files/{v}", "file"),
    FileParam("downloadAttachment", "/api/v1/files/{v}/content", "file"),
    FileParam("getTokenFile", "/api/v1/files/tokens/{v}", "file"),
    FileParam("getPluginPage", "/api/v1/plugins/{plugin}/pages/{v}", "plugin"),
    FileParam("getPluginPageAsset", "/api/v1/plugins/{plugin}/pages/{page}/assets/{v}",
              "plugin"),
    FileParam("getPluginPageAssetById",
              "/api/v1/plugins/page/assets?plugin_id={plugin}&page_name={page}&asset_path={v}",
              "plugin"),
    FileParam("getPluginExtensionRoute", "/api/v1/plugins/extensions/{v}", "plugin"),
    FileParam("listSkillFiles", "/api/v1/skills/{skill}/files?path={v}", "skill"),
    FileParam("getSkillFile", "/api/v1/skills/{skill}/files/{v}", "skill"),
    FileParam("getSkillFileByName", "/api/v1/skills/file?skill_name={skill}&path={v}",
              "skill"),
    FileParam("getT2iTemplate", "/api/v1/t2i/templates/{v}", "config"),
    FileParam("downloadBackup", "/api/v1/backups/{v}", "system"),
    FileParam("getChangelog", "/api/v1/changelogs/{v}", "system"),
)


def existing_ids(target, creds, log: Transcript) -> dict[str, str]:
    """A plugin, one of its pages and a skill that exist, so a traversal is not refused only
    because its other ids name nothing (placeholders where the target has none)."""
    key = {"X-API-Key": creds.key_for("plugin")}
    plugins = ok_data(call(target, log, "GET", "/api/v1/plugins", headers=key))
    plugins = plugins if isinstance(plugins, list) else []
    with_pages = [p for p in plugins if isinstance(p, dict) and p.get("pages")]
    chosen = (with_pages or [p for p in plugins if isinstance(p, dict)] or [{}])[0]
    page = (chosen.get("pages") or [None])[0]
    skills = ok_data(call(target, log, "GET", "/api/v1/skills",
                          headers={"X-API-Key": creds.key_for("skill")}))
    skills = skills.get("skills") if isinstance(skills, dict) else skills
    skill = (skills or [{}])[0] if isinstance(skills, list) else {}
    return {"plugin": str(chosen.get("name") or "conformance-probe"),
            "page": str((page.get("name") if isinstance(page, dict) else page) or "index"),
            "skill": str((skill.get("name") if isinstance(skill, dict) else skill)
                         or "conformance-probe")}


def is_passwd(result: HttpResult) -> bool:
    return served(result) and "root:" in result.text and ":0:0:" in result.text


async def probe(target, log: Transcript, param: FileParam, ids: dict, headers: dict) -> list[str]:
    async def get(value: str) -> HttpResult:
        return await raw_get(session, target, log, param.template.format(v=value, **ids),
                             headers)

    problems = []
    async with aiohttp.ClientSession() as session:
        nowhere = await get(NOWHERE)
        hosts = traversals("etc/hosts")
        for kind, value in traversals("etc/passwd").items():
            passwd, other = await get(value), await get(hosts[kind])
            if is_passwd(passwd):
                problems.append(f"{param.operation_id} ({kind}): answered /etc/passwd")
            elif served(passwd) and served(other) and passwd.text and \
                    passwd.text == other.text and passwd.text != nowhere.text:
                problems.append(f"{param.operation_id} ({kind}): the same content served for "
                                "/etc/passwd and /etc/hosts, not the answer for a missing name")
    return problems


@pytest.mark.requirement("SEC-PATH-001")
@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.operation_id)
def test_no_read_outside_the_targets_files(target, creds, evidence, param):
    log = Transcript(f"traversal names in {param.operation_id}")
    evidence.append(log)
    if param.scope == "system":
        headers = bearer(creds.require_jwt())
    else:
        headers = {"X-API-Key": creds.key_for(param.scope)}
    ids = existing_ids(target, creds, log) if "{" in param.template.replace("{v}", "") else {}
    problems = run(probe(target, log, param, ids, headers), target, waits=40)
    assert not problems, "a traversal name read outside the target's files:\n" + \
        "\n".join(problems)
