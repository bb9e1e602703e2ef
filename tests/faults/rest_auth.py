"""Faults in REST authentication, scopes and envelopes of the v1 API (V1-AUTH-*, V1-SCOPE-*,
V1-ENV-*): a check skipped on one credential carrier, one operation guarded by the wrong scope,
the include rule wrong in either direction, stale or mis-coded key refusals, 401 and 403 mixed
up, and error or success bodies off the seed-004 envelopes on one status or one operation."""

from __future__ import annotations

import copy
import dataclasses

from aiohttp import web

from simulator import auth
from simulator.auth import Authenticator, AuthError
from simulator.http.kernel import envelope, router

from . import Fault, kit


# helpers ------------------------------------------------------------------------------------
def rescope(operation_id: str, **changes) -> None:
    """Route one operation with other `scope` / `public` values than the contract's."""
    table = router.operations

    def operations():
        return tuple(dataclasses.replace(op, **changes) if op.operation_id == operation_id
                     else op for op in table())
    router.operations = operations


def on_auth(fn) -> None:
    """`Authenticator.authenticate` becomes fn(original, self, headers, query, cookies, scope)."""
    kit.wrap(Authenticator, "authenticate")(fn)


def bearer_value(headers) -> str | None:
    value = headers.get("Authorization", "")
    return value[len("Bearer "):].strip() if value.startswith("Bearer ") else None


def rewrite_errors(fn) -> None:
    """Every 401/403 (AuthError) body becomes fn(status, message) -> dict."""
    @web.middleware
    async def mw(request, handler):
        try:
            return await handler(request)
        except AuthError as exc:
            return web.json_response(fn(exc.status, exc.message), status=exc.status)
    kit.middleware(mw)


