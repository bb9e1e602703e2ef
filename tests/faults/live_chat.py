"""Faults in chat mode (`/api/v1/live/ws?ct=chat`: bind, send, interrupt, chat errors), in IM
push delivery to bound sockets (POST /api/v1/im/messages) and its isolation between sessions
and sockets, and in the Open API chat WebSocket `/api/v1/chat/ws` (LIVE-CHAT-*,
V1-CHATWS-*)."""

from __future__ import annotations

import contextvars
import uuid

from simulator import app as sim_app
from simulator import auth as sim_auth
from simulator.http.domain import im as sim_im
from simulator.live import chat_ws, engine, frames, hub, ws
from simulator.live.states import Lane, State

from . import Fault, kit

LiveSession, ChatSocket = engine.LiveSession, chat_ws.ChatSocket


def _chat_ws_handler(replace) -> None:
    """The /api/v1/chat/ws handler becomes `replace(original, request)` (async)."""
    @kit.wrap(sim_app, "make_live_handlers")
    def handlers(original, sim):
        found = original(sim)
        chat = found["/api/v1/chat/ws"]

        async def handler(request):
            return await replace(chat, request)
        found["/api/v1/chat/ws"] = handler
        return found


# chat mode on /api/v1/live/ws -------------------------------------------------------------------

def bound_subscription_key() -> None:
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        effects = original(self, frame)
        for f in kit.sent(effects, "session_bound"):
            f["subscription_id"] = f.pop("message_id")
        return effects


def bound_first_session() -> None:
    """One subscription per socket: a later bind is answered with the first session."""
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        effects = original(self, frame)
        first = next(iter(self.subscriptions), None)
        for f in kit.sent(effects, "session_bound"):
            f["session_id"], f["message_id"] = first, self.subscriptions[first]
        return effects


def bind_empty_session() -> None:
    """Only an absent `session_id` is refused; an empty one binds the session ""."""
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        if frame.get("session_id") == "":
            self.subscriptions[""] = sub = "ws_sub_" + uuid.uuid4().hex
            return [kit.Send(frames.chat_frame("session_bound", session_id="", message_id=sub))]
        return original(self, frame)


def bind_error_live_envelope() -> None:
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        effects = original(self, frame)
        for f in kit.sent(effects, "error"):
            f.pop("ct", None)
        return effects


def complete_misses_last_delta() -> None:
    """`complete` is built before the last delta is appended (an off-by-one flush)."""
    last: dict[int, str] = {}

    @kit.wrap(LiveSession, "_chat_delta")
    def delta(original, self, turn, text):
        last[id(turn)] = text
        return original(self, turn, text)

    @kit.wrap(LiveSession, "_chat_done")
    def done(original, self, turn):
        tail = last.pop(id(turn), "")
        effects = original(self, turn)
        for f in kit.sent(effects, "complete"):
            if tail and f["data"].endswith(tail):
                f["data"] = f["data"][:-len(tail)]
        return effects


def first_plain_not_streaming() -> None:
    """The first plain of a reply is sent as a non-streaming item (`streaming` false)."""
    @kit.wrap(LiveSession, "_chat_delta")
    def delta(original, self, turn, text):
        first = turn.first_delta_at is None
        effects = original(self, turn, text)
        if first:
            for f in kit.sent(effects, "plain"):
                f["streaming"] = False
        return effects


def plain_without_ct() -> None:
    """The backend's plain items are forwarded verbatim, without the `ct` the handler adds."""
    @kit.wrap(LiveSession, "_chat_delta")
    def delta(original, self, turn, text):
        effects = original(self, turn, text)
        for f in kit.sent(effects, "plain"):
            f.pop("ct", None)
        return effects


def end_before_complete() -> None:
    """The reply's `end` goes out first, then agent_stats, complete and message_saved."""
    @kit.wrap(LiveSession, "_chat_done")
    def done(original, self, turn):
        effects = original(self, turn)
        ends = [e for e in effects if kit.sent([e], "end")]
        return ends + [e for e in effects if e not in ends]


