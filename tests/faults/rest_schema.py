"""Faults in seed 004's REST schemas and bodies, judged by schemathesis and the boundary cases
(V1-FUZZ-*), and in seed 004's own reading of the chat and IM requests (V1-CHAT-*, V1-IM-*):
envelopes off schema on one operation or one status, a bound checked one step off, input the
schema forbids taken, a crash on one input, a write acknowledged but not stored, a message
part kind not understood, a username required of the dashboard JWT."""

from __future__ import annotations

from aiohttp import web

from simulator.http.domain import chat, chat_store, im
from simulator.http.handlers import chat as chat_data
from simulator.http.kernel import envelope
from simulator.http.kernel.envelope import ApiError
from tests.broken_targets import accept_extra_fields

from . import Fault, kit

PROJECTS = "/api/v1/chat/projects"


def _ok_with(extra: dict, path_prefix: str):
    """Success envelopes of GETs under `path_prefix` get `extra` top-level members."""
    @web.middleware
    async def mw(request, handler):
        response = await handler(request)
        if request.method == "GET" and request.path.startswith(path_prefix) \
                and response.status == 200 and response.content_type == "application/json":
            body = envelope.json.loads(response.text)
            if body.get("status") == "ok":
                return web.json_response({**body, **extra})
        return response
    kit.middleware(mw)


def ok_message_null() -> None:
    """GET /api/v1/chat/projects answers `"message": null` (an optional string left unset)."""
    _ok_with({"message": None}, PROJECTS)


def ok_with_message() -> None:
    """Allowed: every success envelope carries `"message": "ok"` (SuccessEnvelope types an
    optional string `message`)."""
    original = envelope.ok

    def ok(data=None, message=None, status=200):
        return original(data, "ok" if message is None else message, status)
    envelope.ok = ok
    import simulator.http.kernel.router as router

    router.ok = ok


def error_with_data() -> None:
    """Allowed: every error envelope carries `"data": {}` (ErrorEnvelope allows `data`)."""
    original = envelope.error

    def error(status, message, data=None):
        return original(status, message, {} if data is None else data)
    envelope.error = error


def not_found_off_schema() -> None:
    """A missing chat project answers 404 `{"status": "error", "message", "code": 404}`: an
    extra member ErrorEnvelope forbids, on that one operation."""
    @kit.handler("getChatProject")
    async def get(original, ctx):
        try:
            return await original(ctx)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return web.json_response({"status": "error", "message": exc.message, "code": 404},
                                     status=404)


def undocumented_422() -> None:
    """Invalid query parameters of GET /api/v1/conversations get FastAPI's 422."""
    @web.middleware
    async def mw(request, handler):
        try:
            return await handler(request)
        except ApiError as exc:
            if request.path != "/api/v1/conversations" or exc.status != 400:
                raise
            return web.json_response({"detail": [{"type": "value_error", "loc": ["query"],
                                                  "msg": exc.message}]}, status=422)
    kit.middleware(mw)


def _query_rule(operation_id: str, fn) -> None:
    """One operation's query parameters read by fn(original, request, op)."""
    import simulator.http.kernel.router as router

    original = router.read_query

    def read_query(request, op):
        if op.operation_id != operation_id:
            return original(request, op)
        return fn(original, request, op)
    router.read_query = read_query


def page_zero_accepted() -> None:
    """GET /api/v1/conversations clamps page 0 (and below) to 1 instead of refusing it."""
    def rule(original, request, op):
        raw = request.query.get("page", "")
        if raw.strip().lstrip("-").isdigit() and int(raw) < 1:
            request = request.clone(rel_url=request.rel_url.update_query(page="1"))
        return original(request, op)
    _query_rule("listConversations", rule)


def page_size_max_refused() -> None:
    """GET /api/v1/conversations refuses page_size 200 (`>=` for an inclusive maximum)."""
    def rule(original, request, op):
        raw = request.query.get("page_size", "").strip()
        if raw.isdigit() and int(raw) >= 200:
            raise ApiError(400, "Invalid query parameter page_size: above the maximum")
        return original(request, op)
    _query_rule("listConversations", rule)


def page_size_zero_crashes() -> None:
    """GET /api/v1/conversations divides by page_size before the bound is checked:
    page_size=0 is a ZeroDivisionError, a 500."""
    def rule(original, request, op):
        raw = request.query.get("page_size", "").strip()
        if raw.lstrip("-").isdigit():
            _ = 1 // int(raw) if int(raw) == 0 else None
        return original(request, op)
    _query_rule("listConversations", rule)