class RawAnswer(Exception):
    """Answers `response` as it is, past the envelope middleware (see `raw_answers`)."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


def raw_answers() -> None:
    @web.middleware
    async def mw(request, handler):
        try:
            return await handler(request)
        except RawAnswer as exc:
            return exc.response
    kit.middleware(mw)


def rewrite_success(fn, operation_id: str | None = None) -> None:
    """Every success envelope (of one operation when given) becomes fn(body) -> dict."""
    def patched(data=None, message=None, status=200):
        body = {"status": "ok", "data": {} if data is None else data}
        if message is not None:
            body["message"] = message
        return web.Response(text=envelope.dumps(fn(body)), status=status,
                            content_type="application/json")
    if operation_id is None:
        router.ok = patched
        return

    @kit.handler(operation_id)
    async def replaced(original, ctx):
        result = await original(ctx)
        return result if isinstance(result, web.StreamResponse) else patched(result)


# carriers: a check skipped for one way of presenting the key ---------------------------------
def bearer_key_skips_scope() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        value = bearer_value(headers)
        if value and value.startswith(auth.KEY_PREFIX):  # not a JWT: looked up, never scoped
            return self.key_principal(value)
        return original(self, headers, query, cookies, scope)
    on_auth(authenticate)


def query_key_skips_scope() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        if "Authorization" not in headers and query.get("api_key"):
            return self.key_principal(query["api_key"])  # the query path forgot the scope
        return original(self, headers, query, cookies, scope)
    on_auth(authenticate)


def bearer_is_jwt_only() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        value = bearer_value(headers)
        if value is not None:
            self.decode_jwt(value)  # a key in Bearer is an "Invalid token", no key fallback
        return original(self, headers, query, cookies, scope)
    on_auth(authenticate)


def query_key_ignored() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        return original(self, headers, {}, cookies, scope)
    on_auth(authenticate)


# scopes: the include rule, and one operation guarded by the wrong scope --------------------
def config_includes_nothing() -> None:
    auth.SCOPE_INCLUDES.clear()  # neither normalized at creation nor applied at the check


def config_grants_everything() -> None:
    granted = auth.scope_granted
    auth.scope_granted = lambda held, required: "config" in held or granted(held, required)


def jwt_refused_on_file() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        principal = original(self, headers, query, cookies, scope)
        if principal.kind == "jwt" and scope == "file" and "file" not in principal.scopes:
            raise AuthError(403, "Insufficient API key scope")  # checks the literal scope
        return principal
    on_auth(authenticate)


def kb_as_data() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        return original(self, headers, query, cookies, "data" if scope == "kb" else scope)
    on_auth(authenticate)


def api_keys_as_config() -> None:
    for op in ("listApiKeys", "createApiKey", "revokeApiKey", "deleteApiKey"):
        rescope(op, scope="config")


# refusals: revoked, unknown and missing credentials ----------------------------------------
def revoked_key_cached() -> None:
    cache: dict[str, object] = {}

    def lookup(original, self, raw_key):
        if raw_key not in cache:
            cache[raw_key] = copy.copy(original(self, raw_key))
        return cache[raw_key]
    kit.wrap(Authenticator, "lookup_key")(lookup)


def expiry_not_enforced() -> None:
    auth.key_expired = lambda rec: False  # the lookup filters on revoked_at only


def revoked_key_as_bearer() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        value = bearer_value(headers)
        rec = self.store.keys_by_hash.get(auth.hash_key(value)) if value else None
        if rec is not None and rec.revoked_at is not None and scope in auth.DEVELOPER_SCOPES:
            principal = auth.Principal("api_key", rec.created_by, frozenset(rec.scopes), rec)
            if principal.allows(scope):  # the Bearer fallback's own lookup: no revoked filter
                return principal
        return original(self, headers, query, cookies, scope)
    on_auth(authenticate)


def status_success(body):
    return {**body, "status": "success"}


def message_list_on_403() -> None:
    rewrite_errors(lambda status, message: {"status": "error", "message": [message]
                                            if status == 403 else message})


def revoked_key_403() -> None:
    def lookup(original, self, raw_key):
        rec = self.store.keys_by_hash.get(auth.hash_key(raw_key.strip()))
        if rec is not None and rec.revoked_at is not None:
            raise AuthError(403, "API key revoked")
        return original(self, raw_key)
    kit.wrap(Authenticator, "lookup_key")(lookup)


def unknown_key_403() -> None:
    def lookup(original, self, raw_key):
        try:
            return original(self, raw_key)
        except AuthError as exc:
            raise AuthError(403, exc.message) from exc
    kit.wrap(Authenticator, "lookup_key")(lookup)


def missing_key_403() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        try:
            return original(self, headers, query, cookies, scope)
        except AuthError as exc:
            if exc.message == "Missing API key":  # an anonymous caller holds no scope
                raise AuthError(403, "Insufficient API key scope") from exc
            raise
    on_auth(authenticate)


def scope_failure_401() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        try:
            return original(self, headers, query, cookies, scope)
        except AuthError as exc:
            if exc.status == 403 and scope in auth.DEVELOPER_SCOPES:
                raise AuthError(401, exc.message) from exc
            raise
    on_auth(authenticate)


# success envelope of setup-status ----------------------------------------------------------
def setup_status_int() -> None:
    @kit.handler("getAuthSetupStatus")
    async def status(original, ctx):
        data = await original(ctx)
        return data if data["setup_required"] else {**data, "setup_required": 0}


def setup_status_private_after_setup() -> None:
    @kit.handler("getAuthSetupStatus")
    async def status(original, ctx):
        data = await original(ctx)
        if not data["setup_required"] and not any(
                h in ctx.request.headers for h in ("Authorization", "X-API-Key")):
            raise AuthError(401, "Missing API key")  # public only until an admin exists
        return data


# envelopes ---------------------------------------------------------------------------------
def no_status_on_401() -> None:
    rewrite_errors(lambda status, message: {"message": message} if status == 401
                   else {"status": "error", "message": message})


def detail_on_403() -> None:
    rewrite_errors(lambda status, message: {"status": "error", "detail": message}
                   if status == 403 else {"status": "error", "message": message})


def code_on_403() -> None:
    rewrite_errors(lambda status, message: {"status": "error", "message": message,
                                            **({"code": "FORBIDDEN"} if status == 403 else {})})


def total_on_personas() -> None:
    def add_total(body):
        data = body["data"]
        items = data.get("items", data) if isinstance(data, dict) else data
        return {**body, "total": len(items) if isinstance(items, list) else 0}
    rewrite_success(add_total, "listPersonas")


def null_message() -> None:
    rewrite_success(lambda body: {"status": "ok", "message": body.get("message"),
                                  "data": body["data"]})


def oauth_error_on_bad_bearer() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        try:
            return original(self, headers, query, cookies, scope)
        except AuthError as exc:
            if exc.status == 401 and bearer_value(headers) is not None:
                raise RawAnswer(web.Response(  # RFC 6750 style, from a JWT middleware
                    status=401, text='{"error":"invalid_token"}', content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})) from exc
            raise
    raw_answers()
    on_auth(authenticate)


def code_on_dashboard_only_403() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        if scope is not None and scope not in auth.DEVELOPER_SCOPES and not bearer_value(headers) \
                and (headers.get("X-API-Key") or query.get("api_key")):
            raise RawAnswer(web.Response(status=403, content_type="application/json",
                                         text=envelope.dumps({
                                             "status": "error", "code": "DASHBOARD_ONLY",
                                             "message": "Insufficient API key scope"})))
        return original(self, headers, query, cookies, scope)
    raw_answers()
    on_auth(authenticate)


# allowed variations ------------------------------------------------------------------------
def success_message_text() -> None:
    rewrite_success(lambda body: {"status": "ok", "message": body.get("message") or "success",
                                  "data": body["data"]})


def error_data_null() -> None:
    rewrite_errors(lambda status, message: {"status": "error", "message": message,
                                            "data": None})


def unknown_key_401_dashboard_only() -> None:
    def authenticate(original, self, headers, query, cookies, scope):
        raw = headers.get("X-API-Key") or query.get("api_key")
        if raw and scope not in auth.DEVELOPER_SCOPES and scope is not None \
                and "Authorization" not in headers:
            self.lookup_key(raw)  # the key is looked up before the dashboard-only refusal
        return original(self, headers, query, cookies, scope)
    on_auth(authenticate)


def reworded_401() -> None:
    words = {"Missing API key": "Authentication required: send an API key",
             "Invalid API key": "The API key is not valid"}

    def authenticate(original, self, headers, query, cookies, scope):
        try:
            return original(self, headers, query, cookies, scope)
        except AuthError as exc:
            raise AuthError(exc.status, words.get(exc.message, exc.message)) from exc
    on_auth(authenticate)


FAULTS = [
    # carriers
    Fault("bearer-key-skips-scope", "an API key sent as `Authorization: Bearer` (after the "
          "JWT decode failed) is looked up but never scope-checked: the JWT fallback branch "
          "returns the principal early", bearer_key_skips_scope, breaks=("V1-AUTH-004",)),
    Fault("query-key-skips-scope", "a key in `?api_key=` is authenticated by a separate code "
          "path (added for browsers) that forgets the scope check", query_key_skips_scope,
          breaks=("V1-AUTH-004",)),
    Fault("bearer-is-jwt-only", "`Authorization: Bearer` is only ever decoded as a dashboard "
          "JWT: an API key there gets 401 Invalid token (no API-key fallback)",
          bearer_is_jwt_only, breaks=("V1-AUTH-005",)),
    Fault("query-key-ignored", "the `api_key` query parameter is not read (only headers are)",
          query_key_ignored, breaks=("V1-AUTH-006",)),
    # scopes
    Fault("config-includes-nothing", "the include rule config -> bot, provider is missing, "
          "both at key creation and at the check", config_includes_nothing,
          breaks=("V1-AUTH-007",)),
    Fault("config-grants-everything", "a `config` key is treated as an admin key that passes "
          "every developer scope (config read as 'configure anything')",
          config_grants_everything, breaks=("V1-SCOPE-003",)),
    Fault("im-bots-guarded-by-chat", "GET /api/v1/im/bots checks the `chat` scope instead of "
          "`im` (copied from the chat router)",
          lambda: rescope("listImBots", scope="chat"),
          breaks=("V1-AUTH-004", "V1-AUTH-005", "V1-SCOPE-004"),
          may=("V1-AUTH-006", "V1-AUTH-008", "V1-AUTH-010", "V1-SCOPE-003")),
    Fault("im-send-guarded-by-chat", "POST /api/v1/im/messages checks the `chat` scope "
          "instead of `im`: a chat key reaches the IM sender",
          lambda: rescope("sendImMessage", scope="chat"), breaks=("V1-SCOPE-003",),
          may=("V1-IM-002",)),
    Fault("persona-list-scope-typo", "GET /api/v1/personas checks the scope `personas` (a "
          "typo no key can hold): every API key gets 403, only the JWT passes",
          lambda: rescope("listPersonas", scope="personas"), breaks=("V1-SCOPE-004",),
          may=("V1-SCOPE-002",)),  # outside the developer set, an unknown key gets 403 too
    Fault("jwt-refused-on-file", "the file routes check the literal scope `file` in the "
          "caller's scope list, so the dashboard JWT (scopes `*`) is refused",
          jwt_refused_on_file, breaks=("V1-SCOPE-005",)),
    Fault("kb-as-data", "knowledge-base routes are guarded by the developer scope `data` "
          "instead of the dashboard-only `kb`: an all-scope key manages knowledge bases",
          kb_as_data, breaks=("V1-SCOPE-006",)),
    Fault("api-keys-as-config", "the API-key management routes are guarded by `config`, so a "
          "key holding config can list and create API keys", api_keys_as_config,
          breaks=("V1-AUTH-009", "V1-SCOPE-006")),
    Fault("file-download-public", "GET /api/v1/file is served outside the auth dependency "
          "(so that <img> tags can load attachments): no credential is asked",
          lambda: rescope("downloadOpenApiFile", public=True, scope=None),
          breaks=("V1-SCOPE-001", "V1-SCOPE-002", "V1-SCOPE-003")),
    Fault("public-versions-need-system", "GET /api/v1/stats/versions falls under the "
          "`system` scope of the other /stats routes: it asks for the dashboard JWT",
          lambda: rescope("getPublicVersions", public=False, scope="system"),
          breaks=("V1-SCOPE-007",)),
    # refusals
    Fault("revoked-key-cached", "validated keys are cached by their raw value: a key used "
          "once stays accepted after it is revoked (or expired)", revoked_key_cached,
          breaks=("V1-AUTH-008", "V1-AUTH-010")),
    Fault("expired-key-accepted", "the key lookup filters on `revoked_at` only: `expires_at` is "
          "stored and listed but never enforced", expiry_not_enforced,
          breaks=("V1-AUTH-010",)),
    Fault("revoked-key-as-bearer", "the Bearer fallback (a value that is not a JWT) looks the "
          "key up without the revoked filter: a revoked key still works as `Authorization: "
          "Bearer`, not as X-API-Key", revoked_key_as_bearer, breaks=("V1-AUTH-008",)),
    Fault("revoked-key-403", "a revoked key is told apart from an unknown one and refused "
          "with 403 `API key revoked` (authorization) instead of 401", revoked_key_403,
          breaks=("V1-AUTH-008",)),
    Fault("unknown-key-403", "an unknown (or revoked) key is answered 403, as a failed "
          "permission check, instead of 401", unknown_key_403,
          breaks=("V1-AUTH-003", "V1-AUTH-008", "V1-AUTH-010", "V1-SCOPE-002")),
    Fault("missing-key-403", "a request without any credential is an anonymous caller holding "
          "no scope, so it gets 403 instead of 401", missing_key_403,
          breaks=("V1-AUTH-002", "V1-SCOPE-001")),
    Fault("scope-failure-401", "a key lacking a developer scope gets 401 (every refusal is "
          "'unauthorized') instead of 403", scope_failure_401,
          breaks=("V1-AUTH-004", "V1-SCOPE-003")),
    # envelopes
    Fault("setup-status-int", "once an admin exists setup-status answers `setup_required` as 0 "
          "(an SQL `COUNT(*) = 0` passed through); the first-run answer is the literal true",
          setup_status_int, breaks=("V1-AUTH-001",)),
    Fault("setup-status-private-after-setup", "setup-status is public only until the admin "
          "exists, then it asks for a credential like the other /auth routes",
          setup_status_private_after_setup, breaks=("V1-AUTH-001", "V1-SCOPE-007")),
    Fault("no-status-on-401", "the auth layer writes its own 401 body `{\"message\": ...}` "
          "without `status`", no_status_on_401, breaks=("V1-ENV-002",)),
    Fault("detail-on-403", "403 bodies carry the text in `detail` (FastAPI HTTPException "
          "style) instead of `message`", detail_on_403,
          breaks=("V1-ENV-002", "V1-AUTH-004", "V1-SCOPE-003")),
    Fault("code-on-403", "403 bodies add a `code` field the closed ErrorEnvelope does not "
          "allow", code_on_403, breaks=("V1-ENV-002",)),
    Fault("oauth-error-on-bad-bearer", "a Bearer value that is neither a JWT nor a known key "
          "gets an RFC 6750 body `{\"error\": \"invalid_token\"}` from the JWT layer, not "
          "the error envelope", oauth_error_on_bad_bearer, breaks=("V1-ENV-002",)),
    Fault("code-on-dashboard-only-403", "the dashboard-only refusal (an API key on a `system` "
          "operation) is written by its own branch, with an extra `code` field",
          code_on_dashboard_only_403, breaks=("V1-ENV-002",)),
    Fault("keys-can-revoke-keys", "POST /api/v1/api-keys/{key_id}/revoke is open to API keys "
          "holding `config` (self-service revocation); listing stays dashboard-only",
          lambda: rescope("revokeApiKey", scope="config"), breaks=("V1-SCOPE-006",)),
    Fault("total-on-personas", "GET /api/v1/personas puts a pagination `total` next to "
          "`data` at the top level of the success envelope", total_on_personas,
          breaks=("V1-ENV-001",), may=("V1-FUZZ-002",)),
    Fault("status-success-on-mcp", "GET /api/v1/mcp/servers answers `\"status\": "
          "\"success\"` (another framework's convention) instead of \"ok\"",
          lambda: rewrite_success(status_success, "listMcpServers"), breaks=("V1-ENV-001",),
          may=("V1-FUZZ-002",)),
    Fault("message-list-on-403", "403 bodies carry `message` as a list of reasons, not a "
          "string", message_list_on_403,
          breaks=("V1-ENV-002", "V1-AUTH-004", "V1-SCOPE-003")),
    Fault("null-message-on-success", "success envelopes carry `\"message\": null` (a "
          "pydantic model's default), which the string-typed `message` does not allow",
          null_message, breaks=("V1-ENV-001",)),
    # allowed variations
    Fault("success-message-text", "success envelopes carry a string `message` (\"success\"): "
          "SuccessEnvelope allows an optional string message", success_message_text,
          profiles=("openapi-v1",)),
    Fault("error-data-null", "401 and 403 envelopes carry `\"data\": null`: ErrorEnvelope "
          "allows a `data` of any type", error_data_null, profiles=("openapi-v1",)),
    Fault("unknown-key-401-dashboard-only", "on dashboard-only operations an X-API-Key is "
          "looked up before the refusal, so an unknown key gets 401 (V1-SCOPE-002 allows 401 "
          "or 403 there) and a valid one still 403", unknown_key_401_dashboard_only,
          profiles=("openapi-v1",)),
    Fault("reworded-401", "401 messages worded differently (`Authentication required: send "
          "an API key`): the contract fixes the 403 message only", reworded_401,
          profiles=("openapi-v1",)),
]