def string_as_characters() -> None:
    """A string message is iterated as a part list: a list of characters, none a part."""
    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        if isinstance(frame.get("message"), str):
            frame = {**frame, "message": list(frame["message"])}
        return original(self, frame)


def string_refused() -> None:
    """A string message is refused like any non-list (what AstrBot 4.26.2 does, DIFF-009)."""
    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        if isinstance(frame.get("message"), str) and self.chat_turn is None:
            return [kit.Send(frames.chat_error("message must be list", frames.INVALID))]
        return original(self, frame)


def number_stringified() -> None:
    """A non-list, non-string message is taken as its text (as /api/v1/chat/ws does)."""
    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        message = frame.get("message")
        if not isinstance(message, (str, list, dict)) and message is not None:
            frame = {**frame, "message": str(message)}
        return original(self, frame)


def object_as_part() -> None:
    """An object message is taken as a single message part."""
    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        if isinstance(frame.get("message"), dict):
            frame = {**frame, "message": [frame["message"]]}
        return original(self, frame)


def interrupt_not_cancelled() -> None:
    """The interrupt is acknowledged but the running reply is not cancelled."""
    @kit.wrap(LiveSession, "_chat_interrupt")
    def interrupt(original, self):
        return [kit.Send(frames.chat_error("INTERRUPTED", "INTERRUPTED"))]


def interrupt_flushes_complete() -> None:
    """On interrupt the partial reply is flushed as a `complete` after INTERRUPTED."""
    @kit.wrap(LiveSession, "_chat_interrupt")
    def interrupt(original, self):
        turn = self.chat_turn
        effects = original(self)
        if turn is not None:
            effects.append(kit.Send(frames.chat_frame(
                "complete", data=turn.text, reasoning="", streaming=True,
                message_id=turn.message_id)))
        return effects


def interrupt_after_end() -> None:
    """Frames are read one at a time: an interrupt during a reply is handled after its end."""
    waiting: set[int] = set()

    @kit.wrap(LiveSession, "_chat_interrupt")
    def interrupt(original, self):
        if self.chat_turn is not None:
            waiting.add(id(self))
            return []
        return original(self)

    @kit.wrap(LiveSession, "_chat_done")
    def done(original, self, turn):
        effects = original(self, turn)
        if id(self) in waiting:
            waiting.discard(id(self))
            effects.append(kit.Send(frames.chat_error("INTERRUPTED", "INTERRUPTED")))
        return effects


def no_busy_check() -> None:
    """A send during a reply starts a second reply instead of the busy error."""
    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        self.machine.states[Lane.CHAT], self.chat_turn = State.IDLE, None
        return original(self, frame)


# IM push to bound sockets ----------------------------------------------------------------------

def push_bind_not_subscribed() -> None:
    """`bind` answers session_bound but only a `send` subscribes the socket to the session."""
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        return [e for e in original(self, frame) if not isinstance(e, engine.Subscribe)]

    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        effects = original(self, frame)
        sid = frame.get("session_id")
        if isinstance(sid, str) and sid in self.subscriptions and self.chat_turn is not None:
            effects.insert(0, engine.Subscribe(sid, self.subscriptions[sid]))
        return effects


def push_once() -> None:
    """A subscription is a one-shot waiter: the first push is delivered, later ones are not."""
    @kit.wrap(LiveSession, "pushed")
    def pushed(original, self, session_id, text):
        effects = original(self, session_id, text)
        self.subscriptions.pop(session_id, None)
        return effects


def push_last_socket() -> None:
    """One subscriber per session: a later bind of the session replaces the earlier socket."""
    @kit.wrap(hub.Hub, "subscribe")
    def subscribe(original, self, session_id, owner, deliver):
        self._subscribers.get(session_id, {}).clear()
        return original(self, session_id, owner, deliver)


