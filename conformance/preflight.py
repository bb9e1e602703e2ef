"""Preflight: before any check, make sure a verdict would be about the target and not about
the user's settings. Four questions, each answered by a few requests, each failure one line
(a PreflightError) naming the problem and the fix; the run then judges nothing (exit status 3):

1. Does the target answer? `GET /api/v1/auth/setup-status` (public in seed 004). Connection
   refused, an unknown host or no answer within the timeout stop here.
2. Does it speak AstrBot's API? It does when setup-status answers the JSON envelope
   `{"status": "ok", "data": {"setup_required": <bool>, ...}}` (seed 004, and what AstrBot
   4.26.2 sends), or else when a v1 call without credentials (`GET /api/v1/chat/sessions`)
   answers 401/403 with the error envelope `{"status": "error", "message": ...}`. Anything else
   (an HTML page, a 404 from another server) is "not an AstrBot API".
3. Do the credentials work? A JWT or a login must let the suite create its API keys
   (bootstrap.py); a configured API key must not be answered 401.
4. Does a configured API key hold the scopes the chosen profiles need (`PROFILE_SCOPES`)? One
   read per scope (`SCOPE_PROBES`): 403 means the scope is missing. A profile that needs the
   dashboard JWT, chosen explicitly, needs a JWT or a username/password.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import aiohttp

from .bootstrap import DEVELOPER_SCOPES, Credentials, answer, obtain
from .clients.http import HttpResult, TargetTimeout, arequest
from .outcomes import PreflightError, SuiteError, TargetBroke
from .redact import Redactor
from .target import TargetSettings

SETUP_STATUS = "/api/v1/auth/setup-status"
UNAUTHENTICATED_PROBE = "/api/v1/chat/sessions"
# the API-key scopes the checks of each profile use, when only an API key is configured
PROFILE_SCOPES = {"live-api": ["chat", "im"], "open-api": ["chat", "config", "file", "im"],
                  "openapi-v1": DEVELOPER_SCOPES, "legacy-jwt-live": []}
JWT_PROFILES = {"legacy-jwt-live"}  # the dashboard-JWT WebSocket paths take no API key
# one read per scope, each an operation of seed 004 with that x-astrbot-scope, answered 401
# for an unknown key and 403 for a key without the scope (a made-up id is fine: credentials
# are checked before the id)
SCOPE_PROBES = {"bot": "/api/v1/bot-types", "provider": "/api/v1/provider-sources",
                "persona": "/api/v1/personas", "im": "/api/v1/im/bots",
                "config": "/api/v1/config-profiles", "chat": "/api/v1/chat/sessions",
                "data": "/api/v1/conversations", "file": "/api/v1/files/conformance-preflight",
                "plugin": "/api/v1/plugins", "mcp": "/api/v1/mcp/servers",
                "skill": "/api/v1/skills"}


def run(settings: TargetSettings, redactor: Redactor, profiles: set[str] | None = None, *,
        credentials_file: Path | None = None,
        announce: Callable[[str], None] = print) -> Credentials:
    """Check the target and the credentials; return the credentials the checks use.
    `profiles` None means all. A PreflightError carries the wire log as `.evidence`."""
    redactor.add(*settings.secrets())
    creds = Credentials(settings, redactor=redactor)
    try:
        return asyncio.run(_run(creds, profiles, credentials_file, announce))
    except Exception as exc:
        error = exc if isinstance(exc, PreflightError) else _as_preflight(exc, settings)
        error.evidence = creds.log.as_evidence()  # what the target answered, for the report
        if error is exc:
            raise
        raise error from exc


def _as_preflight(exc: Exception, settings: TargetSettings) -> PreflightError:
    if isinstance(exc, TargetTimeout):
        return PreflightError(f"{exc}: the target is slow or hangs (raise --timeout for a slow "
                              "one)")
    if isinstance(exc, TargetBroke):  # the wire rule (outcomes.py), before any check
        return PreflightError(f"{exc}: the target broke the preflight")
    if isinstance(exc, SuiteError):
        return PreflightError(str(exc))
    return PreflightError(f"preflight against {settings.base_url} broke: {exc!r}")


async def _run(creds: Credentials, profiles, credentials_file, announce) -> Credentials:
    settings = creds.settings
    async with aiohttp.ClientSession() as session:
        async def call(method, path, **kw) -> HttpResult:
            return await arequest(method, settings.http_url(path), timeout=settings.timeout,
                                  session=session, transcript=creds.log, **kw)

        creds.setup_status = await recognise(call, settings)
        await obtain(call, creds, credentials_file=credentials_file, announce=announce)
        if not creds.jwt:
            jwt_profiles = sorted(JWT_PROFILES & (profiles or set()))
            if jwt_profiles:
                raise PreflightError(f"profile {', '.join(jwt_profiles)} needs the dashboard "
                                     "JWT: give --username and --password, or --jwt")
            await check_key(call, creds.keys["all"], profiles)
    return creds


async def recognise(call, settings: TargetSettings) -> dict | None:
    """The setup-status data of an AstrBot API (None when it only answers envelopes)."""
    try:
        status = await call("GET", SETUP_STATUS)
    except TargetTimeout as exc:
        raise PreflightError(f"{settings.base_url} did not answer GET {SETUP_STATUS} within "
                             f"{settings.timeout:g} s: is it up (raise --timeout for a slow "
                             "one)?") from exc
    except (SuiteError, TargetBroke) as exc:  # refused, unknown host, garbage
        raise PreflightError(f"cannot reach {settings.base_url}: {_network_cause(exc)}: is "
                             "the server running, and is --base-url right?") from exc
    body = status.json
    if status.status == 200 and isinstance(body, dict) and body.get("status") == "ok" \
            and isinstance(body.get("data"), dict) \
            and isinstance(body["data"].get("setup_required"), bool):
        return body["data"]
    probe = await call("GET", UNAUTHENTICATED_PROBE)
    if probe.status in (401, 403) and isinstance(probe.json, dict) \
            and probe.json.get("status") == "error":
        return None
    raise PreflightError(
        f"not an AstrBot API: GET {SETUP_STATUS} answered {_shape(status)} and GET "
        f"{UNAUTHENTICATED_PROBE} without credentials {_shape(probe)}, where AstrBot answers "
        'its JSON envelope {"status": ...}: is --base-url the AstrBot server (its dashboard '
        "port, 6185 by default)?")


async def check_key(call, key: str, profiles: set[str] | None) -> None:
    """A configured API key: known to the target, and holding the scopes the profiles use."""
    chosen = sorted(profiles or PROFILE_SCOPES)
    needed = [s for s in DEVELOPER_SCOPES if any(s in PROFILE_SCOPES[p] for p in chosen)]
    missing = []
    for scope in needed:
        result = await call("GET", SCOPE_PROBES[scope], headers={"X-API-Key": key})
        if result.status == 401:
            raise PreflightError(f"the API key (--api-key) was refused: GET {SCOPE_PROBES[scope]}"
                                 f" answered {answer(result)}: check the key (mistyped, revoked "
                                 "or expired?), or give --username and --password so the suite "
                                 "creates its own keys")
        if result.status == 403:
            missing.append(scope)
    if missing:
        users = [p for p in chosen if set(PROFILE_SCOPES[p]) & set(missing)]
        raise PreflightError(f"the API key (--api-key) lacks the scope(s) {', '.join(missing)} "
                             f"that profile(s) {', '.join(users)} need: use a key with them, "
                             "give --username and --password so the suite creates its own "
                             "keys, or choose other profiles (--profile)")


def _network_cause(exc: Exception) -> str:
    cause = exc.__cause__
    if isinstance(exc, TargetBroke) and not isinstance(cause, aiohttp.ClientConnectorError):
        return str(exc)
    if isinstance(cause, aiohttp.ClientConnectorError):
        os_error = cause.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        if isinstance(os_error, socket.gaierror):
            return f"unknown host ({os_error.strerror or os_error})"
        return os_error.strerror or str(os_error)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(exc)


def _shape(result: HttpResult) -> str:
    kind = result.headers.get("Content-Type", "no content type").split(";")[0]
    text = " ".join(result.text.split())
    return f"HTTP {result.status} ({kind}: {text[:60]!r})" if text \
        else f"HTTP {result.status} ({kind}, empty)"