def project_extra_field() -> None:
    accept_extra_fields("createChatProject", "ChatProjectRequest")


def project_delete_kept() -> None:
    """DELETE /api/v1/chat/projects/{id} answers ok, but the row is only marked, never
    removed: the project still reads back."""
    @kit.handler("deleteChatProject")
    async def delete(original, ctx):
        _, project = chat_data.owned(ctx, chat_store.PROJECT, "project_id")
        return {"project_id": project["project_id"]}


def project_create_not_stored() -> None:
    """POST /api/v1/chat/projects answers the new project, but the write is never committed."""
    @kit.handler("createChatProject")
    async def create(original, ctx):
        put, store = ctx.sim.store.put_resource, ctx.sim.store
        store.put_resource = lambda *args, **kwargs: None
        try:
            return await original(ctx)
        finally:
            store.put_resource = put


def project_update_not_persisted() -> None:
    """PATCH /api/v1/chat/projects/{id} answers the updated project, but the change is made
    on the row read and never written back."""
    @kit.handler("updateChatProject")
    async def update(original, ctx):
        put, store = ctx.sim.store.put_resource, ctx.sim.store
        store.put_resource = lambda *args, **kwargs: None
        try:
            answer = await original(ctx)
        finally:
            store.put_resource = put
        return answer


def im_extra_field() -> None:
    accept_extra_fields("sendImMessage", "ImMessageRequest")


def im_text_part_refused() -> None:
    """IM messages know only seed 002's `plain` part; seed 004's `text` is refused."""
    @kit.wrap(im, "message_text")
    def message_text(original, message):
        if isinstance(message, list) and any(p.get("type") == "text" for p in message):
            raise ApiError(400, "unsupported message part type: text")
        return original(message)


def chat_text_part_dropped() -> None:
    """Chat messages take only `plain` text parts; a `text` part is dropped as unknown."""
    @kit.wrap(chat, "chat_text")
    def chat_text(original, store, message):
        if isinstance(message, list):
            message = [p for p in message if p.get("type") != "text"]
        return original(store, message)


DEFAULT_ADMINS = ("astrbot",)  # the simulator's default system config `admins_id`


def chat_admin_username_reserved() -> None:
    """API-key chats may not use an administrator id as username (AstrBot 4.29.3's
    `username is reserved for an AstrBot administrator` without the `chat:admin` scope)."""
    @kit.handler("sendChatMessage")  # the chat's text is read by the domain, which sees no
    async def send(original, ctx):    # caller: the refusal is the handler's
        if ctx.principal.kind == "api_key" and isinstance(ctx.body, dict) \
                and str(ctx.body.get("username", "")).strip() in DEFAULT_ADMINS:
            raise ApiError(400, "username is reserved for an AstrBot administrator")
        return await original(ctx)


def chat_audio_part_dropped() -> None:
    """Chat messages take `record` for audio; seed 004's `audio` part is dropped as unknown."""
    @kit.wrap(chat, "chat_text")
    def chat_text(original, store, message):
        if isinstance(message, list):
            message = [p for p in message if p.get("type") != "audio"]
        return original(store, message)


def jwt_chat_needs_username() -> None:
    """POST /api/v1/chat requires `username` of every caller, the dashboard JWT included (as
    AstrBot 4.26.2 does, research CHAT-013)."""
    @kit.handler("sendChatMessage")
    async def send(original, ctx):
        if ctx.principal.kind != "api_key" and isinstance(ctx.body, dict) \
                and not ctx.body.get("username"):
            raise ApiError(400, "Missing key: username")
        return await original(ctx)


def jwt_sessions_need_username() -> None:
    """GET /api/v1/chat/sessions requires `username` of every caller, the JWT included."""
    @kit.handler("listChatSessions")
    async def sessions(original, ctx):
        if ctx.principal.kind != "api_key" and ctx.request.query.get("username") is None:
            raise ApiError(400, "Missing key: username")
        return await original(ctx)


