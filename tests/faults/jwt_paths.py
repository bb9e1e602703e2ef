"""Faults on the dashboard-JWT WebSocket paths (/api/live_chat/ws, /api/unified_chat/ws,
/api/v1/live-chat/ws, /api/v1/unified-chat/ws): a check skipped on one path only, a
credential that looks right but is not valid, a frame missing in voice turns on one path,
unified sockets routing `ct` wrongly, frames off-schema on one path (JWT-AUTH-*, JWT-LIVE-*,
JWT-UNI-*, JWT-FRAME-*), and allowed variations of the same area.

Most faults hit one path only: every handler is wrapped so the path of the connection being
served is known (`PATH`, a context variable the socket's tasks inherit) to the engine code a
fault changes."""

from __future__ import annotations

import asyncio
import contextvars
import json
import time

import jwt

from simulator import app as sim_app
from simulator.auth import AuthError
from simulator.live import ws as ws_mod
from simulator.live.engine import REPLYING, RUNNING, LiveSession
from simulator.live.frames import chat_error, live_error
from simulator.live.states import Lane, ProtocolError, State

from . import Fault, kit

V1_LIVE = "/api/v1/live-chat/ws"
LEGACY_LIVE = "/api/live_chat/ws"
V1_UNIFIED = "/api/v1/unified-chat/ws"
LEGACY_UNIFIED = "/api/unified_chat/ws"
JWT_PATHS = (V1_LIVE, LEGACY_LIVE, V1_UNIFIED, LEGACY_UNIFIED)
PROFILE = ("legacy-jwt-live",)

PATH: contextvars.ContextVar[str | None] = contextvars.ContextVar("jwt_fault_path",
                                                                  default=None)
_changes: list = []


def _install() -> None:
    """Once per process: every socket handler runs with PATH set to its path, and the changes
    faults registered (`change(sim, handlers)`) are applied to the handler table."""
    if _changes:
        return
    build = sim_app.make_live_handlers

    def make(sim):
        live = build(sim)
        for change in _changes[1:]:
            change(sim, live)
        for path, handler in list(live.items()):
            live[path] = _tagged(path, handler)
        return live

    _changes.append(None)  # marks the hook as installed
    sim_app.make_live_handlers = make


def _tagged(path: str, handler):
    async def tagged(request):
        PATH.set(path)  # this task and every task it spawns (turns, speech) see it
        return await handler(request)
    return tagged


def on(*paths: str) -> bool:
    return PATH.get() in paths


def handlers(change) -> None:
    """`change(sim, live)` edits the path -> handler table when the app is built."""
    _install()
    _changes.append(change)


def dashboard_socket(paths, authenticate, close_reason=None, delay: float = 0.0) -> None:
    """Serve `paths` with a dashboard handler whose authentication is `authenticate(sim,
    request) -> username` (raising ws.Refused to refuse: close 1008, no frame; any other
    exception: close 1011, as an unhandled error in a real server's handler)."""
    def change(sim, live):
        for path in paths:
            mode = "live" if "live" in path else None

            async def handler(request, mode=mode):
                ws = ws_mod.new_socket()
                await ws.prepare(request)
                try:
                    username = authenticate(sim, request)
                except ws_mod.Refused as refused:
                    await asyncio.sleep(delay)
                    reason = close_reason or refused.reason
                    await ws.close(code=1008, message=reason.encode("utf-8")[:120])
                    return ws
                except Exception:  # noqa: BLE001  (the fault: an error the path did not map)
                    await ws.close(code=1011)
                    return ws
                await ws_mod.run_session(ws, request, sim, sim.new_live_session(username, mode))
                return ws
            live[path] = handler
    handlers(change)


def jwt_username(sim, token: str | None) -> str:
    """The correct check (as the simulator's dashboard handler does it)."""
    if not token:
        raise ws_mod.Refused("Missing authentication token", None)
    try:
        return sim.auth.decode_jwt(token)
    except AuthError as exc:
        raise ws_mod.Refused(exc.message, None) from exc


