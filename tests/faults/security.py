"""Faults in object-level authorization, stale credentials, path safety and secrets
(SEC-*): the most plausible ways an implementation gets each wrong."""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json

from aiohttp import web

from simulator import store as store_module
from simulator.auth import Authenticator, AuthError, hash_key
from simulator.history import StoreHistory
from simulator.http.domain.chat_store import folder
from simulator.store import PROJECT_MEMBER_KIND

from . import Fault, kit

LIVE = "/api/v1/live/ws"


# ownership ----------------------------------------------------------------------------------
def sessions_any_user() -> None:
    """listChatSessions filters on nothing: the query's username is checked for presence,
    then forgotten (a listing written for the dashboard, where one admin owns everything)."""
    @kit.wrap(store_module.Store, "list_chat_sessions")
    def listing(original, self, creator, page, page_size, platform_id=None):
        rows = self._db.execute(
            "SELECT session_id, platform_id, creator, display_name, is_group, created_at, "
            "updated_at FROM chat_sessions WHERE session_id NOT IN (SELECT id FROM resources "
            "WHERE kind = ?) ORDER BY updated_at DESC LIMIT ? OFFSET ?",
            [PROJECT_MEMBER_KIND, page_size, (page - 1) * page_size]).fetchall()
        keys = ("session_id", "platform_id", "creator", "display_name", "is_group",
                "created_at", "updated_at")
        found = [dict(zip(keys, row, strict=True)) for row in rows]
        return found, len(found)


def read_foreign_session() -> None:
    """getChatSession looks the id up and answers it, owner unchecked (AstrBot 4.26.2 did,
    research VER-007: the check came later); change and delete still check."""
    @kit.handler("getChatSession")
    async def get(original, ctx):
        session = ctx.sim.store.chat_session(ctx.param("session_id"))
        if session is not None and ctx.principal.kind == "api_key":
            url = ctx.request.rel_url.update_query(username=session["creator"])
            ctx = dataclasses.replace(ctx, request=ctx.request.clone(rel_url=url))
        return await original(ctx)


REST_CHAT = contextvars.ContextVar("rest_chat", default=False)


def chat_into_foreign_session() -> None:
    """POST /api/v1/chat takes the session_id as given: the owner check lives only in the
    WebSocket bridge's copy of the send code, so B's message lands in A's session."""
    @kit.handler("sendChatMessage")
    async def send(original, ctx):
        token = REST_CHAT.set(True)
        try:
            return await original(ctx)
        finally:
            REST_CHAT.reset(token)

    @kit.wrap(StoreHistory, "owner")
    def owner(original, self, session_id):
        return None if REST_CHAT.get() else original(self, session_id)


# stale credentials ----------------------------------------------------------------------------
PERSONA_CHECK = contextvars.ContextVar("persona_check", default=False)


def revoked_on_one_tag() -> None:
    """The Personas routes check a key with their own lookup, which tests the hash and the
    expiry but forgets `revoked_at` (one tag family's copy of the auth code gone stale)."""
    @kit.wrap(Authenticator, "authenticate")
    def authenticate(original, self, headers, query, cookies, required_scope):
        token = PERSONA_CHECK.set(required_scope == "persona")
        try:
            return original(self, headers, query, cookies, required_scope)
        finally:
            PERSONA_CHECK.reset(token)

    @kit.wrap(Authenticator, "lookup_key")
    def lookup(original, self, raw_key):
        if PERSONA_CHECK.get():
            rec = _by_hash(self, raw_key)
            if rec is not None and rec.revoked_at is not None:
                return rec
        return original(self, raw_key)


def _by_hash(auth, raw_key: str):
    return auth.store.keys_by_hash.get(hash_key(raw_key.strip()))


ON_LIVE = contextvars.ContextVar("on_live", default=False)


def deleted_key_on_live_ws() -> None:
    """The Live API handshake remembers the principal of every key it accepted (a cache to
    spare a lookup per connection) and is never told when a key is deleted."""
    cache: dict[str, object] = {}

    @web.middleware
    async def mark(request, handler):
        token = ON_LIVE.set(request.path == LIVE)
        try:
            return await handler(request)
        finally:
            ON_LIVE.reset(token)
    kit.middleware(mark)

    @kit.wrap(Authenticator, "key_principal")
    def principal(original, self, raw_key):
        try:
            found = original(self, raw_key)
        except AuthError:
            if ON_LIVE.get() and raw_key in cache and _by_hash(self, raw_key) is None:
                return cache[raw_key]
            raise
        if ON_LIVE.get():
            cache[raw_key] = found
        return found


