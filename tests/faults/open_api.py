"""Faults in the legacy Open API (seeds 002/003, profile open-api): SSE framing and the last
event of POST /api/v1/chat, the session list and its pagination, config files, attachments
(stored, read back, path-safe names), IM, and the legacy document's schemas and bounds
(OPEN-CHAT-*, OPEN-SESS-001, OPEN-CFG-001, OPEN-FILE-*, OPEN-IM-001, OPEN-BOTS-001,
OPEN-FUZZ-*)."""

from __future__ import annotations

import contextvars
import json
import types

from simulator.http.domain import chat
from simulator.http.handlers import chat as chat_handlers
from simulator.http.handlers import open_api
from simulator.http.kernel import sse
from simulator.http.kernel.envelope import ApiError
from simulator.store import Store

from . import Fault, kit

# collateral of a stream that is no longer a readable event stream
STREAM_MAY = ("OPEN-CHAT-002", "OPEN-CHAT-003", "OPEN-CHAT-006", "OPEN-CHAT-007",
              "OPEN-SESS-001", "OPEN-FUZZ-002")


def _rewrite_sse(fn) -> None:
    """sse.encode(event) -> bytes becomes fn(original, event)."""
    kit.wrap(sse, "encode")(fn)


# --- SSE framing and the last event --------------------------------------------------------------

def end_unterminated() -> None:
    """The `end` event is written without its blank line, then the body ends."""
    _rewrite_sse(lambda original, event: original(event)[:-1]
                 if event.get("type") == "end" else original(event))


def content_type_json() -> None:
    web = sse.web

    class JsonTyped(web.StreamResponse):
        def __init__(self, *args, headers=None, **kwargs):
            headers = {**(headers or {}), "Content-Type": "application/json"}
            super().__init__(*args, headers=headers, **kwargs)

    module = types.SimpleNamespace(**{n: getattr(web, n) for n in dir(web)
                                      if not n.startswith("__")})
    module.StreamResponse = JsonTyped
    sse.web = module


def no_end() -> None:
    _rewrite_sse(lambda original, event: b"" if event.get("type") == "end" else original(event))


_NON_STREAMING: contextvars.ContextVar[bool] = contextvars.ContextVar("non_streaming",
                                                                      default=False)


def saved_after_end_when_not_streaming() -> None:
    """With enable_streaming false, a second `message_saved` (the agent stats record) is
    written after `end`, as AstrBot 4.26.2 does (research SSE-011)."""
    def rewrite(original, event):
        if event.get("type") == "plain" and event.get("streaming") is False:
            _NON_STREAMING.set(True)
        if event.get("type") == "end" and _NON_STREAMING.get():
            return original(event) + original({"type": "message_saved", "data": {
                "id": 0, "created_at": "1970-01-01T00:00:00Z"}})
        return original(event)
    _rewrite_sse(rewrite)


def end_twice() -> None:
    """`end` is written by the reply loop and again by the stream's cleanup."""
    _rewrite_sse(lambda original, event: original(event) * 2
                 if event.get("type") == "end" else original(event))


def no_heartbeats() -> None:
    """Allowed: no `: heartbeat` comments while the reply is slow (seed 002 does not ask for
    them; research SSE-003 records AstrBot's)."""
    chat.HEARTBEAT_SECONDS = 3600.0


def odd_event() -> None:
    """Every stream carries a `run_started` event after `session_id` (as AstrBot 4.29.3)."""
    from tests.broken_targets import send_odd_events

    send_odd_events()


_HELD: dict[str, bytes] = {}


def last_delta_unsent() -> None:
    """Each streamed `plain` delta is written when the next one arrives; the last one never
    is (the `complete` event still carries the whole reply)."""
    def rewrite(original, event):
        key = str(event.get("message_id"))
        if event.get("type") == "plain" and event.get("streaming"):
            held, _HELD[key] = _HELD.get(key, b""), original(event)
            return held
        _HELD.pop(key, None)
        return original(event)
    _rewrite_sse(rewrite)


_SESSION_EVENT: contextvars.ContextVar[bytes] = contextvars.ContextVar("session_event",
                                                                       default=b"")


def session_id_second() -> None:
    """The `session_id` event is written after `user_message_saved`, not first."""
    def rewrite(original, event):
        if event.get("type") == "session_id":
            _SESSION_EVENT.set(original(event))
            return b""
        if event.get("type") == "user_message_saved":
            return original(event) + _SESSION_EVENT.get()
        return original(event)
    _rewrite_sse(rewrite)