def push_umo_prefix_kept() -> None:
    """The session of a `webchat!<user>!<id>` umo is taken verbatim, not as `<id>`."""
    @kit.wrap(sim_im, "parse_umo")
    def parse(original, umo):
        platform, kind, session = original(umo)
        return platform, kind, session.replace("!", "#")


BOUND: dict[int, LiveSession] = {}  # id(session) -> session, for the fan-out fault


def push_every_user_socket() -> None:
    """A push to a session is fanned out to every bound socket of the same user."""
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        BOUND[id(self)] = self
        return original(self, frame)

    @kit.wrap(hub.Hub, "publish")
    def publish(original, self, session_id, text):
        owners = {o for o in self._subscribers.get(session_id, {})}
        users = {BOUND[o].username for o in owners if o in BOUND}
        count = original(self, session_id, text)
        for sid, subs in list(self._subscribers.items()):
            for owner, deliver in list(subs.items()):
                if sid != session_id and owner not in owners \
                        and owner in BOUND and BOUND[owner].username in users:
                    owners.add(owner)
                    BOUND[owner].subscriptions.setdefault(session_id, "ws_sub_" + sid)
                    deliver(text)
        return count

    @kit.wrap(LiveSession, "pushed")
    def pushed(original, self, session_id, text):
        if session_id not in self.subscriptions and self.subscriptions:
            self.subscriptions[session_id] = next(iter(self.subscriptions.values()))
        return original(self, session_id, text)


# /api/v1/chat/ws --------------------------------------------------------------------------------

def pong_with_t() -> None:
    """ping is answered with the Live API envelope: `{"t": "pong"}`."""
    @kit.wrap(ChatSocket, "receive_text")
    def receive(original, self, raw):
        effects = original(self, raw)
        for f in kit.sent(effects, "pong"):
            f["t"] = f.pop("type")
        return effects


def session_id_only_when_new() -> None:
    """The session_id frame is sent only when the server created the session."""
    @kit.wrap(ChatSocket, "_send")
    def send(original, self, frame):
        effects = original(self, frame)
        if frame.get("session_id"):
            effects = [e for e in effects if not kit.sent([e], "session_id")]
        return effects


def plain_not_streaming_ws() -> None:
    """/api/v1/chat/ws plain frames carry `streaming: false` (a struct field left unset)."""
    @kit.wrap(ChatSocket, "llm_delta")
    def delta(original, self, turn_id, text):
        effects = original(self, turn_id, text)
        for f in kit.sent(effects, "plain"):
            f["streaming"] = False
        return effects


def username_invalid_message() -> None:
    """A missing username gets the generic code INVALID_MESSAGE (no code mapping)."""
    @kit.wrap(ChatSocket, "_send")
    def send(original, self, frame):
        effects = original(self, frame)
        for f in kit.sent(effects, "error"):
            if f["data"] == "Missing key: username":
                f["code"] = "INVALID_MESSAGE"
        return effects


def blank_username_accepted() -> None:
    """Only an absent or null username is refused; a blank one is served."""
    @kit.wrap(ChatSocket, "_send")
    def send(original, self, frame):
        username = frame.get("username")
        if isinstance(username, str) and username and not username.strip():
            frame = {**frame, "username": "_" + username}
        return original(self, frame)


def errors_with_ct() -> None:
    """/api/v1/chat/ws error frames are built by the chat-mode helper and carry `ct`."""
    @kit.wrap(ChatSocket, "_send")
    def send(original, self, frame):
        effects = original(self, frame)
        for f in kit.sent(effects, "error"):
            f["ct"] = "chat"
        return effects


def message_saved_with_ct() -> None:
    """The closing message_saved frame of /api/v1/chat/ws carries `ct: chat`."""
    @kit.wrap(ChatSocket, "llm_done")
    def done(original, self, turn_id):
        effects = original(self, turn_id)
        for f in kit.sent(effects, "message_saved"):
            f["ct"] = "chat"
        return effects


