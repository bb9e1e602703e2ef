"""Faults in how the HTTP operations take hostile JSON bodies and query values (ROB-HTTP-*),
and in sessions and tokens (SEC-CRED-*): the defects found by hand (issue 15) planted back,
each in one place, the way a real server has them (one operation that parses its own body,
a create that writes before it validates, a loop over a client's number)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from simulator.auth import Authenticator
from simulator.http.handlers import api_keys
from simulator.http.handlers import backups as backup_handlers
from simulator.http.kernel import router, validation
from simulator.http.kernel.envelope import ApiError

from . import Fault, kit

DEEP_OPERATION = "createPersona"


def _own_parser(operation_id: str, hook=None) -> None:
    """`operation_id` parses its JSON body with plain json.loads (no depth limit, no surrogate
    check), then validates it against the schema as every other operation does."""
    @kit.wrap(router, "read_json_body")
    async def read(original, request, op):
        if op.operation_id != operation_id:
            return await original(request, op)
        raw = await request.read()
        if not raw:
            return await original(request, op)
        try:
            body = json.loads(raw)  # RecursionError past ~1,000 levels: not a ValueError
        except ValueError as exc:
            raise ApiError(400, f"Invalid JSON body: {exc}") from exc
        validator, _ = validation.body_validator(op)
        error = next(iter(validator.iter_errors(body)), None)
        if error is not None:
            raise ApiError(400, f"Invalid request body: {error.message}")
        return body


def body_refusal_off_envelope() -> None:
    """POST /api/v1/personas answers a body it cannot decode the way its framework does by
    default, `{"detail": "There was an error parsing the body"}` (FastAPI's words, as real
    AstrBot 4.26.2 answers), not the error envelope: no 5xx, just off the contract."""
    from aiohttp import web

    @web.middleware
    async def plain_refusal(request, handler):
        try:
            return await handler(request)
        except ApiError as exc:
            if request.method == "POST" and request.path == "/api/v1/personas" \
                    and exc.status == 400 and "JSON" in exc.message:
                return web.json_response({"detail": "There was an error parsing the body"},
                                         status=400)
            raise
    kit.middleware(plain_refusal)


def rest_deep_json_500() -> None:
    _own_parser(DEEP_OPERATION)


def login_surrogate_500() -> None:
    # the login body bypasses the kernel's decoder: the handler's password.encode() meets "\ud800"
    _own_parser("login")


def query_surrogate_500() -> None:
    @kit.handler("listChatSessions")
    async def handler(original, ctx):
        # the filters read from the raw query string, keeping undecodable bytes (surrogateescape),
        # and looked up as they are: SQLite cannot encode a lone surrogate
        for _, value in parse_qsl(ctx.request.query_string, keep_blank_values=True,
                                  errors="surrogateescape"):
            ctx.sim.store.chat_session_creator(value)
        return await original(ctx)


def chat_refused_leaves_session() -> None:
    @kit.handler("sendChatMessage")
    async def handler(original, ctx):
        # the session row is made first ("so the stream can name it"), the checks run after
        body = ctx.body
        sid = str(body.get("session_id") or "").strip() or str(uuid.uuid4())
        user = body.get("username") if ctx.principal.kind == "api_key" else \
            ctx.principal.username
        if isinstance(user, str) and user.strip() and ctx.sim.store.chat_session(sid) is None:
            ctx.sim.store.add_chat_session(sid, user.strip(), datetime.now(UTC).isoformat())
        body["session_id"] = sid
        return await original(ctx)


def backup_chunk_index_cost() -> None:
    @kit.wrap(backup_handlers, "read_form")
    async def read_form(original, ctx):
        fields = await original(ctx)
        index = fields.get("chunk_index")
        if ctx.op.operation_id == "uploadBackupChunk" and isinstance(index, int):
            # the chunk table is kept dense: every index below this one is checked first
            session = ctx.sim.store.get_resource(backup_handlers.UPLOAD_KIND,
                                                 str(fields.get("upload_id"))) or {}
            chunks = session.get("chunks", {})
            sum(1 for i in range(min(index, 10 ** 8)) if str(i) not in chunks)
        return fields


def jwt_valid_after_logout() -> None:
    # logout only clears the cookie: the token itself stays valid until its exp
    kit.wrap(Authenticator, "revoke_jwt")(lambda original, self, token: None)


def key_born_expired() -> None:
    @kit.wrap(api_keys, "_expiry")
    def expiry(original, body):
        if "expires_at" in body:  # taken as given, in the past or not
            when = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
        return original(body)


FAULTS = (
    Fault("rest-deep-json-500", f"{DEEP_OPERATION} parses its own body with json.loads: JSON "
          "nested past ~1,000 levels raises RecursionError (not a ValueError), a 500",
          rest_deep_json_500, breaks=("ROB-HTTP-001",)),
    Fault("login-surrogate-500", "the public POST /api/v1/auth/login takes its body without "
          "the surrogate check: hashing a password with a lone surrogate raises "
          "UnicodeEncodeError, a 500 before any credential is needed",
          login_surrogate_500, breaks=("ROB-HTTP-001",)),
    Fault("query-surrogate-500", "GET /api/v1/chat/sessions reads its filters from the raw "
          "query string with surrogateescape and looks them up in SQLite: a lone surrogate's "
          "bytes are a UnicodeEncodeError, a 500", query_surrogate_500,
          breaks=("ROB-HTTP-002",)),
    Fault("chat-refused-leaves-session", "POST /api/v1/chat creates its session row before "
          "checking the request: a refused chat (unknown config_id, empty message, another "
          "user's session) leaves a new session behind", chat_refused_leaves_session,
          breaks=("ROB-HTTP-003",)),
    Fault("backup-chunk-index-cost", "a backup chunk walks every index below its own before "
          "being checked: chunk_index=30000001 holds the event loop for seconds",
          backup_chunk_index_cost, breaks=("ROB-HTTP-004",)),
    Fault("jwt-valid-after-logout", "logout only clears the dashboard cookie: the token "
          "itself stays valid on every route until it expires", jwt_valid_after_logout,
          breaks=("SEC-CRED-003",)),
    Fault("key-born-expired", "an API key's expires_at is stored as given: a date in the past "
          "creates a key that is expired from birth", key_born_expired,
          breaks=("SEC-CRED-004",)),
    Fault("body-refusal-off-envelope", f"{DEEP_OPERATION} answers a body it cannot decode "
          "with its framework's `{\"detail\": ...}` 400, not the error envelope",
          body_refusal_off_envelope, breaks=("ROB-HTTP-005",), may=("V1-FUZZ-007",),
          profiles=("robustness",)),
)
