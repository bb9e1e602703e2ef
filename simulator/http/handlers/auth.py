"""/api/v1/auth/*: first-run setup, login, logout, two-factor authentication and account
changes (seed 004 tag Auth; research section 3 of real-astrbot-notes for the bodies, AstrBot's
auth service for the TOTP flow where the research is silent).

TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits, one step of clock drift either way), kept per
user in the store's settings:
- `POST /auth/totp/setup` with no secret issues a new base32 secret and its otpauth URI; once
  two-factor is on, issuing a new secret first needs a valid current `code` (400 otherwise);
- `{secret, code}` with a code valid for that secret turns two-factor on (a rotation only after
  the current code was verified) and returns a one-time recovery code (its SHA-256 is stored);
- `POST /auth/totp/recovery` rotates the recovery code (409 while two-factor is off);
- login then needs `code`: missing -> 401 with `data.totp_required`, a wrong 6-digit code -> 401,
  a valid recovery code logs in and turns two-factor off.
Account changes (`PATCH /auth/account`) need the current password (wrong -> 400, as AstrBot's
`原密码错误`); the new password must be confirmed and 8+ characters, a new username 3+ and
free (409 if taken). Afterwards the old password no longer logs in; the answer carries a fresh
token for the (new) username."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import struct
import time
from urllib.parse import quote

from ...auth import JWT_COOKIE, JWT_LIFETIME, check_password, hash_password, now_iso
from ..kernel.envelope import ApiError, ok
from ..kernel.router import Ctx, Operations

operation = Operations()
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
    _check_second_factor(ctx, username, ctx.body.get("code"))
    return _with_cookie(_session_payload(ctx, username))


@operation("logout")
async def logout(ctx: Ctx):
    """The JWT this request came with is revoked (simulator/auth.py): refused from now on."""
    if ctx.principal is not None and ctx.principal.token is not None:
        ctx.sim.auth.revoke_jwt(ctx.principal.token)
    response = ok({}, message="Logged out")
    response.del_cookie(JWT_COOKIE, path="/")
    return response


# -- TOTP (RFC 6238) ---------------------------------------------------------------------------
TOTP_STEP = 30
TOTP_DIGITS = 6
ISSUER = "AstrBot"


def _secret_bytes(secret: str) -> bytes | None:
    text = secret.strip().replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None


def totp_code(secret: str, at: float | None = None) -> str:
    """The RFC 6238 code of a base32 secret at a time (now by default)."""
    key = _secret_bytes(secret) or b""
    counter = int((time.time() if at is None else at) // TOTP_STEP)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10 ** TOTP_DIGITS).zfill(TOTP_DIGITS)


def totp_valid(secret: str, code) -> bool:
    if not isinstance(code, str) or not code.strip().isdigit():
        return False
    now = time.time()
    return any(hmac.compare_digest(totp_code(secret, now + drift * TOTP_STEP), code.strip())
               for drift in (-1, 0, 1))


def _totp_key(username: str) -> str:
    return f"totp:{username}"


def _totp_state(ctx: Ctx, username: str) -> dict:
    raw = ctx.sim.store.setting(_totp_key(username))
    return json.loads(raw) if raw else {"enabled": False}


def _save_totp(ctx: Ctx, username: str, state: dict) -> None:
    ctx.sim.store.set_setting(_totp_key(username), json.dumps(state))


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def _new_recovery_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def _issue_secret(ctx: Ctx, username: str, state: dict) -> dict:
    secret = base64.b32encode(secrets.token_bytes(20)).decode()  # 32 base32 characters
    state["pending_secret"] = secret
    _save_totp(ctx, username, state)
    label = quote(f"{ISSUER}:{username}")
    return {"secret": secret, "enabled": state["enabled"],
            "otpauth_uri": f"otpauth://totp/{label}?secret={secret}&issuer={ISSUER}"
                           f"&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}"}


def _check_second_factor(ctx: Ctx, username: str, code) -> None:
    state = _totp_state(ctx, username)
    if not state["enabled"]:
        return
    if not isinstance(code, str) or not code.strip():
        raise ApiError(401, "TOTP verification required", data={"totp_required": True})
    if totp_valid(state["secret"], code):
        return
    if hmac.compare_digest(_recovery_hash(code), state.get("recovery_code_hash", "")):
        _save_totp(ctx, username, {"enabled": False})  # a recovery code turns 2FA off
        return
    if len(code.strip()) == TOTP_DIGITS and code.strip().isdigit():
        raise ApiError(401, "TOTP code is invalid")
    raise ApiError(401, "Recovery code is invalid")


@operation("setupTotp")
async def setup_totp(ctx: Ctx):
    username, body = ctx.username, ctx.body or {}
    state = _totp_state(ctx, username)
    secret = body.get("secret")
    if secret:
        if _secret_bytes(secret) is None or len(_secret_bytes(secret)) < 10:
            raise ApiError(400, "Invalid TOTP secret: expected base32, at least 16 characters")
        if not (body.get("code") or "").strip():
            raise ApiError(400, "TOTP code is required")
        if not totp_valid(secret, body["code"]):
            raise ApiError(400, "TOTP code is invalid")
        if state["enabled"] and not state.get("rotation_verified"):
            raise ApiError(400, "Verify the current TOTP code first")
        recovery = _new_recovery_code()
        _save_totp(ctx, username, {"enabled": True, "secret": secret.strip().upper(),
                                   "recovery_code_hash": _recovery_hash(recovery),
                                   "enabled_at": now_iso()})
        return ok({"enabled": True, "recovery_code": recovery,
                   "recovery_code_hash": _recovery_hash(recovery)}, message="TOTP verified")
    if state["enabled"]:
        code = body.get("code")
        if not (code or "").strip():
            raise ApiError(400, "A current TOTP code or a new secret is required")
        if not totp_valid(state["secret"], code):
            raise ApiError(400, "Current TOTP code is invalid")
        state["rotation_verified"] = True
    return _issue_secret(ctx, username, state)


@operation("recoverTotp")
async def recover_totp(ctx: Ctx):
    state = _totp_state(ctx, ctx.username)
    if not state["enabled"]:
        raise ApiError(409, "Two-factor authentication is not enabled")
    recovery = _new_recovery_code()
    state["recovery_code_hash"] = _recovery_hash(recovery)
    _save_totp(ctx, ctx.username, state)
    return {"recovery_code": recovery, "recovery_code_hash": state["recovery_code_hash"]}


# -- account -----------------------------------------------------------------------------------
@operation("updateAuthAccount")
async def update_account(ctx: Ctx):
    store, body, username = ctx.sim.store, ctx.body, ctx.username
    stored = store.password_hash(username)
    if stored is None or not check_password(body["password"], stored):
        raise ApiError(400, "Current password is incorrect")
    new_password, new_username = body.get("new_password"), body.get("new_username")
    if not new_password and not new_username:
        raise ApiError(400, "New username and new password cannot both be empty")
    target = username
    if new_username:
        target = new_username.strip()
        if len(target) < MIN_USERNAME:
            raise ApiError(400, f"Username must be at least {MIN_USERNAME} characters long")
        if target != username and store.password_hash(target) is not None:
            raise ApiError(409, f"Username {target} is already taken")
    if new_password:
        _check_new_credentials(target, new_password, body.get("confirm_password") or "")
    store.update_user(username, target, hash_password(new_password) if new_password else stored)
    if target != username:
        state = store.setting(_totp_key(username))
        if state is not None:
            store.set_setting(_totp_key(target), state)
            store.set_setting(_totp_key(username), json.dumps({"enabled": False}))
    return ok({"username": target, "password_changed": bool(new_password),
               "username_changed": target != username,
               "token": ctx.sim.auth.issue_jwt(target)},  # the old token names the old user
              message="Updated account successfully")
