"""Faults in the handshake of /api/v1/live/ws: credentials (missing, unknown, revoked, without
`chat`, in the Authorization header), `username`, `ct`, the refusal's error frame and close
code, and keeping an accepted connection open (LIVE-CONN-001, -002, LIVE-AUTH-*)."""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from simulator import app
from simulator.auth import Principal, hash_key
from simulator.live import engine, ws

from . import Fault, kit

LIVE = "/api/v1/live/ws"


def refusal(change):
    """Every handshake refusal goes through `change(refused)` once built (it may set its
    `code`: None sends no error frame, `message` or close `reason`)."""
    def patch() -> None:
        @kit.wrap(ws.Refused, "__init__")
        def init(original, self, *args, **kwargs):
            original(self, *args, **kwargs)
            change(self)
    return patch


def close_code(code_for):
    """The refused socket closes with `code_for(error_text)` (None: keep 1008)."""
    class Socket(web.WebSocketResponse):
        refused_with = None

        async def send_str(self, data, *args, **kwargs):
            self.refused_with = data
            return await super().send_str(data, *args, **kwargs)

        async def close(self, *, code=ws.POLICY_VIOLATION, message=b"", **kwargs):
            if self.refused_with is not None and code == ws.POLICY_VIOLATION:
                code = code_for(self.refused_with) or code
            return await super().close(code=code, message=message, **kwargs)

    def patch() -> None:
        ws.new_socket = lambda: Socket(max_msg_size=ws.TRANSPORT_MAX_MSG, compress=False)
    return patch


def live_query(change):
    """The query of /api/v1/live/ws handshakes is rewritten by `change(dict)` first."""
    def patch() -> None:
        @web.middleware
        async def rewrite(request, handler):
            if request.path == LIVE:
                query = dict(request.query)
                change(query)
                request = request.clone(rel_url=request.rel_url.with_query(query))
            return await handler(request)
        kit.middleware(rewrite, outer=True)
    return patch


def live_auth(key_principal):
    """The live handshakes see `sim.auth.key_principal` as `key_principal(original, raw)`;
    the HTTP API keeps the real one (the WebSocket code has its own auth helper)."""
    def patch() -> None:
        @kit.wrap(app, "make_live_handlers")  # the name app.py builds the routes with
        def make(original, sim):
            class Auth:
                def __getattr__(self, name):
                    return getattr(sim.auth, name)

                def key_principal(self, raw):
                    return key_principal(sim.auth.key_principal, raw)

            class Sim:
                auth = Auth()

                def __getattr__(self, name):
                    return getattr(sim, name)
            return original(Sim())
    return patch


def cached_keys():
    cache: dict = {}

    def key_principal(original, raw):
        if raw not in cache:
            cache[raw] = original(raw)
        return cache[raw]
    return key_principal


def revoked_flag_ignored(original, raw):
    """The WebSocket's own key lookup matches the hash but forgets `revoked_at`."""
    rec = original.__self__.store.keys_by_hash.get(hash_key(raw.strip()))
    if rec is not None and rec.revoked_at is not None:
        return Principal("api_key", rec.created_by, frozenset(rec.scopes), rec)
    return original(raw)


def scope_unchecked(original, raw):
    principal = original(raw)
    return dataclasses.replace(principal, scopes=principal.scopes | {"chat"})


def idle_close() -> None:
    """An accepted connection that sends nothing within 1 s is closed (a first-frame timeout
    copied from a protocol where the client speaks first)."""
    for name in ("receive_text", "receive_bytes"):
        @kit.wrap(engine.LiveSession, name)
        def heard(original, self, raw):
            self.__dict__["heard"] = True
            return original(self, raw)

    @kit.wrap(ws, "run_session")
    async def run_session(original, socket, request, sim, session):
        async def idle():
            await asyncio.sleep(1.0)
            if not session.__dict__.get("heard"):
                await socket.close(code=1000, message=b"idle")
        watch = asyncio.create_task(idle())
        try:
            return await original(socket, request, sim, session)
        finally:
            watch.cancel()


def no_bearer() -> None:
    """The live handshake reads the key from the query and X-API-Key only."""
    @kit.wrap(ws, "_raw_api_key")
    def raw_key(original, request):
        q, h = request.query, request.headers
        return q.get("api_key") or q.get("key") or h.get("X-API-Key") or None


def set_field(name, value, when):
    def change(refused):
        if when(refused):
            setattr(refused, name, value)
    return change


def differing_texts(refused) -> None:
    """Other wording, same codes; the close reason stays the error text (ct keeps its own)."""
    texts = {"Missing API key": "API key required", "Invalid API key": "API key not valid",
             "Insufficient API key scope": "This key lacks the chat scope",
             "Missing key: username": "username is required"}
    if refused.message in texts:
        new = texts[refused.message]
        if refused.reason == refused.message:
            refused.reason = new
        refused.message = new


