"""Credentials and scopes: who is calling, and may they call this operation.

Rules (seed 004 info and securitySchemes, seed 003 scope table; research AUTH-002..AUTH-012 where
the seeds are silent):
- an API key travels as `Authorization: Bearer <k>`, `Authorization: ApiKey <k>`, query
  `api_key` / `key`, or `X-API-Key`; a Bearer value is tried as a dashboard JWT first, and a
  Bearer header hides every other carrier;
- a dashboard JWT (HS256, 7 days) has every scope; it may also come as the dashboard cookie;
- a key passes scope S when it holds S or a scope that includes S (`config` includes `bot` and
  `provider`); scopes outside the developer set (`system`, `kb`, `tool`) are for the JWT only.

Keys are random 256-bit tokens, so they are stored as a SHA-256 digest: checking one costs
microseconds, unlike the 100k-iteration PBKDF2 real AstrBot runs on every request.

Sessions and tokens, where the seeds are silent (issue 15; the safe choice, RFC 7519 4.1.4 and
OWASP ASVS 3.3.1 / 3.5.3):
- a JWT must carry `exp` (one without it is "Invalid token", even with a valid signature); each
  token gets a random `jti`, so two logins in the same second still get two distinct tokens;
- `POST /api/v1/auth/logout` revokes the token it was called with (Bearer or cookie): from then
  on that token is "Token revoked" (401) on every HTTP operation and refused on every JWT
  WebSocket path (they authenticate through decode_jwt). Other tokens of the same user (other
  browsers, the suite's own run) stay valid. The revocation is kept in the store (SHA-256 of
  the token, until the token's own `exp`), so it survives a restart;
- a credential that is not UTF-8 text (raw bytes in a header: a lone surrogate once decoded)
  is "Invalid credentials" (401), never a crash;
- an API key cannot be created already expired (`expires_at` not in the future: 400; the
  schema's `expires_in_days` minimum is 1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from .store import ApiKeyRecord, Store

DEVELOPER_SCOPES = (
    "bot", "provider", "persona", "im", "config", "chat", "data", "file", "plugin", "mcp", "skill",
)
SCOPE_INCLUDES = {"config": ("bot", "provider")}
JWT_COOKIE = "astrbot_dashboard_jwt"
JWT_LIFETIME = timedelta(days=7)
KEY_PREFIX = "abk_"
PBKDF2_ROUNDS = 120_000
_SURROGATE = re.compile("[\ud800-\udfff]")


class AuthError(Exception):
    """401 (authentication) or 403 (authorization), with the message of the error envelope."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Principal:
    kind: str  # "jwt" or "api_key"
    username: str
    scopes: frozenset[str]
    key: ApiKeyRecord | None = None
    token: str | None = field(default=None, repr=False)  # the JWT itself (logout revokes it)

    def allows(self, scope: str | None) -> bool:
        if scope is None or self.kind == "jwt":
            return True
        return scope_granted(self.scopes, scope)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def scope_granted(held: frozenset[str] | set[str] | list[str], required: str) -> bool:
    if required in held or "*" in held:
        return True
    return any(required in SCOPE_INCLUDES.get(s, ()) for s in held)


def normalize_scopes(scopes: list[str] | None) -> list[str]:
    """Omitted means every developer scope; `config` adds the scopes it includes."""
    if scopes is None:
        return list(DEVELOPER_SCOPES)
    result: list[str] = []
    for scope in [*scopes, *(inc for s in scopes for inc in SCOPE_INCLUDES.get(s, ()))]:
        if scope not in result:
            result.append(scope)
    return result


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def text_credential(value: str) -> str:
    """A credential as text; one that is not UTF-8 (a header's raw bytes arrive as
    surrogates) is AuthError(401), never an encoding crash."""
    if _SURROGATE.search(value):
        raise AuthError(401, "Invalid credentials: not UTF-8 text")
    return value


def new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${base64.b64encode(salt).decode()}$" + digest.hex()


def check_password(password: str, stored: str) -> bool:
    _, rounds, salt_b64, digest = stored.split("$")
    salt = base64.b64decode(salt_b64)
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(rounds)).hex()
    return hmac.compare_digest(candidate, digest)


