"""What the target says about itself, asked once at the end of a run while its keys still
exist: the version it reports, and the OpenAPI document it serves (for the served-surface
drift). Neither is ever a verdict: a target that does not say gets None."""

from __future__ import annotations

from . import routes
from .bootstrap import Credentials
from .clients import http
from .target import TargetSettings


def detect_version(settings: TargetSettings, creds) -> str | None:
    """The version the target reports (GET /api/v1/stats/version), shown in the report;
    None when it does not say."""
    if not isinstance(creds, Credentials):
        return None
    headers = {"Authorization": f"Bearer {creds.jwt}"} if creds.jwt \
        else {"X-API-Key": creds.key_for("system")}
    try:
        answer = http.request("GET", settings.http_url("/api/v1/stats/version"),
                              timeout=settings.timeout, headers=headers)
    except Exception:  # noqa: BLE001 (a version is nice to have, never a verdict)
        return None
    data = answer.json.get("data") if isinstance(answer.json, dict) else None
    version = data.get("version") if isinstance(data, dict) else data
    return str(version)[:60] if isinstance(version, str | int | float) and version else None


def fetch_served(settings: TargetSettings, creds) -> tuple[str, dict | None]:
    """The OpenAPI document the target serves about itself (conformance/routes.py), for
    the report's served-surface drift: (where from, document), or (why none, None)."""
    if not isinstance(creds, Credentials):
        return "not fetched: the preflight did not pass", None
    headers = {"X-API-Key": creds.keys["all"]} if creds.keys.get("all") \
        else {"Authorization": f"Bearer {creds.jwt}"} if creds.jwt else {}
    try:
        found = routes.discover(settings.base_url, headers, settings.timeout)
    except Exception as exc:  # noqa: BLE001 (a drift report is extra, never a verdict)
        return f"not fetched: {exc!r}"[:200], None
    if found is None or found.document is None:
        return ("the target serves no OpenAPI document the suite can read (tried "
                + ", ".join(routes.ROUTE_DOCUMENTS) + ")"), None
    return found.source, found.document
