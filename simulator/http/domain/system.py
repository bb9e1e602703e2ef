"""The simulated AstrBot installation (seed 004 Stats, Updates, Backups): the installed
core/dashboard versions (AstrBot 4.26.2, the research baseline, until a simulated update
completes), the fixed release catalogue, a simulated restart (resets the simulator's start
time), update tasks, and the http(s) check of proxy and mirror URLs."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from ... import __version__ as SIMULATOR_VERSION
from ..kernel import tasks
from ..kernel.envelope import ApiError

log = logging.getLogger("astrbot_sim.system")
CORE_VERSION = "4.26.2"  # the research baseline (astrbot-4.26.2-behavior.md)
# (version, published_at, notes), newest first: the fixed release and changelog catalogue
RELEASES = (
    ("4.27.0", "2026-08-20T12:00:00+00:00",
     "- Live chat: interruption handling reworked\n- Backups: chunked upload resumable\n"
     "- Dashboard: provider token statistics per day"),
    ("4.26.2", "2026-06-28T09:00:00+00:00",
     "- Open API: chat SSE keeps partial replies on disconnect\n- Fix API-key scope checks"),
    ("4.26.1", "2026-06-21T09:00:00+00:00",
     "- FastAPI dashboard: fix cookie login\n- Backups: manifest validation on import"),
    ("4.26.0", "2026-06-14T09:00:00+00:00",
     "- Dashboard moves from Quart to FastAPI and Hypercorn\n- New v1 API with API keys"),
    ("4.25.3", "2026-05-30T09:00:00+00:00", "- Bug fixes"),
)


# -- shared helpers (backups.py uses them too) -------------------------------------------------
def installed_versions(store) -> dict:
    return {"version": store.setting("core_version") or CORE_VERSION,
            "dashboard_version": store.setting("dashboard_version") or CORE_VERSION,
            "simulator_version": SIMULATOR_VERSION}


def read_task(store, task_id: str, kinds: tuple[str, ...]) -> tuple[dict, bool]:
    """Advance a task of one of `kinds` (404 otherwise); True when this read completed it."""
    before = store.get_resource(tasks.KIND, task_id)
    advanced = tasks.advance(store, task_id, kinds)
    return advanced, before["status"] != "completed" and advanced["status"] == "completed"


def http_url(raw: str, what: str) -> str:
    try:
        parts = urlsplit(raw.strip())
        host = parts.hostname if parts.port is None or parts.port > 0 else None
    except ValueError:  # a malformed host or a port out of range
        host = None
    if host is None or parts.scheme not in ("http", "https") or " " in raw.strip():
        raise ApiError(400, f"Invalid {what}: {raw!r} is not an http(s) URL")
    return raw.strip()


def simulated_restart(sim) -> float:
    sim.started_at = time.time()
    sim.events.event(logging.WARNING, "AstrBot core restarted (simulated)")
    return sim.started_at


def find_release(raw: str | None) -> tuple[str, str, str]:
    """The catalogue entry for `raw` (with or without a leading v; empty/latest = newest)."""
    wanted = (raw or "").strip().removeprefix("v")
    if wanted in ("", "latest"):
        return RELEASES[0]
    for entry in RELEASES:
        if entry[0] == wanted:
            return entry
    raise ApiError(404, f"Version {raw} not found")
