"""/api/v1/auth/*: first-run setup, login, logout (seed 004 tag Auth; research section 3 of
real-astrbot-notes for the bodies)."""

from __future__ import annotations

from ..auth import JWT_COOKIE, JWT_LIFETIME, check_password, hash_password, now_iso
from .envelope import ApiError, ok
from .router import Ctx, operation

MIN_PASSWORD = 8
MIN_USERNAME = 3


def _session_payload(ctx: Ctx, username: str) -> dict:
    return {
        "token": ctx.sim.auth.issue_jwt(username),
        "username": username,
        "change_pwd_hint": False,
        "md5_pwd_hint": False,
        "password_upgrade_required": False,
    }


def _with_cookie(payload: dict, message: str | None = None):
    response = ok(payload, message=message)
    response.set_cookie(
        JWT_COOKIE, payload["token"], max_age=int(JWT_LIFETIME.total_seconds()),
        httponly=True, samesite="Strict", path="/",
    )
    return response


@operation("getAuthSetupStatus")
async def setup_status(ctx: Ctx):
    return {
        "setup_required": ctx.sim.store.user_count() == 0,
        "skip_default_password_auth": ctx.sim.config.skip_default_password_auth,
        "password_upgrade_required": False,
    }


def _check_new_credentials(username: str, password: str, confirm: str) -> None:
    if len(username.strip()) < MIN_USERNAME:
        raise ApiError(400, f"Username must be at least {MIN_USERNAME} characters long")
    if len(password) < MIN_PASSWORD:
        raise ApiError(400, f"Password must be at least {MIN_PASSWORD} characters long")
    if password != confirm:
        raise ApiError(400, "Passwords do not match")


@operation("setupAuth")
async def setup(ctx: Ctx):
    if ctx.sim.store.user_count() > 0:
        raise ApiError(409, "Setup is not required")
    if not (ctx.sim.config.skip_default_password_auth and ctx.sim.is_loopback(ctx.request)):
        raise ApiError(403, "Setup without password is only allowed from loopback")
    body = ctx.body
    _check_new_credentials(body["username"], body["password"], body["confirm_password"])
    username = body["username"].strip()
    ctx.sim.store.add_user(username, hash_password(body["password"]), now_iso())
    return _with_cookie(_session_payload(ctx, username), "Setup completed successfully")


@operation("login")
async def login(ctx: Ctx):
    username, password = ctx.body["username"], ctx.body["password"]
    stored = ctx.sim.store.password_hash(username)
    if stored is None or not check_password(password, stored):
        raise ApiError(401, "Invalid username or password")
    return _with_cookie(_session_payload(ctx, username))


@operation("logout")
async def logout(ctx: Ctx):
    response = ok({}, message="Logged out")
    response.del_cookie(JWT_COOKIE, path="/")
    return response