def _b64json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def alg_none() -> None:
    """The JWT decoder reads the algorithm from the token's own header and so takes `none`
    (the classic RFC 7519 / RFC 8725 mistake)."""
    @kit.wrap(Authenticator, "decode_jwt")
    def decode(original, self, token):
        try:
            header, payload, _ = token.split(".")
            if _b64json(header).get("alg", "").lower() == "none":
                username = _b64json(payload).get("username")
                if isinstance(username, str) and username:
                    return username
        except (ValueError, AttributeError):
            pass
        return original(self, token)


# paths ----------------------------------------------------------------------------------------
def traversal_in_get_file_by_name() -> None:
    """getFileByName joins the query's filename onto the attachments folder as given: `..`
    and absolute names reach any file the server can read."""
    @kit.handler("getFileByName")
    async def get(original, ctx):
        name = ctx.request.query.get("filename") or ""
        if ".." in name or name.startswith("/"):
            path = folder(ctx.sim) / name
            if path.is_file():
                return web.Response(body=path.read_bytes(),
                                    content_type="application/octet-stream")
        return await original(ctx)


# secrets --------------------------------------------------------------------------------------
def raw_key_in_listing() -> None:
    """Keys are kept with their raw value for the dashboard's "copy" button, and the listing
    serializes the whole record."""
    raw_by_id: dict[str, str] = {}

    @kit.wrap(Authenticator, "create_key")
    def create(original, self, *args, **kwargs):
        raw, rec = original(self, *args, **kwargs)
        raw_by_id[rec.key_id] = raw
        return raw, rec

    @kit.handler("listApiKeys")
    async def listing(original, ctx):
        return [{**item, "api_key": raw_by_id.get(item["key_id"])}
                for item in await original(ctx)]


def password_echoed() -> None:
    """The dashboard password is kept in the system configuration (as AstrBot's
    `dashboard.password` once was) and the configuration read returns it as stored."""
    seen: dict[str, str] = {}

    def capture(operation_id: str) -> None:
        @kit.handler(operation_id)
        async def handler(original, ctx):
            if isinstance(ctx.body, dict) and isinstance(ctx.body.get("password"), str):
                seen["password"] = ctx.body["password"]
            return await original(ctx)

    capture("setupAuth")
    capture("login")

    @kit.handler("getSystemConfig")
    async def read(original, ctx):
        config = dict(await original(ctx))
        dashboard = config.get("dashboard") if isinstance(config.get("dashboard"), dict) else {}
        config["dashboard"] = {**dashboard, "password": seen.get("password", "")}
        return config


FAULTS = (
    Fault("bola-sessions-any-user", sessions_any_user.__doc__, sessions_any_user,
          breaks=("SEC-BOLA-001",)),
    Fault("bola-read-foreign-session", read_foreign_session.__doc__, read_foreign_session,
          breaks=("SEC-BOLA-002",)),
    Fault("bola-chat-into-foreign-session", chat_into_foreign_session.__doc__,
          chat_into_foreign_session, breaks=("SEC-BOLA-003",)),
    Fault("revoked-key-accepted-on-one-tag", revoked_on_one_tag.__doc__, revoked_on_one_tag,
          breaks=("SEC-CRED-001",)),
    Fault("deleted-key-live-ws-accepted", deleted_key_on_live_ws.__doc__,
          deleted_key_on_live_ws, breaks=("SEC-CRED-002",), may=("LIVE-AUTH-006",)),
    Fault("alg-none-accepted", alg_none.__doc__, alg_none, breaks=("SEC-TOKEN-001",),
          may=("JWT-AUTH-002",)),
    Fault("path-traversal-one-file-param", traversal_in_get_file_by_name.__doc__,
          traversal_in_get_file_by_name, breaks=("SEC-PATH-001",)),
    Fault("raw-key-in-listing", raw_key_in_listing.__doc__, raw_key_in_listing,
          breaks=("SEC-SECRET-001",)),
    Fault("password-echoed", password_echoed.__doc__, password_echoed,
          breaks=("SEC-SECRET-001",)),
)