def delayed_close() -> None:
    """The refusal's close follows its error frame 0.3 s later."""
    original_close = web.WebSocketResponse.close

    class Socket(web.WebSocketResponse):
        async def send_str(self, data, *args, **kwargs):
            self.__dict__["refusing"] = True
            return await super().send_str(data, *args, **kwargs)

        async def close(self, **kwargs):
            if self.__dict__.get("refusing"):
                await asyncio.sleep(0.3)
            return await original_close(self, **kwargs)

    ws.new_socket = lambda: Socket(max_msg_size=ws.TRANSPORT_MAX_MSG, compress=False)


def _no_username(query: dict) -> None:
    query.setdefault("username", "guest")


def _unknown_ct_is_live(query: dict) -> None:
    if query.get("ct", "").strip() not in ("", "live", "chat"):
        del query["ct"]


FAULTS = [
    Fault("missing-key-no-error-frame", "without an API key the socket is closed 1008 at once, "
          "with no error frame first (the check returns before the error helper is called)",
          refusal(set_field("code", None, lambda r: r.message == "Missing API key")),
          breaks=("LIVE-AUTH-001",)),
    Fault("unknown-key-close-1011", "an unknown API key gets its error frame, then the close "
          "code 1011: the lookup's exception reaches the framework's error handler",
          close_code(lambda sent: 1011 if "Invalid API key" in sent else None),
          breaks=("LIVE-AUTH-002",), may=("LIVE-AUTH-006",)),
    Fault("live-revoked-key-cached", "the live handshake caches the keys it has looked up "
          "and never invalidates the cache: a key revoked or deleted over the API connects",
          live_auth(cached_keys()), breaks=("LIVE-AUTH-006",)),
    Fault("live-revoked-key-accepted", "the live handshake's own key lookup matches the hash "
          "but does not check `revoked_at`: a revoked key connects (a deleted one is gone)",
          live_auth(revoked_flag_ignored), breaks=("LIVE-AUTH-006",)),
    Fault("live-scope-unchecked", "the live endpoint is missing from the scope map: any valid "
          "key connects, with or without `chat`",
          live_auth(scope_unchecked), breaks=("LIVE-AUTH-003",)),
    Fault("scope-refused-forbidden", "a key without `chat` is refused with code FORBIDDEN (the "
          "HTTP 403 mapped to a code) instead of UNAUTHORIZED",
          refusal(set_field("code", "FORBIDDEN",
                            lambda r: r.message == "Insufficient API key scope")),
          breaks=("LIVE-AUTH-003",), may=("LIVE-FRAME-001",)),  # a code off the schema's enum
    Fault("missing-username-defaults", "a handshake without `username` is accepted as user "
          "`guest` instead of refused with BAD_USER",
          live_query(_no_username), breaks=("LIVE-AUTH-004",)),
    Fault("missing-username-invalid-message", "a missing `username` is refused with code "
          "INVALID_MESSAGE (the code of the `ct` branch below it, copied)",
          refusal(set_field("code", "INVALID_MESSAGE", lambda r: r.code == "BAD_USER")),
          breaks=("LIVE-AUTH-004",)),
    Fault("bad-ct-reason-is-text", "an unknown `ct` closes with the error text as reason, "
          "like the other refusals, not `Invalid ct`",
          refusal(set_field("reason", "ct must be 'live' or 'chat'",
                            lambda r: r.reason == "Invalid ct")),
          breaks=("LIVE-AUTH-005",)),
    Fault("bad-ct-is-live", "an unknown `ct` value falls back to live mode instead of being "
          "refused", live_query(_unknown_ct_is_live), breaks=("LIVE-AUTH-005",)),
    Fault("bearer-not-read", "the live handshake reads the API key from the query and "
          "X-API-Key only, not from `Authorization: Bearer`", no_bearer,
          breaks=("LIVE-CONN-002",)),
    Fault("idle-socket-closed", "an accepted connection that sends nothing within 1 s is "
          "closed with 1000 (a first-frame timeout)", idle_close, breaks=("LIVE-CONN-001",),
          may=("LIVE-CONN-004",)),
    # allowed variations
    Fault("refusal-texts-differ", "handshake refusals word their error texts differently, with "
          "the same codes and the text as close reason (the contract fixes codes, not texts)",
          refusal(differing_texts), profiles=("live-api",)),
    Fault("refusal-close-delayed", "a refused handshake's close follows its error frame 0.3 s "
          "later (a different, valid timing)", delayed_close, profiles=("live-api",)),
]