def sse_compact_crlf() -> None:
    """Allowed: events end with CRLF line breaks and heartbeats come every 0.2 s (both are
    valid Server-Sent Events framing)."""
    chat.HEARTBEAT_SECONDS = 0.2
    _rewrite_sse(lambda original, event: original(event).replace(b"\n", b"\r\n"))


# --- chat requests ------------------------------------------------------------------------------

def username_defaulted() -> None:
    @kit.handler("sendChatMessage")
    async def send(original, ctx):
        if ctx.principal.kind == "api_key" and isinstance(ctx.body, dict) \
                and ctx.body.get("username") is None:
            ctx.body = {**ctx.body, "username": "guest"}
        return await original(ctx)


def reply_only_streamed() -> None:
    @kit.wrap(chat, "chat_text")
    def chat_text(original, store, message):
        text, parts = original(store, message)
        if parts and all(p["type"] == "reply" for p in parts):
            parts = [*parts, {"type": "plain", "text": ""}]  # `if not parts` instead
        return text, parts


# --- the session list ---------------------------------------------------------------------------

def page_size_ignored() -> None:
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, creator, page, page_size, platform_id=None):
        return original(self, creator, 1, 100, platform_id) if page == 1 \
            else original(self, creator, page, page_size, platform_id)


def username_filter_ignored() -> None:
    """The listing filters on the platform only: every user's sessions are listed."""
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, creator, page, page_size, platform_id=None):
        rows = self._db.execute("SELECT DISTINCT creator FROM chat_sessions").fetchall()
        everyone = [s for (who,) in rows for s in original(self, who, 1, 10**6, platform_id)[0]]
        everyone.sort(key=lambda s: s["updated_at"], reverse=True)
        return everyone[(page - 1) * page_size:page * page_size], len(everyone)


def total_of_page() -> None:
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, creator, page, page_size, platform_id=None):
        sessions, _ = original(self, creator, page, page_size, platform_id)
        return sessions, len(sessions)


def page_off_by_one() -> None:
    """A full page loses its last row (an exclusive end: rows[offset:offset + size - 1])."""
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, creator, page, page_size, platform_id=None):
        sessions, total = original(self, creator, page, page_size, platform_id)
        return (sessions[:-1] if len(sessions) == page_size else sessions), total


def page_beyond_end_errors() -> None:
    @kit.handler("listChatSessions")
    async def listing(original, ctx):
        data = await original(ctx)
        if not data["sessions"] and data["page"] > 1:
            raise ApiError(404, "page out of range")
        return data


def session_not_stored() -> None:
    """The session row is only written by the live path; POST /api/v1/chat never creates
    it (its messages are stored)."""
    kit.wrap(chat.StoreHistory, "ensure_session")(lambda original, self, sid, creator: None)


def is_group_boolean() -> None:
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, *args, **kwargs):
        sessions, total = original(self, *args, **kwargs)
        return [{**s, "is_group": bool(s["is_group"])} for s in sessions], total


def session_extra_field() -> None:
    """Allowed: every session item also carries `message_count` (ChatSessionItem does not
    forbid other properties)."""
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, *args, **kwargs):
        sessions, total = original(self, *args, **kwargs)
        return [{**s, "message_count": 2} for s in sessions], total


def page_size_clamped() -> None:
    """page_size above 100 clamped to 100 (research SESS-002, DIFF-018), page 0 to 1."""
    @kit.handler("listChatSessions")
    async def listing(original, ctx):
        query = dict(ctx.request.query)
        for name, low, high in (("page", 1, None), ("page_size", 1, 100)):
            if query.get(name, "").strip().lstrip("-").isdigit():
                value = max(low, int(query[name]))
                query[name] = str(min(value, high) if high else value)
        ctx.request = ctx.request.clone(rel_url=ctx.request.rel_url.with_query(query))
        return await original(ctx)


def page_size_max_refused() -> None:
    """`page_size >= 100` refused where the bound is `> 100`."""
    @kit.handler("listChatSessions")
    async def listing(original, ctx):
        raw = ctx.request.query.get("page_size", "").strip()
        if raw.lstrip("-").isdigit() and int(raw) >= chat_handlers.LEGACY_MAX_PAGE_SIZE:
            raise ApiError(400, "Invalid query parameter page_size: above the maximum")
        return await original(ctx)