def _no_key(request) -> bool:
    return ws._raw_api_key(request) is None


def missing_key_no_frame() -> None:
    """Without a key the socket is closed 1008 with no error frame (like the JWT paths)."""
    async def replace(original, request):
        if not _no_key(request):
            return await original(request)
        sock = ws.new_socket()
        await sock.prepare(request)
        await sock.close(code=ws.POLICY_VIOLATION, message=b"Missing API key")
        return sock
    _chat_ws_handler(replace)


def missing_key_close_1000() -> None:
    """Without a key the error frame is sent, then a normal close (1000)."""
    async def replace(original, request):
        if not _no_key(request):
            return await original(request)
        sock = ws.new_socket()
        await sock.prepare(request)
        await sock.send_str('{"type":"error","code":"UNAUTHORIZED","data":"Missing API key"}')
        await sock.close(code=1000, message=b"Missing API key")
        return sock
    _chat_ws_handler(replace)


LENIENT = contextvars.ContextVar("lenient_key", default=False)


def revoked_key_accepted() -> None:
    """/api/v1/chat/ws looks keys up by hash only: a revoked key still opens it."""
    @kit.wrap(sim_auth.Authenticator, "lookup_key")
    def lookup(original, self, raw_key):
        if LENIENT.get():
            rec = self.store.keys_by_hash.get(sim_auth.hash_key(raw_key.strip()))
            if rec is not None:
                return rec
        return original(self, raw_key)

    async def replace(original, request):
        token = LENIENT.set(True)
        try:
            return await original(request)
        finally:
            LENIENT.reset(token)
    _chat_ws_handler(replace)


# allowed variations ------------------------------------------------------------------------------

def uuid_subscription_ids() -> None:
    """session_bound's subscription id is `ws_sub_` and 12 upper-case letters and digits, not
    32 lower-case hex digits (seed 001 shows only `ws_sub_xxx`)."""
    @kit.wrap(LiveSession, "_bind")
    def bind(original, self, frame):
        sid = frame.get("session_id")
        if isinstance(sid, str) and sid.strip() and sid not in self.subscriptions:
            self.subscriptions[sid] = "ws_sub_" + uuid.uuid4().hex[:12].upper()
            return [engine.Subscribe(sid, self.subscriptions[sid]),
                    kit.Send(frames.chat_frame("session_bound", session_id=sid,
                                               message_id=self.subscriptions[sid]))]
        return original(self, frame)


