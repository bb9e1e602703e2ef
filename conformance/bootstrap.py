"""Get the credentials the checks need, through the target's own HTTP API.

1. `GET /api/v1/auth/setup-status` (public): is the target there, is it in first-run state?
2. A dashboard JWT: the configured one; else log in with the configured username/password;
   else, on a first-run target, run `POST /api/v1/auth/setup` with the configured or generated
   credentials (the simulator and AstrBot with skip_default_password_auth allow it on loopback).
3. With the JWT, create one API key per scope set the checks use (all developer scopes, `chat`
   only, `im` only), deleted again when the run ends. With only an API key configured, that key
   is used for everything and checks needing other credentials report ERROR.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

import aiohttp

from .clients.http import HttpResult, arequest
from .clients.transcript import Transcript
from .outcomes import SuiteError
from .redact import Redactor
from .target import TargetSettings

DEVELOPER_SCOPES = ["bot", "provider", "persona", "im", "config", "chat", "data", "file",
                    "plugin", "mcp", "skill"]
KEY_SETS = {"all": DEVELOPER_SCOPES, "chat": ["chat"], "im": ["im"], "config": ["config"]}


@dataclass
class Credentials:
    settings: TargetSettings
    jwt: str | None = None
    keys: dict[str, str] = field(default_factory=dict)  # scope set name -> raw key
    key_ids: dict[str, str] = field(default_factory=dict)  # scope set name -> key_id
    setup_status: dict | None = None
    log: Transcript = field(default_factory=lambda: Transcript("bootstrap"))
    redactor: Redactor = field(default_factory=Redactor)

    def remember_key(self, raw_key: str | None) -> None:
        """A key a check created: keep it out of every report."""
        self.redactor.add(raw_key)

    def key(self, name: str) -> str:
        """The key with exactly the scope set `name` (for checks that need a scope missing)."""
        if name in self.keys:
            return self.keys[name]
        raise SuiteError(f"this check needs a key with exactly the scopes {KEY_SETS[name]}; "
                         "the run only has a configured key (give username/password or a JWT "
                         "so the suite can create keys)")

    def key_for(self, scope: str) -> str:
        """A key holding `scope`: the dedicated one, else the all-scope key."""
        return self.keys.get(scope) or self.keys["all"]

    def require_jwt(self) -> str:
        if not self.jwt:
            raise SuiteError("this check needs a dashboard JWT: configure username/password")
        return self.jwt


def _ok_data(result: HttpResult, what: str):
    body = result.json
    if result.status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        raise SuiteError(f"{what} failed: HTTP {result.status} {result.text[:300]}")
    return body.get("data")


async def _bootstrap(settings: TargetSettings, redactor: Redactor) -> Credentials:
    creds = Credentials(settings, redactor=redactor)
    t = settings.timeout
    async with aiohttp.ClientSession() as session:
        async def call(method, path, **kw):
            return await arequest(method, settings.http_url(path), timeout=t, session=session,
                                  transcript=creds.log, **kw)

        status = await call("GET", "/api/v1/auth/setup-status")
        if status.status == 200 and isinstance(status.json, dict):
            creds.setup_status = status.json.get("data")
        creds.jwt = settings.jwt
        if creds.jwt is None and settings.username and settings.password:
            creds.jwt = await _login_or_setup(call, creds, settings.username, settings.password)
        elif creds.jwt is None and settings.api_key is None and _setup_required(creds):
            username, password = "conformance", "Cf-" + secrets.token_urlsafe(12)
            redactor.add(password)
            creds.jwt = await _login_or_setup(call, creds, username, password)
        redactor.add(creds.jwt)
        if settings.api_key and not creds.jwt:
            creds.keys = {"all": settings.api_key}  # assumed to hold every developer scope
        if creds.jwt:
            auth = {"Authorization": f"Bearer {creds.jwt}"}
            for name, scopes in KEY_SETS.items():
                created = _ok_data(await call("POST", "/api/v1/api-keys", headers=auth, json_body={
                    "name": f"conformance-{name}", "scopes": scopes}), "creating an API key")
                creds.keys[name] = created["api_key"]
                creds.key_ids[name] = created["key_id"]
                redactor.add(created["api_key"])
        if not creds.keys:
            raise SuiteError("no credentials: configure an API key, or username/password, or "
                             "point the suite at a target in first-run state")
    return creds


def _setup_required(creds: Credentials) -> bool:
    return bool(creds.setup_status and creds.setup_status.get("setup_required"))


async def _login_or_setup(call, creds: Credentials, username: str, password: str) -> str:
    if _setup_required(creds):
        data = _ok_data(await call("POST", "/api/v1/auth/setup", json_body={
            "username": username, "password": password, "confirm_password": password}),
            "first-run setup")
    else:
        data = _ok_data(await call("POST", "/api/v1/auth/login", json_body={
            "username": username, "password": password}), "login")
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        raise SuiteError("login answered without data.token")
    return data["token"]


def bootstrap(settings: TargetSettings, redactor: Redactor) -> Credentials:
    redactor.add(*settings.secrets())
    try:
        return asyncio.run(_bootstrap(settings, redactor))
    except SuiteError:
        raise
    except Exception as exc:  # a timeout or a malformed answer during setup is not a verdict
        raise SuiteError(f"bootstrap against {settings.base_url} failed: {exc}") from exc


async def _cleanup(creds: Credentials) -> None:
    auth = {"Authorization": f"Bearer {creds.jwt}"}
    async with aiohttp.ClientSession() as session:
        for key_id in creds.key_ids.values():
            await arequest("DELETE", creds.settings.http_url(f"/api/v1/api-keys/{key_id}"),
                           timeout=creds.settings.timeout, headers=auth, session=session)


def cleanup(creds: Credentials) -> None:
    """Delete the keys this run created; best effort, never a verdict."""
    if creds.jwt and creds.key_ids:
        try:
            asyncio.run(_cleanup(creds))
        except Exception as exc:
            creds.log.note(f"cleanup failed: {exc!r}")