def correct(sim, request) -> str:
    return jwt_username(sim, request.query.get("token"))


def on_paths(paths, check):
    """Authenticate with `check` on `paths`, correctly elsewhere."""
    def authenticate(sim, request):
        return check(sim, request) if on(*paths) else correct(sim, request)
    return authenticate


def live_handler(kind: str, fn) -> None:
    """Replace the engine's handler of the live client frame `kind`: fn(original, session,
    frame) -> effects (the engine dispatches through a table, so wrapping the method would
    not reach it)."""
    _install()
    original = LiveSession._LIVE_HANDLERS[kind]
    LiveSession._LIVE_HANDLERS[kind] = lambda self, frame: fn(original, self, frame)


def track_voice_turns() -> None:
    """Sessions learn whether their current turn came from speech (`_fault_voice`)."""
    def end_speaking(original, self, frame):
        effects = original(self, frame)
        if self.turn_state is State.TRANSCRIBING:
            self._fault_voice = True
        return effects

    def text_input(original, self, frame):
        effects = original(self, frame)
        if any(kit.sent([e], "user_msg") for e in effects):
            self._fault_voice = False
        return effects
    live_handler("end_speaking", end_speaking)
    live_handler("text_input", text_input)


def voice(session) -> bool:
    return getattr(session, "_fault_voice", False)


def rewrite_frames(paths, fn) -> None:
    """On `paths`, every frame the engine sends goes through fn(session, method, frame) ->
    frame or None (dropped)."""
    _install()

    def rewrite(session, method, effects):
        if not on(*paths):
            return effects
        out = []
        for effect in effects:
            if isinstance(effect, kit.Send):
                frame = fn(session, method, dict(effect.frame))
                if frame is not None:
                    out.append(kit.Send(frame))
            else:
                out.append(effect)
        return out
    kit.frames(rewrite)


# --- authentication ---------------------------------------------------------------------------

def legacy_live_guest() -> None:
    def check(sim, request):
        token = request.query.get("token")
        return "guest" if not token else jwt_username(sim, token)
    dashboard_socket(JWT_PATHS, on_paths((LEGACY_LIVE,), check))


def v1_unified_missing_token_4001() -> None:
    def change(sim, live):
        original = live[V1_UNIFIED]

        async def handler(request):
            if request.query.get("token"):
                return await original(request)
            ws = ws_mod.new_socket()
            await ws.prepare(request)
            await ws.close(code=4001, message=b"Missing authentication token")
            return ws
        live[V1_UNIFIED] = handler
    handlers(change)


def legacy_unified_decode_error_1011() -> None:
    def check(sim, request):
        token = request.query.get("token")
        if not token:
            raise ws_mod.Refused("Missing authentication token", None)
        try:  # only the errors of a well-formed token are mapped; a DecodeError escapes
            payload = jwt.decode(token, sim.auth.secret, algorithms=["HS256"])
        except (jwt.ExpiredSignatureError, jwt.InvalidSignatureError) as exc:
            raise ws_mod.Refused("Invalid token", None) from exc
        return payload["username"]
    dashboard_socket(JWT_PATHS, on_paths((LEGACY_UNIFIED,), check))


def v1_live_signature_unchecked() -> None:
    def check(sim, request):
        token = request.query.get("token")
        if not token:
            raise ws_mod.Refused("Missing authentication token", None)
        try:
            payload = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise ws_mod.Refused("Invalid token", None) from exc
        if not isinstance(payload.get("username"), str) or not payload["username"]:
            raise ws_mod.Refused("Invalid token", None)
        return payload["username"]
    dashboard_socket(JWT_PATHS, on_paths((V1_LIVE,), check))


def legacy_unified_alg_none() -> None:
    def check(sim, request):
        token = request.query.get("token") or ""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            header = {}
        if str(header.get("alg", "")).lower() == "none":  # "unsigned tokens are dev tokens"
            payload = jwt.decode(token, options={"verify_signature": False})
            if isinstance(payload.get("username"), str) and payload["username"]:
                return payload["username"]
        return jwt_username(sim, token)
    dashboard_socket(JWT_PATHS, on_paths((LEGACY_UNIFIED,), check))