class Authenticator:
    def __init__(self, store: Store):
        self.store = store
        self.secret = store.jwt_secret()

    # JWT ------------------------------------------------------------------------------------
    def issue_jwt(self, username: str) -> str:
        exp = datetime.now(UTC) + JWT_LIFETIME
        return jwt.encode({"username": username, "exp": exp, "jti": secrets.token_hex(8)},
                          self.secret, algorithm="HS256")

    def decode_jwt(self, token: str) -> str:
        """The username of a valid dashboard JWT (signed, with an `exp` still ahead, not
        logged out); AuthError(401) otherwise."""
        try:
            payload = jwt.decode(text_credential(token), self.secret, algorithms=["HS256"],
                                 options={"require": ["exp"]})
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(401, "Token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, "Invalid token") from exc
        username = payload.get("username")
        if not isinstance(username, str) or not username:
            raise AuthError(401, "Invalid token")
        if self.store.token_revoked(hash_key(token)):
            raise AuthError(401, "Token revoked")
        return username

    def revoke_jwt(self, token: str) -> None:
        """Log `token` out: refused from now on, until its own `exp` (then it is expired)."""
        try:
            exp = jwt.decode(token, self.secret, algorithms=["HS256"],
                             options={"verify_exp": False})["exp"]
        except (jwt.InvalidTokenError, KeyError):
            return  # not a token of this server: nothing to revoke
        self.store.revoke_token(hash_key(token), int(exp))

    # API keys -------------------------------------------------------------------------------
    def create_key(
        self, name: str, scopes: list[str], created_by: str,
        expires_at: str | None = None, raw_key: str | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        raw = raw_key or new_raw_key()
        stamp = now_iso()
        rec = ApiKeyRecord(
            key_id=secrets.token_hex(16), name=name, key_hash=hash_key(raw),
            key_prefix=raw[:12], scopes=scopes, created_by=created_by, created_at=stamp,
            updated_at=stamp, expires_at=expires_at,
        )
        self.store.add_key(rec)
        return raw, rec

    def lookup_key(self, raw_key: str) -> ApiKeyRecord:
        rec = self.store.keys_by_hash.get(hash_key(text_credential(raw_key).strip()))
        if rec is None or rec.revoked_at is not None or key_expired(rec):
            raise AuthError(401, "Invalid API key")
        return rec

    def key_principal(self, raw_key: str) -> Principal:
        rec = self.lookup_key(raw_key)
        touch(self.store, rec)
        return Principal("api_key", rec.created_by, frozenset(rec.scopes), rec)

    # request credentials --------------------------------------------------------------------
    def authenticate(
        self, headers, query, cookies, required_scope: str | None
    ) -> Principal:
        """Resolve the caller of an HTTP request and check `required_scope`."""
        authorization = headers.get("Authorization", "")
        jwt_only = required_scope is not None and required_scope not in DEVELOPER_SCOPES
        raw_key: str | None = None
        if authorization.startswith("Bearer "):
            value = authorization[len("Bearer "):].strip()
            try:
                return Principal("jwt", self.decode_jwt(value), frozenset({"*"}), token=value)
            except AuthError as exc:
                if exc.message != "Invalid token":  # expired, revoked, not text
                    raise
            raw_key = value
        elif authorization.startswith("ApiKey "):
            raw_key = authorization[len("ApiKey "):].strip()
        else:
            raw_key = query.get("api_key") or query.get("key") or headers.get("X-API-Key")
        if not raw_key:
            cookie = cookies.get(JWT_COOKIE)
            if cookie:
                return Principal("jwt", self.decode_jwt(cookie), frozenset({"*"}), token=cookie)
            raise AuthError(401, "Missing API key")
        if jwt_only:
            raise AuthError(403, "Insufficient API key scope")
        principal = self.key_principal(raw_key)
        if not principal.allows(required_scope):
            raise AuthError(403, "Insufficient API key scope")
        return principal


def key_expired(rec: ApiKeyRecord) -> bool:
    if rec.expires_at is None:
        return False
    return datetime.fromisoformat(rec.expires_at) <= datetime.now(UTC)


def touch(store: Store, rec: ApiKeyRecord) -> None:
    """Record last use; persisted at most once a minute per key to keep requests write-free."""
    now = datetime.now(UTC)
    rec.last_used_at = now.isoformat()
    if now.timestamp() - rec._last_persisted_use > 60:
        rec._last_persisted_use = now.timestamp()
        store.update_key(rec, last_used_at=rec.last_used_at)