def fine_chunks() -> None:
    """Each streamed delta is sent as several smaller plain frames (a word or less each)."""
    def split(text: str) -> list[str]:
        cut = max(1, len(text) // 3)
        return [text[i:i + cut] for i in range(0, len(text), cut)]

    @kit.wrap(LiveSession, "_chat_delta")
    def delta(original, self, turn, text):
        return [e for piece in split(text) for e in original(self, turn, piece)]

    @kit.wrap(ChatSocket, "llm_delta")
    def ws_delta(original, self, turn_id, text):
        return [e for piece in split(text) for e in original(self, turn_id, piece)]


def prefixed_session_ids() -> None:
    """/api/v1/chat/ws creates sessions named `webchat-<hex>` instead of a bare uuid4."""
    @kit.wrap(ChatSocket, "_send")
    def send(original, self, frame):
        if not str(frame.get("session_id") or "").strip():
            frame = {**frame, "session_id": "webchat-" + uuid.uuid4().hex}
        return original(self, frame)


def push_extra_field() -> None:
    """Pushed frames also name the session they came from (an extra optional field)."""
    @kit.wrap(LiveSession, "pushed")
    def pushed(original, self, session_id, text):
        effects = original(self, session_id, text)
        for f in kit.sent(effects):
            f["session_id"] = session_id
        return effects


LIVE, V1 = ("live-api",), ("openapi-v1",)
FRAME = ("LIVE-FRAME-001", "LIVE-FRAME-002")  # a frame off its schema / of an unknown shape

FAULTS = [
    # chat mode: bind
    Fault("chat-bound-subscription-key", "session_bound names its subscription "
          "`subscription_id` instead of `message_id`: a field renamed in a port",
          bound_subscription_key, breaks=("LIVE-CHAT-001",), may=FRAME),
    Fault("chat-bound-first-session", "a socket holds one subscription: a second bind on it is "
          "answered with the first session (a single field instead of a map)",
          bound_first_session, breaks=("LIVE-CHAT-001",)),
    Fault("chat-bind-empty-session", "bind refuses only an absent session_id; an empty string "
          "binds the session \"\" (a key-presence check instead of a truthiness one)",
          bind_empty_session, breaks=("LIVE-CHAT-002",), may=FRAME),
    Fault("chat-bind-error-live-envelope", "bind's session_id error is sent with the live error "
          "helper, without `ct: chat`", bind_error_live_envelope,
          breaks=("LIVE-CHAT-002",), may=FRAME),
    # chat mode: send and its reply
    Fault("chat-complete-misses-last-delta", "`complete` carries the reply without its last "
          "delta (built before the last delta was appended)", complete_misses_last_delta,
          breaks=("LIVE-CHAT-004",)),
    Fault("chat-first-plain-not-streaming", "the first plain of a reply has `streaming: false` "
          "(sent before the stream flag was set)", first_plain_not_streaming,
          breaks=("LIVE-CHAT-003",), may=("LIVE-CHAT-004", *FRAME)),
    Fault("chat-plain-without-ct", "the streamed plain items are forwarded verbatim from the "
          "backend queue, without `ct: chat`", plain_without_ct,
          breaks=("LIVE-CHAT-003",), may=FRAME),
    Fault("chat-end-before-complete", "the reply's `end` is sent before agent_stats, complete "
          "and message_saved (closing frames queued in the wrong order)", end_before_complete,
          breaks=("LIVE-CHAT-003",), may=("LIVE-CHAT-004", "LIVE-CHAT-005")),
    Fault("chat-string-as-characters", "a string message is iterated as if it were a part list "
          "(a list of characters): refused as empty content", string_as_characters,
          breaks=("LIVE-CHAT-010",)),
    Fault("chat-string-refused", "a string message is refused with `message must be list`, as "
          "AstrBot 4.26.2 does (DIFF-009)", string_refused, breaks=("LIVE-CHAT-010",)),
    Fault("chat-number-stringified", "a number as message is taken as its text (the "
          "/api/v1/chat/ws rule reused for chat mode)", number_stringified,
          breaks=("LIVE-CHAT-006",)),
    Fault("chat-object-as-part", "an object as message is taken as one message part",
          object_as_part, breaks=("LIVE-CHAT-006",)),
    Fault("chat-interrupt-not-cancelled", "a chat interrupt is acknowledged (INTERRUPTED) but the "
          "running reply is not cancelled and runs to its end", interrupt_not_cancelled,
          breaks=("LIVE-CHAT-007",)),
    Fault("chat-interrupt-flushes-complete", "on interrupt the partial reply is flushed as a "
          "`complete` frame after INTERRUPTED", interrupt_flushes_complete,
          breaks=("LIVE-CHAT-007",)),
    Fault("chat-interrupt-after-end", "a chat interrupt is read only once the running reply "
          "has ended (frames handled one at a time, as AstrBot 4.26.2 does, CHAT-WS-006)",
          interrupt_after_end, breaks=("LIVE-CHAT-007",)),
    Fault("chat-no-busy-check", "a send during a running reply starts a second reply instead "
          "of the busy error", no_busy_check, breaks=("LIVE-CHAT-008",),
          may=("LIVE-CHAT-007",)),
    # IM push
    Fault("push-bind-not-subscribed", "bind answers session_bound but only a send subscribes "
          "the socket to pushes for the session", push_bind_not_subscribed,
          breaks=("LIVE-CHAT-009",)),
    Fault("push-once", "a bound subscription is a one-shot waiter: only the first push reaches "
          "the socket", push_once, breaks=("LIVE-CHAT-009",)),
    Fault("push-last-socket", "a session keeps one subscriber: a second socket binding it "
          "takes the pushes away from the first", push_last_socket,
          breaks=("LIVE-CHAT-009",)),
    Fault("push-umo-prefix-kept", "a push whose umo names the session as "
          "`webchat!<user>!<id>` is delivered to the session of that whole name, not `<id>`",
          push_umo_prefix_kept, breaks=("LIVE-CHAT-009",)),
    Fault("push-every-user-socket", "a push to a session is fanned out to every bound socket "
          "of the same user, whatever session it bound", push_every_user_socket,
          breaks=("LIVE-CHAT-011",)),
    # /api/v1/chat/ws
    Fault("chatws-pong-with-t", "ping is answered with the Live API envelope `{\"t\":\"pong\"}`",
          pong_with_t, breaks=("V1-CHATWS-001",), may=("V1-CHATWS-005", "V1-CHATWS-006")),
    Fault("chatws-session-id-only-when-new", "the session_id frame is sent only when the server "
          "created the session, not when the client named one", session_id_only_when_new,
          breaks=("V1-CHATWS-002",)),
    Fault("chatws-plain-not-streaming", "plain frames carry `streaming: false` (a struct field "
          "left at its zero value)",
          plain_not_streaming_ws, breaks=("V1-CHATWS-002",), may=("V1-CHATWS-005",)),
    Fault("chatws-username-invalid-message", "a missing username gets code INVALID_MESSAGE "
          "(the generic code, no mapping to BAD_USER)", username_invalid_message,
          breaks=("V1-CHATWS-004",)),
    Fault("chatws-blank-username-accepted", "only an absent username is refused; a blank one "
          "is served", blank_username_accepted, breaks=("V1-CHATWS-004",)),
    Fault("chatws-errors-with-ct", "/api/v1/chat/ws error frames carry `ct: chat` (the chat-mode "
          "error helper reused)", errors_with_ct, breaks=("V1-CHATWS-005",)),
    Fault("chatws-message-saved-with-ct", "the message_saved frame of /api/v1/chat/ws carries "
          "`ct: chat`", message_saved_with_ct, breaks=("V1-CHATWS-005",)),
    Fault("chatws-missing-key-no-frame", "without a key /api/v1/chat/ws closes 1008 without the "
          "error frame (the JWT paths' refusal reused)", missing_key_no_frame,
          breaks=("V1-CHATWS-003",)),
    Fault("chatws-missing-key-close-1000", "without a key the error frame is followed by a "
          "normal close 1000 instead of 1008", missing_key_close_1000,
          breaks=("V1-CHATWS-003",)),
    Fault("chatws-revoked-key-accepted", "/api/v1/chat/ws finds keys by hash and forgets the "
          "revoked flag: a revoked key still opens it", revoked_key_accepted,
          breaks=("V1-CHATWS-007",)),
    # allowed variations
    Fault("chat-short-subscription-ids", "session_bound's subscription id is `ws_sub_` and 12 "
          "upper-case letters and digits, not 32 lower-case hex digits: the contract fixes "
          "only the prefix", uuid_subscription_ids, profiles=LIVE),
    Fault("chat-fine-chunks", "replies stream in smaller plain frames (a third of a delta "
          "each) on both chat sockets", fine_chunks, profiles=LIVE + V1),
    Fault("chatws-prefixed-session-ids", "/api/v1/chat/ws names new sessions `webchat-<hex>` "
          "instead of a bare uuid4", prefixed_session_ids, profiles=V1),
    Fault("push-extra-field", "pushed frames also carry the `session_id` they were pushed to "
          "(an extra optional field)", push_extra_field, profiles=LIVE),
]