V1 = ("openapi-v1",)
FAULTS = [
    # envelopes and schemas
    Fault("ok-message-null-projects", "GET /api/v1/chat/projects answers `\"message\": null` "
          "(an optional string left unset), which SuccessEnvelope types a string",
          ok_message_null, breaks=("V1-FUZZ-002",), may=("V1-ENV-001",)),
    Fault("not-found-off-schema-project", "a missing chat project's 404 carries an extra "
          "`code` member ErrorEnvelope forbids (on that one operation)", not_found_off_schema,
          breaks=("V1-FUZZ-007",)),
    Fault("undocumented-422-conversations", "invalid query parameters of GET "
          "/api/v1/conversations get FastAPI's 422 `{\"detail\": [...]}` (research DIFF-014)",
          undocumented_422, breaks=("V1-FUZZ-007",)),
    Fault("ok-with-message", "allowed: every success envelope carries `\"message\": \"ok\"`, "
          "an optional string SuccessEnvelope declares", ok_with_message, profiles=V1),
    Fault("error-with-data", "allowed: every error envelope carries `\"data\": {}`, a member "
          "ErrorEnvelope declares", error_with_data, profiles=V1),
    # bounds and invalid input
    Fault("conversations-page-zero-clamped", "GET /api/v1/conversations clamps page 0 to 1 "
          "instead of refusing it (`minimum: 1`)", page_zero_accepted,
          breaks=("V1-FUZZ-003",)),
    Fault("conversations-page-size-200-refused", "GET /api/v1/conversations refuses page_size "
          "200 (`>=` for the inclusive maximum)", page_size_max_refused,
          breaks=("V1-FUZZ-004",)),
    Fault("conversations-page-size-zero-500", "GET /api/v1/conversations divides by page_size "
          "before checking its bound: page_size=0 crashes into a 500", page_size_zero_crashes,
          breaks=("V1-FUZZ-001",), may=("V1-FUZZ-003", "V1-FUZZ-007")),
    Fault("project-extra-field-taken", "POST /api/v1/chat/projects accepts members "
          "ChatProjectRequest forbids (`additionalProperties: false` not applied)",
          project_extra_field, breaks=("V1-FUZZ-003",)),
    # writes acknowledged, not stored
    Fault("project-delete-kept", "DELETE /api/v1/chat/projects/{id} answers ok but leaves the "
          "project readable", project_delete_kept, breaks=("V1-FUZZ-006",)),
    Fault("project-create-not-stored", "POST /api/v1/chat/projects answers the new project "
          "but never stores it", project_create_not_stored, breaks=("V1-FUZZ-006",),
          may=("V1-CHAT-005",)),
    Fault("project-update-not-persisted", "PATCH /api/v1/chat/projects/{id} answers the "
          "updated project, but the change is never written", project_update_not_persisted,
          breaks=("V1-CHAT-005",)),
    # seed 004's chat and IM
    Fault("im-extra-field-taken", "POST /api/v1/im/messages accepts members ImMessageRequest "
          "forbids (research DIFF-024)", im_extra_field,
          breaks=("V1-IM-001", "V1-FUZZ-003")),
    Fault("im-text-part-refused", "IM messages know only seed 002's `plain` part; seed 004's "
          "`text` part is refused", im_text_part_refused, breaks=("V1-IM-002",),
          may=("V1-FUZZ-004",)),
    Fault("chat-admin-username-reserved", "an API-key chat whose username is a configured "
          "administrator id is refused (`username is reserved`, as AstrBot 4.29.3 does without "
          "the `chat:admin` scope)", chat_admin_username_reserved, breaks=("V1-CHAT-006",)),
    Fault("chat-text-part-dropped", "chat messages take only `plain` text parts; a `text` "
          "part is dropped as unknown", chat_text_part_dropped, breaks=("V1-CHAT-001",),
          may=("V1-FUZZ-004",)),
    Fault("chat-audio-part-dropped", "chat messages take `record` for audio; seed 004's "
          "`audio` part is dropped as unknown", chat_audio_part_dropped,
          breaks=("V1-CHAT-002",), may=("V1-FUZZ-004",)),
    Fault("jwt-chat-needs-username", "POST /api/v1/chat requires `username` of the dashboard "
          "JWT too (research CHAT-013)", jwt_chat_needs_username, breaks=("V1-CHAT-003",),
          may=("V1-FUZZ-004",)),
    Fault("jwt-sessions-need-username", "GET /api/v1/chat/sessions requires `username` of "
          "the dashboard JWT too", jwt_sessions_need_username, breaks=("V1-CHAT-004",),
          may=("V1-FUZZ-004",)),
]