def v1_live_key_in_token() -> None:
    def check(sim, request):
        token = request.query.get("token") or ""
        if token.startswith("abk_"):  # seed 004 gives the path the `chat` scope: keys too
            try:
                return sim.auth.key_principal(token).username  # ... but no scope check
            except AuthError as exc:
                raise ws_mod.Refused(exc.message, None) from exc
        return jwt_username(sim, token)
    dashboard_socket(JWT_PATHS, on_paths((V1_LIVE,), check))


def v1_unified_header_key_unscoped() -> None:
    def check(sim, request):
        key = request.headers.get("X-API-Key")
        if not request.query.get("token") and key:
            try:
                return sim.auth.key_principal(key).username  # the scope check was forgotten
            except AuthError as exc:
                raise ws_mod.Refused(exc.message, None) from exc
        return correct(sim, request)
    dashboard_socket(JWT_PATHS, on_paths((V1_UNIFIED,), check))


# --- live mode after authentication ----------------------------------------------------------

def legacy_live_voice_no_user_msg() -> None:
    rewrite_frames((LEGACY_LIVE,), lambda session, method, frame:
                   None if method == "transcribed" and frame.get("t") == "user_msg" else frame)


def v1_unified_voice_no_end() -> None:
    track_voice_turns()
    rewrite_frames((V1_UNIFIED,), lambda session, method, frame:
                   None if voice(session) and frame.get("t") == "end" and "ct" not in frame
                   else frame)


def legacy_live_text_input_message_only() -> None:
    def text_input(original, self, frame):
        if on(LEGACY_LIVE):
            frame = {k: v for k, v in frame.items() if k != "text"}
        return original(self, frame)
    live_handler("text_input", text_input)


def v1_live_voice_no_assemble_metrics() -> None:
    rewrite_frames((V1_LIVE,), lambda session, method, frame:
                   None if frame.get("t") == "metrics" and "wav_assemble_time"
                   in (frame.get("data") or {}) else frame)


def legacy_unified_reply_no_end() -> None:
    rewrite_frames((LEGACY_UNIFIED,), lambda session, method, frame:
                   None if frame.get("ct") == "chat" and frame.get("type") in ("complete", "end")
                   else frame)


def legacy_unified_no_text_input() -> None:
    def text_input(original, self, frame):
        if on(LEGACY_UNIFIED):
            return [kit.Send(live_error("Unsupported message type: text_input"))]
        return original(self, frame)
    live_handler("text_input", text_input)


def v1_live_audio_not_busy() -> None:
    def end_speaking(original, self, frame):
        if on(V1_LIVE) and self.turn_state in RUNNING:
            if self.mic_state is State.LISTENING:
                self._end_capture()  # the second utterance is dropped without a word
            return []
        return original(self, frame)
    live_handler("end_speaking", end_speaking)


def v1_live_voice_interrupt_ignored() -> None:
    track_voice_turns()

    def interrupt(original, self, frame):
        if on(V1_LIVE) and voice(self):
            return []
        return original(self, frame)
    live_handler("interrupt", interrupt)


def v1_live_busy_without_code() -> None:
    rewrite_frames((V1_LIVE,), lambda session, method, frame:
                   {"t": "error", "data": frame["data"]} if frame.get("code") == "PROCESSING_ERROR"
                   and frame.get("data") == "Session is busy" else frame)


def v1_live_stop_play_turn_goes_on() -> None:
    track_voice_turns()

    def interrupt(original, self, frame):
        if on(V1_LIVE) and voice(self) and self.turn_state in REPLYING:
            return [kit.Send({"t": "stop_play"})]  # the player stops; the LLM task is not cancelled
        return original(self, frame)
    live_handler("interrupt", interrupt)


def v1_live_voice_no_deltas() -> None:
    track_voice_turns()
    rewrite_frames((V1_LIVE,), lambda session, method, frame:
                   None if voice(session) and frame.get("t") == "bot_delta_chunk" else frame)


