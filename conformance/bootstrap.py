"""Get the credentials the checks need, through the target's own HTTP API (part of preflight,
see `preflight.py`, which calls `obtain` once the target is recognised).

1. A dashboard JWT: the configured one; else log in with the configured username/password.
2. A target in first-run state (`setup-status` says `setup_required`) is set up, with
   `POST /api/v1/auth/setup`, only when the settings allow it (`setup_admin`, the
   `--setup-admin` flag): with the configured username/password, else with generated ones that
   are printed once and saved to a file of mode 0600 (never to a report). Without the flag the
   run stops with a PreflightError naming it: on a real deployment, an admin account nobody
   knows the password of locks its owner out.
3. With the JWT, create one API key per scope set the checks use (all developer scopes, `chat`
   only, `im` only, `config` only), deleted again when the run ends. With only an API key
   configured, that key is used for everything and checks needing other credentials report
   ERROR.

A refused credential raises PreflightError with one line naming which one and how to fix it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .clients.http import HttpResult, arequest
from .clients.transcript import Transcript
from .outcomes import NotConfigured, PreflightError
from .redact import Redactor
from .target import TargetSettings

DEVELOPER_SCOPES = ["bot", "provider", "persona", "im", "config", "chat", "data", "file",
                    "plugin", "mcp", "skill"]
KEY_SETS = {"all": DEVELOPER_SCOPES, "chat": ["chat"], "im": ["im"], "config": ["config"]}
GENERATED_ADMIN = "conformance"
SETUP_FLAG = "--setup-admin"


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
        raise NotConfigured(f"this check needs a key with exactly the scopes {KEY_SETS[name]}; "
                         "the run only has a configured key (give username/password or a JWT "
                         "so the suite can create keys)")

    def key_for(self, scope: str) -> str:
        """A key holding `scope`: the dedicated one, else the all-scope key."""
        return self.keys.get(scope) or self.keys["all"]

    def require_jwt(self) -> str:
        if not self.jwt:
            raise NotConfigured("this check needs a dashboard JWT: give --username/--password "
                                "or --jwt")
        return self.jwt

    @property
    def setup_required(self) -> bool:
        return bool(self.setup_status and self.setup_status.get("setup_required"))


def answer(result: HttpResult) -> str:
    """An answer in a few words, for a one-line message: `HTTP 401 "Invalid API key"`."""
    body = result.json
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        said = body["message"]
    else:
        said = " ".join(result.text.split())
    said = said[:120] + ("..." if len(said) > 120 else "")
    return f"HTTP {result.status} {json.dumps(said, ensure_ascii=False)}" if said \
        else f"HTTP {result.status}"


def _ok_data(result: HttpResult):
    """The `data` of a success envelope, or None when the call did not succeed."""
    body = result.json
    if result.status == 200 and isinstance(body, dict) and body.get("status") == "ok":
        return body.get("data")
    return None


async def obtain(call, creds: Credentials, *, credentials_file: Path | None = None,
                 announce: Callable[[str], None] = print) -> None:
    """Fill `creds` (JWT and keys) with the configured credentials; `call(method, path, **kw)`
    sends one request to the target."""
    settings = creds.settings
    if settings.jwt:
        creds.jwt = settings.jwt
        source = "the dashboard JWT (--jwt)"
    elif settings.username and settings.password:
        if creds.setup_required:
            _setup_allowed(settings, f"to create the admin user {settings.username!r}")
            creds.jwt = await _setup(call, settings.username, settings.password)
            if settings.setup_admin != "quiet":
                announce(f"first-run setup: created the admin user {settings.username!r} with "
                         "the password you gave")
        else:
            creds.jwt = await _login(call, settings.username, settings.password)
        source = f"the JWT from logging in as {settings.username!r}"
    elif settings.api_key is None:
        if not creds.setup_required:
            raise PreflightError("no credentials: give --api-key, --jwt, or --username and "
                                 "--password (or their ASTRBOT_CONFORMANCE_* variables)")
        _setup_allowed(settings, "to create an admin with generated credentials (printed "
                       "once and saved to a file only you can read)")
        password = "Cf0-" + secrets.token_urlsafe(12)  # upper, lower, digit, symbol
        creds.redactor.add(password)
        saved = None
        if settings.setup_admin != "quiet" and credentials_file is not None:
            saved = save_credentials(credentials_file, settings.base_url, GENERATED_ADMIN,
                                     password)  # before it is used: never a lost password
        try:
            creds.jwt = await _setup(call, GENERATED_ADMIN, password)
        except PreflightError:
            if saved:
                saved.unlink(missing_ok=True)
            raise
        if settings.setup_admin != "quiet":
            where = (f"; saved to {saved} (mode 0600): reuse it with --config {saved}"
                     if saved else "")
            announce(f"first-run setup: created the admin user {GENERATED_ADMIN!r} with the "
                     f"password {password!r}{where}")
        source = "the JWT from first-run setup"
    else:
        creds.keys = {"all": settings.api_key}  # checked (and its scopes) by preflight
        return
    creds.redactor.add(creds.jwt)
    auth = {"Authorization": f"Bearer {creds.jwt}"}
    for name, scopes in KEY_SETS.items():
        made = await call("POST", "/api/v1/api-keys", headers=auth, json_body={
            "name": f"conformance-{name}", "scopes": scopes})
        data = _ok_data(made)
        if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
            refused = made.status in (401, 403)
            raise PreflightError(
                f"{source} {'was refused' if refused else 'could not create an API key'}: "
                f"POST /api/v1/api-keys answered {answer(made)}: "
                + ("log in again for a fresh JWT, or give --username and --password"
                   if refused else "the suite needs an admin JWT that may create API keys"))
        creds.keys[name] = data["api_key"]
        creds.key_ids[name] = str(data.get("key_id"))
        creds.redactor.add(data["api_key"])


def _setup_allowed(settings: TargetSettings, what: str) -> None:
    if not settings.setup_admin:
        raise PreflightError(
            f"the target is in first-run state (no admin account yet): pass {SETUP_FLAG} "
            f"(or ASTRBOT_CONFORMANCE_SETUP_ADMIN=1) {what}, or set it up yourself and give "
            "--username and --password")


async def _setup(call, username: str, password: str) -> str:
    result = await call("POST", "/api/v1/auth/setup", json_body={
        "username": username, "password": password, "confirm_password": password})
    data = _ok_data(result)
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        raise PreflightError(f"first-run setup was refused: POST /api/v1/auth/setup answered "
                             f"{answer(result)}: set the admin up yourself (AstrBot's "
                             "dashboard) and give --username and --password")
    return data["token"]


async def _login(call, username: str, password: str) -> str:
    result = await call("POST", "/api/v1/auth/login", json_body={
        "username": username, "password": password})
    data = _ok_data(result)
    if isinstance(data, dict) and isinstance(data.get("token"), str):
        return data["token"]
    if result.status == 429:
        raise PreflightError(f"the login of {username!r} was rate-limited ({answer(result)}): "
                             "wait a minute, then retry")
    raise PreflightError(f"the target refused the login of user {username!r}: POST "
                         f"/api/v1/auth/login answered {answer(result)}: check --username and "
                         "--password")


def save_credentials(path: Path, base_url: str, username: str, password: str) -> Path:
    """A [target] table for --config, readable by its owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write("# The admin astrbot-conformance created on this target by first-run setup.\n"
                 f"[target]\nbase_url = {json.dumps(base_url)}\n"
                 f"username = {json.dumps(username)}\npassword = {json.dumps(password)}\n")
    return path


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