def huge_page_crashes() -> None:
    """The OFFSET (page - 1) * page_size goes to SQLite unguarded: a page past 2**63 rows is
    an OverflowError, a 500."""
    @kit.wrap(Store, "list_chat_sessions")
    def listing(original, self, creator, page, page_size, platform_id=None):
        if (page - 1) * page_size >= 2**63:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return original(self, creator, page, page_size, platform_id)


# --- configs, bots, IM --------------------------------------------------------------------------

def is_default_only_on_default() -> None:
    """`is_default` is set only on the default config (`if default: item["is_default"] =
    True`): every other config item lacks it."""
    @kit.handler("legacy GET /api/v1/configs")
    async def configs(original, ctx):
        data = await original(ctx)
        extra = {k: v for k, v in data["configs"][0].items() if k != "is_default"}
        extra.update(id="work", name="work", path=extra["path"].replace("default", "work"))
        return {"configs": [*data["configs"], extra]}


def config_without_is_default() -> None:
    @kit.handler("legacy GET /api/v1/configs")
    async def configs(original, ctx):
        data = await original(ctx)
        return {"configs": [{k: v for k, v in c.items() if k != "is_default"}
                            for c in data["configs"]]}


def bot_ids_null() -> None:
    """An empty bot list is sent as `null` (a Go nil slice), a full one as the list."""
    @kit.handler("listImBots")
    async def bots(original, ctx):
        data = await original(ctx)
        return {"bot_ids": data["bot_ids"] or None}


def im_string_refused() -> None:
    @kit.handler("legacy POST /api/v1/im/message")
    async def send(original, ctx):
        if isinstance(ctx.body.get("message"), str):
            raise ApiError(400, "message must be a list of message parts")
        return await original(ctx)


# --- attachments --------------------------------------------------------------------------------

def upload_type_null() -> None:
    """An upload that is no image, audio or video answers `"type": null` (no media kind)."""
    @kit.handler("uploadOpenApiFile")
    async def upload(original, ctx):
        data = await original(ctx)
        return {**data, "type": None} if data.get("type") == "file" else data


def upload_not_stored() -> None:
    kit.wrap(Store, "add_attachment")(lambda original, self, row: None)


def upload_keeps_directories() -> None:
    """The upload stores the file under the client's file name as given (`../` included), as
    AstrBot stores attachments by name, without the base-name step."""
    @kit.handler("uploadOpenApiFile")
    async def upload(original, ctx):
        if not ctx.request.content_type.startswith("multipart/"):
            return await original(ctx)
        reader = await ctx.request.multipart()
        async for part in reader:
            if part.name != "file":
                continue
            filename = part.filename or "upload"
            data = await part.read(decode=False)
            folder = ctx.sim.config.data_dir / "attachments"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / filename).write_bytes(data)
            attachment_id = str(open_api.uuid.uuid4())
            mime = part.headers.get("Content-Type") or "application/octet-stream"
            ctx.sim.store.add_attachment({
                "attachment_id": attachment_id, "filename": filename, "stored_name": filename,
                "mime_type": mime, "kind": open_api.attachment_kind(mime), "size": len(data),
                "created_at": open_api.now_iso()})
            return {"attachment_id": attachment_id, "filename": filename,
                    "type": open_api.attachment_kind(mime)}
        raise ApiError(400, "Missing multipart field: file")


def download_by_path() -> None:
    """An attachment id the store does not know is read as a file name under the attachments
    folder (`../` included), as a server storing files by id would."""
    @kit.handler("downloadOpenApiFile")
    async def download(original, ctx):
        attachment_id = ctx.request.query.get("attachment_id", "").strip()
        if attachment_id and ctx.sim.store.attachment(attachment_id) is None:
            path = ctx.sim.config.data_dir / "attachments" / attachment_id
            found = [path] if path.is_file() else sorted(path.parent.glob(path.name + "_*"))
            if found and found[0].is_file():
                return open_api.web.Response(body=found[0].read_bytes())
        return await original(ctx)