def v1_live_voice_metrics_text() -> None:
    def fix(session, method, frame):
        data = frame.get("data")
        if frame.get("t") == "metrics" and isinstance(data, dict) and "input_type" in data:
            frame["data"] = {**data, "input_type": "text"}
        return frame
    rewrite_frames((V1_LIVE,), fix)


# --- unified sockets ------------------------------------------------------------------------

def v1_unified_ct_ignored() -> None:
    _install()

    @kit.wrap(sim_app.Simulator, "new_live_session")
    def new(original, self, username, mode):
        return original(self, username, "live" if on(V1_UNIFIED) and mode is None else mode)


def v1_unified_interrupt_not_cancelled() -> None:
    """On /api/v1/unified-chat/ws only, a chat interrupt is acknowledged but the running reply
    runs on (the Open API endpoint cancels it)."""
    _install()

    @kit.wrap(LiveSession, "_chat_interrupt")
    def interrupt(original, self):
        if on(V1_UNIFIED) and self.chat_turn is not None:
            return [kit.Send(chat_error("INTERRUPTED", "INTERRUPTED"))]
        return original(self)


def legacy_unified_no_busy_check() -> None:
    """On /api/unified_chat/ws only, a send during a reply starts a second reply instead of
    the busy error."""
    _install()

    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        if on(LEGACY_UNIFIED):
            self.machine.states[Lane.CHAT], self.chat_turn = State.IDLE, None
        return original(self, frame)


def legacy_unified_mode_latches() -> None:
    _install()

    @kit.wrap(LiveSession, "receive_text")
    def receive(original, self, raw):
        if on(LEGACY_UNIFIED) and self.mode is None:
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            if isinstance(frame, dict):
                self.mode = "chat" if frame.get("ct") == "chat" else "live"
        return original(self, raw)


def legacy_unified_string_as_parts() -> None:
    _install()

    @kit.wrap(LiveSession, "_send")
    def send(original, self, frame):
        if on(LEGACY_UNIFIED) and isinstance(frame.get("message"), str):
            frame = {**frame, "message": list(frame["message"])}  # a str is iterable too
        return original(self, frame)


def v1_unified_reply_not_streamed() -> None:
    rewrite_frames((V1_UNIFIED,), lambda session, method, frame:
                   None if frame.get("ct") == "chat" and frame.get("type") == "plain"
                   and method == "llm_delta" else frame)


# --- frames off the contract ---------------------------------------------------------------

def v1_live_user_msg_ts_seconds() -> None:
    def fix(session, method, frame):
        if frame.get("t") == "user_msg" and isinstance(frame.get("data"), dict):
            frame["data"] = {**frame["data"], "ts": time.time()}
        return frame
    rewrite_frames((V1_LIVE,), fix)


def legacy_unified_live_frames_tagged() -> None:
    rewrite_frames((LEGACY_UNIFIED,), lambda session, method, frame:
                   frame if "ct" in frame else {"ct": "live", **frame})


def legacy_live_greeting() -> None:
    _install()
    original = ws_mod.run_session

    async def run_session(ws, request, sim, session):
        if on(LEGACY_LIVE):
            await ws.send_str(json.dumps({"t": "connected", "data": {
                "username": session.username, "session_id": session.live_session_id}}))
        return await original(ws, request, sim, session)
    ws_mod.run_session = run_session


def v1_unified_message_id_int() -> None:
    _install()
    ids: dict[str, int] = {}

    def fix(session, method, frame):
        if frame.get("ct") == "chat" and isinstance(frame.get("message_id"), str) \
                and frame.get("type") != "session_bound":
            frame["message_id"] = ids.setdefault(frame["message_id"], len(ids) + 1)
        return frame
    rewrite_frames((V1_UNIFIED,), fix)


# --- allowed variations --------------------------------------------------------------------

def refusal_reason_unauthorized() -> None:
    dashboard_socket(JWT_PATHS, correct, close_reason="Unauthorized")


def slow_refusal() -> None:
    dashboard_socket(JWT_PATHS, correct, delay=1.5)


