"""Seed 004 tag Updates: check, releases, core/dashboard update and pip install, each a
deterministic task (kernel/tasks.py) that `GET /updates/progress/{task_id}` advances; a
completed update sets the installed version (and the start time when `reboot`, default true).
`progress_id` names the task when given (409 if taken). Proxy and mirror URLs must be http(s);
a `.invalid` host is unreachable (RFC 2606)."""

from __future__ import annotations

import logging
import re

from ..domain.system import (
    RELEASES,
    find_release,
    http_url,
    installed_versions,
    read_task,
    simulated_restart,
)
from ..kernel import tasks
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
UPDATE_KINDS = ("update_core", "update_dashboard", "pip_install", "restart", "ghproxy_test")
PIP_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\[[A-Za-z0-9._,-]+\])?"
    r"(?P<spec>(?:\s*(?:===|==|>=|<=|~=|!=|>|<)\s*[A-Za-z0-9.*+!_-]+"
    r"(?:\s*,\s*(?:===|==|>=|<=|~=|!=|>|<)\s*[A-Za-z0-9.*+!_-]+)*)?)$")


def reachable(raw: str, what: str) -> str:
    """A proxy or mirror address: the document types it as any string, so one that is no
    http(s) URL is not invalid input but reaches nothing (404)."""
    try:
        return http_url(raw, what)
    except ApiError as exc:
        raise ApiError(404, f"Nothing reachable at {what} {raw!r}: not an http(s) URL") \
            from exc


def _release(version: str, published: str, notes: str, kind: str = "core") -> dict:
    name = "AstrBot" if kind == "core" else "AstrBot Dashboard"
    return {"type": kind, "version": version, "tag_name": f"v{version}",
            "name": f"{name} v{version}", "published_at": published, "prerelease": False,
            "body": notes, "html_url":
                f"https://github.com/AstrBotDevs/AstrBot/releases/tag/v{version}"}


# -- updates -------------------------------------------------------------------------------------
def _newer(a: str, b: str) -> bool:
    def key(v: str):
        return tuple(int(x) if x.isdigit() else 0 for x in v.split("."))
    return key(a) > key(b)


@operation("checkUpdate")
async def check_update(ctx: Ctx):
    current = installed_versions(ctx.sim.store)
    latest, published, notes = RELEASES[0]
    return {**current, "latest_version": latest,
            "has_new_version": _newer(latest, current["version"]),
            "dashboard_has_new_version": _newer(latest, current["dashboard_version"]),
            "release": _release(latest, published, notes)}


@operation("listReleases")
async def list_releases(ctx: Ctx):
    kinds = [ctx.query["type"]] if ctx.query.get("type") else ["core", "dashboard"]
    return [_release(*entry, kind=kind) for kind in kinds for entry in RELEASES]


async def _update(ctx: Ctx, kind: str):
    body = ctx.body or {}
    version = find_release(body.get("version"))[0]
    if body.get("proxy"):
        reachable(body["proxy"], "proxy")
    reboot = body.get("reboot", True)
    task = tasks.start(ctx.sim.store, f"update_{kind}", 3,
                       result={"type": kind, "version": version, "reboot": reboot},
                       task_id=body.get("progress_id") or None, version=version)
    ctx.sim.events.event(logging.INFO, "%s update to v%s started (simulated)", kind, version)
    return task


@operation("updateCore")
async def update_core(ctx: Ctx):
    return await _update(ctx, "core")


@operation("updateDashboard")
async def update_dashboard(ctx: Ctx):
    return await _update(ctx, "dashboard")


@operation("installPipPackage")
async def install_pip_package(ctx: Ctx):
    package = ctx.body["package"].strip()
    match = PIP_REQUIREMENT.match(package)
    if match is None and package.startswith("-"):  # a pip option, not a package
        raise ApiError(400, f"Invalid package requirement: {ctx.body['package']!r}")
    if match is None:  # not a name any index has (pip runs without a shell: `$` is a letter)
        raise ApiError(404, f"No matching distribution found for {package!r}")
    if ctx.body.get("mirror"):
        reachable(ctx.body["mirror"], "mirror")
    pinned = re.fullmatch(r"\s*===?\s*(\S+)", match["spec"] or "")
    name = re.sub(r"[-_.]+", "-", match["name"]).lower()
    result = {"package": ctx.body["package"].strip(), "name": name, "installed": True,
              "version": pinned[1] if pinned else None}
    ctx.sim.events.event(logging.INFO, "pip install %s (simulated)", result["package"])
    return tasks.start(ctx.sim.store, "pip_install", 3, result=result, package=result["package"])


@operation("getUpdateProgress")
async def get_update_progress(ctx: Ctx):
    task, finished = read_task(ctx.sim.store, ctx.param("task_id"), UPDATE_KINDS)
    if finished and task["type"] in ("update_core", "update_dashboard"):
        result = task["result"]
        ctx.sim.store.set_setting(f"{result['type']}_version", result["version"])
        ctx.sim.events.event(logging.INFO, "%s updated to v%s", result["type"], result["version"])
        if result["reboot"]:
            simulated_restart(ctx.sim)
    return task