def upload_missing_field_422() -> None:
    """A multipart body without `file` gets FastAPI's 422 `{"detail": [...]}` (research
    FILE-001) instead of the error envelope."""
    @kit.handler("uploadOpenApiFile")
    async def upload(original, ctx):
        try:
            return await original(ctx)
        except ApiError as exc:
            if exc.status != 400:
                raise
            return open_api.web.Response(status=422, content_type="application/json",
                                         text=json.dumps({"detail": [{
                                             "type": "missing", "loc": ["body", "file"],
                                             "msg": exc.message}]}))


_HEX_IDS: contextvars.ContextVar[bool] = contextvars.ContextVar("hex_ids", default=False)


class _HexId(str):
    @property
    def hex(self) -> str:
        return str(self)


def attachment_id_hex() -> None:
    """Allowed: attachment ids are 32 hex digits (uuid4().hex), not the dashed form."""
    real = open_api.uuid

    def uuid4():
        value = real.uuid4()
        return _HexId(value.hex) if _HEX_IDS.get() else value

    open_api.uuid = types.SimpleNamespace(uuid4=uuid4)

    @kit.handler("uploadOpenApiFile")
    async def upload(original, ctx):
        _HEX_IDS.set(True)
        return await original(ctx)


FAULTS = [
    # SSE framing, the last event
    Fault("sse-end-unterminated", "the `end` event lacks its blank line before the body ends "
          "(the writer writes `data: ...\\n` and closes): a client discards the unfinished "
          "event, so the stream never ends with `end`", end_unterminated,
          breaks=("OPEN-CHAT-003",), may=("OPEN-FUZZ-002", "OPEN-CHAT-007")),
    Fault("sse-content-type-json", "the chat stream is sent as `application/json` (the "
          "framework's default content type) while the body is SSE", content_type_json,
          breaks=("OPEN-CHAT-001",), may=STREAM_MAY),
    Fault("sse-no-end", "the stream closes after `message_saved` without an `end` event (the "
          "server thinks closing the response says it)", no_end, breaks=("OPEN-CHAT-003",),
          may=("OPEN-CHAT-007",)),
    Fault("sse-saved-after-end-not-streaming", "with `enable_streaming` false a second "
          "`message_saved` (the stats record) follows `end`, as AstrBot 4.26.2 writes it",
          saved_after_end_when_not_streaming, breaks=("OPEN-CHAT-007",)),
    Fault("sse-end-twice", "the `end` event is written twice (by the reply loop and again "
          "by the stream's cleanup)", end_twice, breaks=("OPEN-CHAT-003",),
          may=("OPEN-CHAT-007",)),
    Fault("sse-no-heartbeats", "allowed: no `: heartbeat` comments during a slow reply (the "
          "seeds do not ask for them)", no_heartbeats, profiles=("open-api",),
          sim_args=("--timing", "llm_ttft_ms=1500")),
    Fault("sse-run-started-event", "every stream carries a `run_started` event after "
          "`session_id`, a type the contract does not define (AstrBot 4.29.3 sends it)",
          odd_event, breaks=("OPEN-CHAT-006",)),
    Fault("sse-last-delta-unsent", "each `plain` delta is flushed when the next arrives and "
          "the last one never is: the plain deltas fall short of the `complete` text",
          last_delta_unsent, breaks=("OPEN-CHAT-003",)),
    Fault("sse-session-id-second", "the `session_id` event comes after `user_message_saved` "
          "(written once the user message is stored)", session_id_second,
          breaks=("OPEN-CHAT-002",)),
    Fault("sse-crlf-fast-heartbeats", "allowed: SSE lines end with CRLF and `: heartbeat` "
          "comments come every 0.2 s, both valid Server-Sent Events framing",
          sse_compact_crlf, profiles=("open-api",)),
    # chat requests
    Fault("chat-username-defaulted", "an API-key chat without `username` runs as user "
          "`guest` instead of being refused", username_defaulted, breaks=("OPEN-CHAT-004",)),
    Fault("chat-reply-only-streamed", "emptiness is tested on the parts list (`if not "
          "parts`), so a reply-only message is streamed", reply_only_streamed,
          breaks=("OPEN-CHAT-005",)),
    # the session list
    Fault("sessions-page-size-ignored", "page 1 lists up to 100 sessions whatever "
          "`page_size` asks (echoing the requested one)", page_size_ignored,
          breaks=("OPEN-SESS-001",)),
    Fault("sessions-username-ignored", "the listing filters on the platform only and lists "
          "every user's sessions", username_filter_ignored, breaks=("OPEN-SESS-001",)),
    Fault("sessions-total-of-page", "`total` counts the sessions on the page, not all the "
          "user's sessions", total_of_page, breaks=("OPEN-SESS-001",)),
    Fault("sessions-page-off-by-one", "the page's OFFSET is one too far: each page starts one "
          "row late, so a page's first session is never listed", page_off_by_one,
          breaks=("OPEN-SESS-001",)),
    Fault("sessions-page-beyond-end-404", "a page past the last one answers a 404 error "
          "instead of an empty list", page_beyond_end_errors, breaks=("OPEN-SESS-001",)),
    Fault("sessions-not-stored", "POST /api/v1/chat stores the messages but never creates "
          "the session row, so the listing lacks it", session_not_stored,
          breaks=("OPEN-SESS-001",)),
    Fault("sessions-is-group-boolean", "session items send `is_group` as a boolean (the "
          "language's bool) where ChatSessionItem types an integer", is_group_boolean,
          breaks=("OPEN-FUZZ-002",), may=("OPEN-SESS-001",)),
    Fault("sessions-extra-item-field", "allowed: session items carry an extra `message_count` "
          "(ChatSessionItem does not forbid other properties)", session_extra_field,
          profiles=("open-api",)),
    Fault("sessions-page-size-clamped", "page_size above 100 is clamped to 100 and page 0 to "
          "1 instead of refused (research SESS-002)", page_size_clamped,
          breaks=("OPEN-FUZZ-003",)),
    Fault("sessions-page-size-100-refused", "page_size 100 is refused (`>=` where the bound "
          "is inclusive)", page_size_max_refused, breaks=("OPEN-FUZZ-004",)),
    Fault("sessions-huge-page-500", "the page's OFFSET goes to SQLite unguarded: a page past "
          "2**63 rows crashes into a 500", huge_page_crashes,
          breaks=("OPEN-FUZZ-001",), may=("OPEN-FUZZ-003", "OPEN-FUZZ-007")),
    # configs, bots, IM
    Fault("configs-without-is-default", "config items lack `is_default` (only the dashboard's "
          "list has it)", config_without_is_default, breaks=("OPEN-CFG-001",),
          may=("OPEN-FUZZ-002",)),
    Fault("configs-is-default-only-on-default", "`is_default` is set on the default config "
          "only; the other config items lack it", is_default_only_on_default,
          breaks=("OPEN-CFG-001",), may=("OPEN-FUZZ-002",)),
    Fault("bots-null-when-empty", "`bot_ids` is `null` when no bot is configured (a nil "
          "slice)", bot_ids_null, breaks=("OPEN-BOTS-001",), may=("OPEN-FUZZ-002",)),
    Fault("im-legacy-string-refused", "the legacy POST /api/v1/im/message takes only a list "
          "of parts and refuses a string message", im_string_refused,
          breaks=("OPEN-IM-001",), may=("OPEN-FUZZ-004",)),
    # attachments
    Fault("upload-type-null-for-files", "an upload that is no image, audio or video answers "
          "`\"type\": null` where ApiResponseUpload types a string", upload_type_null,
          breaks=("OPEN-FUZZ-002",)),
    Fault("upload-not-stored", "the upload answers an attachment_id but the row is never "
          "committed, so the download is a 404", upload_not_stored,
          breaks=("OPEN-FILE-001",), may=("OPEN-FILE-002",)),
    Fault("upload-keeps-directories", "the uploaded file name is kept as the client sent it, "
          "`../` included, and the file stored under it", upload_keeps_directories,
          breaks=("OPEN-FILE-002",), may=("OPEN-FUZZ-001",)),
    Fault("download-by-path", "an attachment id the store does not know is read as a file "
          "name under the attachments folder, `../` included", download_by_path,
          breaks=("OPEN-FILE-002",)),
    Fault("upload-missing-field-422", "a multipart body without `file` is answered FastAPI's "
          "422 `{\"detail\": [...]}`, not the error envelope (research FILE-001)",
          upload_missing_field_422, breaks=("OPEN-FUZZ-007",)),
    Fault("attachment-id-hex", "allowed: attachment ids are 32 hex digits, not the dashed "
          "UUID form (seed 002 types attachment_id a string)", attachment_id_hex,
          profiles=("open-api",)),
]