def bearer_jwt_too() -> None:
    def check(sim, request):
        token = request.query.get("token")
        auth = request.headers.get("Authorization", "")
        if not token and auth.startswith("Bearer "):
            token = auth[len("Bearer "):].strip()
            try:
                return sim.auth.decode_jwt(token)
            except AuthError as exc:
                raise ws_mod.Refused(exc.message, None) from exc
        return jwt_username(sim, token)
    dashboard_socket(JWT_PATHS, check)


def metrics_carry_session() -> None:
    def fix(session, method, frame):
        if frame.get("t") == "metrics" and isinstance(frame.get("data"), dict):
            frame["data"] = {**frame["data"], "session_id": session.live_session_id}
        return frame
    rewrite_frames(JWT_PATHS, fix)


def chat_frames_carry_session() -> None:
    def fix(session, method, frame):
        if frame.get("ct") == "chat" and frame.get("type") in ("plain", "complete", "end"):
            frame.setdefault("session_id", session.chat_turn.session_id
                             if session.chat_turn is not None else session.live_session_id)
        return frame
    rewrite_frames((V1_UNIFIED, LEGACY_UNIFIED), fix)


def chat_errors_name_the_request() -> None:
    """Chat errors answering a `send` carry that send's `message_id` (AstrBot 4.29.3)."""
    @kit.wrap(LiveSession, "receive_text")
    def receive(original, self, raw):
        try:
            effects = original(self, raw)
        except ProtocolError as refused:  # the busy error too, as the adapter sends it
            effects = [kit.Send(refused.frame)]
        try:
            frame = json.loads(raw)
        except ValueError:
            return effects
        if not isinstance(frame, dict) or not isinstance(frame.get("message_id"), str):
            return effects
        return [kit.Send({**e.frame, "message_id": frame["message_id"]})
                if isinstance(e, kit.Send) and e.frame.get("ct") == "chat"
                and e.frame.get("t") == "error" else e for e in effects]


FAULTS = [
    # authentication, one path at a time
    Fault("jwt-legacy-live-no-token-guest", "/api/live_chat/ws opens a session as `guest` when "
          "no token is given (the legacy dashboard's dev-mode fallback kept on one path)",
          legacy_live_guest, breaks=("JWT-AUTH-001",)),
    Fault("jwt-v1-unified-missing-token-4001", "/api/v1/unified-chat/ws closes a connection "
          "without token with the app-defined code 4001 instead of 1008 (its own "
          "'unauthorized' code, the invalid-token path kept 1008)",
          v1_unified_missing_token_4001, breaks=("JWT-AUTH-001",),
          may=("JWT-AUTH-003",)),  # a key alone is a missing token there too
    Fault("jwt-legacy-unified-garbage-1011", "/api/unified_chat/ws maps only the errors of a "
          "well-formed JWT (expired, bad signature) to 1008: a token that is not a JWT at all "
          "raises and closes 1011", legacy_unified_decode_error_1011, breaks=("JWT-AUTH-002",)),
    Fault("jwt-v1-live-signature-unchecked", "/api/v1/live-chat/ws reads the username from the "
          "JWT without verifying its signature ('we only need the name'): a token signed with "
          "any secret opens a session", v1_live_signature_unchecked, breaks=("JWT-AUTH-002",)),
    Fault("jwt-legacy-unified-alg-none", "/api/unified_chat/ws takes an unsigned JWT (alg "
          "none) as valid, the classic JWT-library pitfall", legacy_unified_alg_none,
          breaks=("JWT-AUTH-002",)),
    Fault("jwt-v1-live-key-in-token-unscoped", "/api/v1/live-chat/ws also takes an API key in "
          "`token` (seed 004 gives it the chat scope) but never checks the key's scopes",
          v1_live_key_in_token, breaks=("JWT-AUTH-003",)),
    Fault("jwt-v1-unified-header-key-unscoped", "/api/v1/unified-chat/ws falls back to an "
          "X-API-Key header when there is no token, without the chat scope check",
          v1_unified_header_key_unscoped, breaks=("JWT-AUTH-003",)),
    # live mode after authentication
    Fault("jwt-legacy-live-voice-no-user-msg", "/api/live_chat/ws sends no user_msg in voice "
          "turns (the legacy adapter only echoed typed text)", legacy_live_voice_no_user_msg,
          breaks=("JWT-LIVE-001",)),
    Fault("jwt-v1-unified-voice-no-end", "/api/v1/unified-chat/ws ends a voice turn without "
          "`end` (its router took `end` for a chat frame and dropped it in live mode)",
          v1_unified_voice_no_end, breaks=("JWT-LIVE-001", "JWT-UNI-001"),
          may=("JWT-FRAME-001", "JWT-FRAME-002")),  # their voice turn never ends there either
    Fault("jwt-legacy-live-text-input-message-only", "/api/live_chat/ws reads a text_input's "
          "text from the old `message` field only: `text` is refused as empty",
          legacy_live_text_input_message_only, breaks=("JWT-LIVE-002",)),
    Fault("jwt-v1-live-voice-no-assemble-metrics", "/api/v1/live-chat/ws skips the "
          "audio-assembly metrics frame, the one carrying input_type audio",
          v1_live_voice_no_assemble_metrics, breaks=("JWT-LIVE-006",)),
    Fault("jwt-legacy-unified-reply-no-end", "/api/unified_chat/ws ends a chat reply with "
          "`message_saved`: neither `complete` nor `end` (seed 001's two ends of a turn) is "
          "sent", legacy_unified_reply_no_end,
          breaks=("JWT-UNI-002", "JWT-UNI-003"),
          may=("JWT-FRAME-001", "JWT-FRAME-002")),  # their chat reply never ends there either
    Fault("jwt-legacy-unified-no-text-input", "/api/unified_chat/ws routes only the voice "
          "frames to live mode: `text_input` gets 'Unsupported message type'",
          legacy_unified_no_text_input, breaks=("JWT-LIVE-002",)),
    Fault("jwt-v1-live-audio-not-busy", "/api/v1/live-chat/ws drops an utterance that ends "
          "while a turn runs, without the busy error", v1_live_audio_not_busy,
          breaks=("JWT-LIVE-003",)),
    Fault("jwt-v1-live-voice-interrupt-ignored", "/api/v1/live-chat/ws ignores an interrupt "
          "during a voice turn (its adapter only cancels turns started by text_input)",
          v1_live_voice_interrupt_ignored, breaks=("JWT-LIVE-004",)),
    Fault("jwt-v1-live-busy-without-code", "/api/v1/live-chat/ws sends the busy error "
          "without its `code` (that adapter builds its own error frame)",
          v1_live_busy_without_code, breaks=("JWT-LIVE-003",)),
    Fault("jwt-v1-live-stop-play-turn-goes-on", "/api/v1/live-chat/ws answers an interrupt in a "
          "voice turn with stop_play but never cancels the turn: its deltas and end follow",
          v1_live_stop_play_turn_goes_on, breaks=("JWT-LIVE-004",)),
    Fault("jwt-v1-live-voice-no-deltas", "/api/v1/live-chat/ws streams no bot_delta_chunk in "
          "voice turns (only the TTS chunks), text turns keep them", v1_live_voice_no_deltas,
          breaks=("JWT-LIVE-005",)),
    Fault("jwt-v1-live-metrics-input-text", "/api/v1/live-chat/ws reports input_type 'text' in "
          "the metrics of every turn (hard-coded in that adapter)", v1_live_voice_metrics_text,
          breaks=("JWT-LIVE-006",)),
    # unified sockets
    Fault("jwt-v1-unified-ct-ignored", "/api/v1/unified-chat/ws is wired like the live path: "
          "`ct` is never read, chat frames get the live 'Unsupported message type' error",
          v1_unified_ct_ignored, breaks=("JWT-UNI-001", "JWT-UNI-002", "JWT-UNI-003"),
          may=("JWT-FRAME-002", "JWT-UNI-004", "JWT-UNI-005")),
    Fault("jwt-v1-unified-interrupt-not-cancelled", "on /api/v1/unified-chat/ws a chat "
          "interrupt is acknowledged (INTERRUPTED) but the running reply runs to its end; the "
          "Open API endpoint cancels it", v1_unified_interrupt_not_cancelled,
          breaks=("JWT-UNI-004",)),
    Fault("jwt-legacy-unified-no-busy-check", "on /api/unified_chat/ws a send during a running "
          "reply starts a second reply beside it instead of the busy error (as AstrBot 4.29.3 "
          "runs chat sends concurrently)", legacy_unified_no_busy_check,
          breaks=("JWT-UNI-005",), may=("JWT-UNI-004",)),
    Fault("jwt-legacy-unified-mode-latches", "/api/unified_chat/ws picks its mode from the "
          "first frame's `ct` and keeps it: after a chat bind, a voice frame is chat",
          legacy_unified_mode_latches, breaks=("JWT-UNI-001",)),
    Fault("jwt-legacy-unified-string-as-parts", "/api/unified_chat/ws iterates a string "
          "`message` as a part list (its characters): the send is refused as empty",
          legacy_unified_string_as_parts, breaks=("JWT-UNI-003",)),
    Fault("jwt-v1-unified-reply-not-streamed", "/api/v1/unified-chat/ws buffers the chat reply: "
          "no streamed `plain` frames, only `complete` and `end`",
          v1_unified_reply_not_streamed, breaks=("JWT-UNI-002", "JWT-UNI-003"),
          may=("JWT-UNI-004", "JWT-UNI-005")),
    # frames off the contract
    Fault("jwt-v1-live-user-msg-ts-seconds", "/api/v1/live-chat/ws stamps user_msg with float "
          "epoch seconds instead of integer milliseconds", v1_live_user_msg_ts_seconds,
          breaks=("JWT-FRAME-001",)),
    Fault("jwt-legacy-unified-live-frames-tagged", "/api/unified_chat/ws tags its live frames "
          "with `ct: live` for routing, a field the live frame schemas do not have",
          legacy_unified_live_frames_tagged, breaks=("JWT-FRAME-001",)),
    Fault("jwt-legacy-live-greeting", "/api/live_chat/ws greets each connection with a "
          "`connected` frame the contract does not define", legacy_live_greeting,
          breaks=("JWT-FRAME-002",), may=("JWT-FRAME-001",)),
    Fault("jwt-v1-unified-message-id-int", "/api/v1/unified-chat/ws numbers its chat reply "
          "frames with an integer message_id (a counter) instead of the string id",
          v1_unified_message_id_int, breaks=("JWT-FRAME-001",)),
    # allowed variations
    Fault("jwt-refusal-reason-unauthorized", "the JWT paths refuse with 1008 and the reason "
          "'Unauthorized' instead of the seed's texts (the code is the contract)",
          refusal_reason_unauthorized, profiles=PROFILE),
    Fault("jwt-slow-refusal", "the JWT paths take 1.5 s to refuse a credential (a database "
          "lookup first), then close 1008", slow_refusal, profiles=PROFILE),
    Fault("jwt-bearer-too", "the JWT paths also take the dashboard JWT from an Authorization: "
          "Bearer header when `token` is absent", bearer_jwt_too, profiles=PROFILE),
    Fault("jwt-metrics-carry-session", "metrics frames on the JWT paths carry an extra "
          "`session_id` (metrics data is open to other keys)", metrics_carry_session,
          profiles=PROFILE),
    Fault("jwt-chat-errors-carry-message-id", "chat errors answering a `send` carry its "
          "`message_id` (a field seed 001 lets chat frames carry; AstrBot 4.29.3 does this)",
          chat_errors_name_the_request, profiles=("live-api", "legacy-jwt-live")),
    Fault("jwt-unified-chat-frames-session-id", "chat reply frames on the unified paths also "
          "carry their `session_id` (an optional field of forwarded frames)",
          chat_frames_carry_session, profiles=PROFILE),
]
