"""aiohttp adapter for the Live API engine: authenticate the handshake, then move frames.

Endpoints (seed 001 "Endpoint" and "Authentication"; seed 000 `live_ws` for the Open API one):
- `/api/v1/live/ws?api_key=...&username=...[&ct=live|chat]`: API key (query `api_key`/`key`,
  `X-API-Key`, or `Authorization: Bearer|ApiKey`) with the `chat` scope. Failures are sent as
  one error frame `{"type":"error","code":...,"data":...}` and then close 1008 with the reason.
- `/api/v1/live-chat/ws`, `/api/live_chat/ws` (live forced) and `/api/v1/unified-chat/ws`,
  `/api/unified_chat/ws` (ct per frame): dashboard JWT in `token`; failures close 1008.

Every frame the engine decides to send goes through one outbox drained by one writer task, in
the order the engine produced them: a `response` decided before an interrupt can never be
overtaken by, or slip in after, the `stop_play` that the interrupt produced. The writer sends
everything queued at once as one write of ready-made text frames (RFC 6455, unmasked, no
extensions: the socket is opened with compression off), a socket call per batch instead of per
frame, and waits when the peer reads slower than the server writes.

The adapter also carries out the engine's slow effects with the timing model
(`backends/timing.py`): the LLM stream (`StartTurn`), speech-to-text (`Transcribe`) and
text-to-speech (`Speak`, at once when the model gives it no time), each turn with its own
seeded jitter and the fault armed for it, if any (`faults.py`). While they wait, the reader
keeps reading: a frame that arrives during a turn is handled during it. History writes
(`SaveMessage`, `SaveTurn`) are done at once against `sim.history` (a live turn is queued and
group-committed, at the latest before the writer's next socket write), a frame announcing the
saved message queued in the effect's place; an event the engine's transition table refuses
(`states.ProtocolError`) is answered with the error frame it carries.

Hostile input (issue 15). After the upgrade no HTTP byte is ever written into the stream:
- an unexpected exception while handling a frame or an event (`contain`) is answered with the
  mode's processing error (live `{"t":"error","code":"PROCESSING_ERROR"}`, chat the same with
  `ct: chat`, /api/v1/chat/ws `{"type":"error","code":"PROCESSING_ERROR"}`); in a turn's slow
  work it ends the turn as that step's failure; one that escapes the session is logged and
  closes with 1011 "internal error" (`unrecoverable`);
- frames the engines cannot read (not JSON, nested deeper than 64, not an object, binary,
  longer than `max_frame_bytes`, 4 Mi characters) get the mode's error frame (`inbound.py`,
  lone surrogates become U+FFFD); over `TRANSPORT_MAX_MSG` (16 MiB) aiohttp ends the
  connection (1009);
- a client that stops reading is closed with 1008 "client is not reading" (`outbox.py`,
  `--ws-outbox-bytes`); a client that sends no frame (pings count) for `--ws-idle-timeout`
  seconds (default 300, 0 = never) is closed with 1001 "idle timeout: ...".
Bounds per connection: /api/v1/chat/ws queues at most `--ws-max-queued` sends behind the
running reply (default 8; one more gets PROCESSING_ERROR and makes no session row); a chat-mode
socket binds at most 64 sessions (then the chat error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from ..auth import AuthError
from ..backends import speech
from ..backends.llm import LLMFailure
from ..faults import Fault
from ..http.kernel.envelope import dumps
from . import frames
from .chat_ws import ChatSocket
from .effects import (
    CancelTurn,
    SaveMessage,
    SaveTurn,
    Send,
    Speak,
    StartTurn,
    Subscribe,
    Transcribe,
    write_history,
)
from .engine import LiveSession
from .outbox import (
    CLOSE_WAIT,
    DROP,
    NOT_READING,
    WRITE_HIGH_WATER,
    Outbox,
    frame_json,
    text_frame,
    write,
)
from .states import ProtocolError

# re-exported: fault modules and tests use them from here
__all__ = ["DROP", "WRITE_HIGH_WATER", "frame_json", "make_live_handlers", "new_socket",
           "run_session", "text_frame"]

log = logging.getLogger("astrbot_sim.live")
POLICY_VIOLATION = 1008
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
TRANSPORT_MAX_MSG = 16 * 1024 * 1024  # beyond this aiohttp closes with 1009 (message too big)
KEPT_PLANS = 8  # per-turn plans remembered per connection (turns overlap on unified sockets)
BYTES_PER_AUDIO_SECOND = 2 * speech.SAMPLE_RATE


def new_socket() -> web.WebSocketResponse:
    return web.WebSocketResponse(max_msg_size=TRANSPORT_MAX_MSG, compress=False)


def contain(session, exc: Exception) -> list:
    """An unexpected exception while handling a frame or an event (a simulator bug): logged,
    and answered with the mode's processing error frame; the connection stays open."""
    log.error("%s failed on a frame or an event; answered with an error frame",
              type(session).__name__, exc_info=exc)
    return [Send(session.internal_error())]


async def close(ws: web.WebSocketResponse, request: web.Request, code: int, reason: str,
                abort: bool = False) -> None:
    """Close with `code` and `reason`, bounded by CLOSE_WAIT; with `abort`, the TCP connection
    is then aborted even if the peer has not read what is buffered (a client not reading)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code=code, message=reason.encode("utf-8")[:123],
                                        drain=False), CLOSE_WAIT)
    transport = request.transport
    if abort and transport is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT
        while transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.1)
        transport.abort()


async def unrecoverable(ws: web.WebSocketResponse, request: web.Request,
                        exc: Exception) -> None:
    """An exception that escaped the session after the upgrade: logged, then close 1011. No
    HTTP response is ever written into the upgraded stream."""
    log.error("WebSocket session failed; closing with 1011", exc_info=exc)
    await close(ws, request, INTERNAL_ERROR, "internal error")


def _raw_api_key(request: web.Request) -> str | None:
    """The first carrier present: query `api_key`, query `key`, `X-API-Key`, then
    `Authorization: Bearer|ApiKey` (research AUTH-023; the seeds name api_key and Bearer)."""
    q, h = request.query, request.headers
    found = q.get("api_key") or q.get("key") or h.get("X-API-Key")
    if found:
        return found
    auth = h.get("Authorization", "")
    for prefix in ("Bearer ", "ApiKey "):
        if auth.startswith(prefix):
            return auth[len(prefix):].strip() or None
    return None


class Refused(Exception):
    """A handshake refusal: an error frame (when `code` is set), then close 1008 `reason`."""

    def __init__(self, message: str, code: str | None, reason: str | None = None):
        super().__init__(message)
        self.message, self.code, self.reason = message, code, reason or message


def make_live_handlers(sim) -> dict:
    def endpoint(open_session):
        """Accept the upgrade, then authenticate: seed 000 refuses with a frame and a close,
        not with an HTTP status."""
        async def handler(request: web.Request) -> web.StreamResponse:
            ws = new_socket()
            await ws.prepare(request)
            try:
                session = open_session(request)
            except Refused as refused:
                sim.clients.refused(request, refused)  # client mode (no-op when off)
                if refused.code is not None:
                    await ws.send_str(dumps(frames.ws_error(refused.message, refused.code)))
                await ws.close(code=POLICY_VIOLATION,
                               message=refused.reason.encode("utf-8")[:120])
                return ws
            except Exception as exc:  # noqa: BLE001 - never an HTTP 500 inside the stream
                await unrecoverable(ws, request, exc)
                return ws
            try:
                await run_session(ws, request, sim, session)
            except Exception as exc:  # noqa: BLE001 - never an HTTP 500 inside the stream
                await unrecoverable(ws, request, exc)
            return ws

        return handler

    def chat_key_owner(request: web.Request) -> str:
        raw_key = _raw_api_key(request)
        if not raw_key:
            raise Refused("Missing API key", "UNAUTHORIZED")
        try:
            principal = sim.auth.key_principal(raw_key)
        except AuthError as exc:
            raise Refused(exc.message, "UNAUTHORIZED") from exc
        if not principal.allows("chat"):
            raise Refused("Insufficient API key scope", "UNAUTHORIZED")
        return principal.username

    def open_api_live(request: web.Request) -> LiveSession:
        chat_key_owner(request)
        username = request.query.get("username")
        if username is None:
            raise Refused("Missing key: username", "BAD_USER")
        if not username.strip():
            raise Refused("username is empty", "BAD_USER")
        ct = (request.query.get("ct") or "").strip() or "live"
        if ct not in ("live", "chat"):
            raise Refused("ct must be 'live' or 'chat'", "INVALID_MESSAGE", reason="Invalid ct")
        return sim.new_live_session(username.strip(), mode=ct)

    def dashboard(mode: str | None):
        def open_session(request: web.Request) -> LiveSession:
            token = request.query.get("token")
            if not token:
                raise Refused("Missing authentication token", None)
            try:
                return sim.new_live_session(sim.auth.decode_jwt(token), mode=mode)
            except AuthError as exc:
                raise Refused(exc.message, None) from exc

        return open_session

    def open_chat(request: web.Request) -> ChatSocket:
        return ChatSocket(chat_key_owner(request), sim.history,
                          max_queued=sim.config.ws_max_queued,
                          max_frame_chars=sim.config.max_frame_bytes)

    return {
        "/api/v1/chat/ws": endpoint(open_chat),
        "/api/v1/live/ws": endpoint(open_api_live),
        "/api/v1/live-chat/ws": endpoint(dashboard("live")),
        "/api/live_chat/ws": endpoint(dashboard("live")),
        "/api/v1/unified-chat/ws": endpoint(dashboard(None)),
        "/api/unified_chat/ws": endpoint(dashboard(None)),
    }


@dataclass
class TurnPlan:
    """What the adapter decided for one turn when it started: its jitter and its fault."""

    rng: object
    fault: Fault | None


async def run_session(ws: web.WebSocketResponse, request: web.Request, sim,
                      session: LiveSession | ChatSocket) -> None:
    """Move frames between the socket and a protocol engine (either WebSocket protocol)."""
    config = sim.config
    outbox = Outbox(config.ws_outbox_bytes)
    tasks: dict[int, set[asyncio.Task]] = {}
    plans: OrderedDict[int, TurnPlan] = OrderedDict()
    timing = sim.timing
    username = session.username

    def plan(turn_id: int, channel: str) -> TurnPlan:
        found = plans.get(turn_id)
        if found is None:
            found = plans[turn_id] = TurnPlan(timing.rng(username, turn_id),
                                              sim.faults.take_turn(username, channel))
            if len(plans) > KEPT_PLANS:
                plans.popitem(last=False)
        return found

    def spawn(turn_id: int, coro, on_error) -> None:
        """Run a turn's slow work; an unexpected failure in it ends the turn as a failure of
        that step (`on_error`), so the turn never stays stuck."""
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:  # noqa: BLE001 - logged, the turn ends with an error
                log.error("a turn's %s failed", on_error.__name__, exc_info=exc)
                apply(handle(on_error, turn_id, "internal error"))

        task = asyncio.create_task(guarded())
        running = tasks.setdefault(turn_id, set())
        running.add(task)

        def done(finished: asyncio.Task) -> None:
            if finished.cancelled():
                coro.close()  # cancelled before it began: never awaited, and no warning says so
            running.discard(finished)
            if not running and tasks.get(turn_id) is running:
                del tasks[turn_id]
        task.add_done_callback(done)

    def handle(method, *args) -> list:
        """Call an engine method; a refused event (ProtocolError) becomes its error frame, any
        other exception the mode's processing error (`contain`)."""
        try:
            return method(*args)
        except ProtocolError as refused:
            log.debug("refused: %s", refused)
            return [Send(refused.frame)]
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the socket
            return contain(session, exc)

    def apply(effects) -> None:
        for effect in effects:
            try:
                carry_out(effect)
            except Exception as exc:  # noqa: BLE001 - e.g. the store refused a write
                for answer in contain(session, exc):
                    outbox.put(answer.frame)

    def carry_out(effect) -> None:
        if isinstance(effect, Send):
            outbox.put(effect.frame)
        elif isinstance(effect, (SaveMessage, SaveTurn)):
            announced = write_history(sim.history, effect)
            if announced is not None:
                outbox.put(announced)
        elif isinstance(effect, StartTurn):
            channel = "chat" if effect.chat else "text"
            spawn(effect.turn, run_turn(effect.turn, effect.text, plan(effect.turn, channel)),
                  session.llm_failed)
        elif isinstance(effect, Speak):
            speak(effect)
        elif isinstance(effect, Transcribe):
            spawn(effect.turn, run_stt(effect, plan(effect.turn, "audio")),
                  session.transcribe_failed)
        elif isinstance(effect, CancelTurn):
            current = asyncio.current_task()
            for task in tasks.pop(effect.turn, ()):
                if task is not current:
                    task.cancel()
        elif isinstance(effect, Subscribe):
            sid = effect.session_id
            sim.hub.subscribe(sid, id(session),
                              lambda text, sid=sid: apply(handle(session.pushed, sid, text)))

    def speak(effect: Speak | None) -> None:
        """Sentences the model gives no time are synthesized in this step, one after another
        (a loop, not recursion: a delta can complete hundreds of sentences)."""
        while effect is not None:
            turn_plan = plan(effect.turn, "text")
            seconds = timing.tts_seconds(effect.text, turn_plan.rng)
            failing = turn_plan.fault is not None and turn_plan.fault.kind == "tts_fail"
            if seconds > 0:
                spawn(effect.turn, run_tts(effect, seconds, failing), session.speak_failed)
                return
            effect = spoken(effect, failing)

    def spoken(effect: Speak, failing: bool) -> Speak | None:
        """Hand one sentence's audio (or its failure) to the engine; the next sentence to
        synthesize, if the engine asks for one."""
        if failing:
            apply(handle(session.speak_failed, effect.turn, "simulated text-to-speech failure"))
            return None
        try:
            audio = speech.synthesize(effect.text)
        except Exception as exc:  # noqa: BLE001 - the turn ends as a failed synthesis
            log.error("text-to-speech failed", exc_info=exc)
            apply(handle(session.speak_failed, effect.turn, "internal error"))
            return None
        effects = handle(session.spoken, effect.turn, audio)
        nxt = effects.pop() if effects and isinstance(effects[-1], Speak) else None
        apply(effects)
        return nxt

    async def run_turn(turn_id: int, text: str, turn_plan: TurnPlan) -> None:
        fault = turn_plan.fault
        drop_after = fault.after_deltas if fault is not None and fault.kind == "drop" else None
        try:
            sent = 0
            async for delta in sim.llm.stream(text, turn_plan.rng,
                                              fault.llm_overrides() if fault else None):
                if drop_after is not None and sent >= drop_after:
                    outbox.put(DROP)
                    return
                apply(handle(session.llm_delta, turn_id, delta))
                sent += 1
            if drop_after is not None:
                outbox.put(DROP)
                return
            apply(handle(session.llm_done, turn_id))
        except LLMFailure as exc:
            apply(handle(session.llm_failed, turn_id, str(exc)))

    async def run_stt(effect: Transcribe, turn_plan: TurnPlan) -> None:
        await asyncio.sleep(timing.stt_seconds(len(effect.pcm) / BYTES_PER_AUDIO_SECOND,
                                               turn_plan.rng))
        if turn_plan.fault is not None and turn_plan.fault.kind == "stt_fail":
            apply(handle(session.transcribe_failed, effect.turn,
                         "simulated speech-to-text failure"))
        else:
            apply(handle(session.transcribed, effect.turn, speech.transcribe(effect.pcm)))

    async def run_tts(effect: Speak, seconds: float, failing: bool) -> None:
        await asyncio.sleep(seconds)
        speak(spoken(effect, failing))

    closing: list[asyncio.Task] = []

    def writer_done(task: asyncio.Task) -> None:
        """The writer stopped: a client not reading is closed with 1008, a writer that failed
        with 1011 (logged); both wake the reader, which then ends the session."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("the frame writer failed; closing with 1011", exc_info=exc)
            closing.append(asyncio.create_task(
                close(ws, request, INTERNAL_ERROR, "internal error", abort=True)))
        elif task.result() == NOT_READING:
            log.info("closing a WebSocket of %s with 1008: %s", username, NOT_READING)
            closing.append(asyncio.create_task(
                close(ws, request, POLICY_VIOLATION, NOT_READING, abort=True)))

    writer_task = asyncio.create_task(write(outbox, request.transport, sim.history.flush))
    writer_task.add_done_callback(writer_done)
    idle = config.ws_idle_timeout or None
    try:
        while True:
            try:
                msg = await ws.receive(timeout=idle)
            except TimeoutError:
                await close(ws, request, GOING_AWAY, f"idle timeout: no frame for {idle:g} s")
                break
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
            sim.clients.frame(request, session, msg)  # client mode grades it (no-op when off)
            if msg.type is WSMsgType.TEXT:
                apply(handle(session.receive_text, msg.data))
            elif msg.type is WSMsgType.BINARY:
                apply(handle(session.receive_bytes, msg.data))
            elif msg.type is WSMsgType.ERROR:
                break  # aiohttp closed it: 1009 (too big), 1007 (not UTF-8), 1002 (protocol)
            if writer_task.done():
                break  # the peer stopped reading: nothing more can be delivered
    finally:
        sim.clients.closed(session)
        sim.hub.unsubscribe_all(id(session))
        apply(handle(session.disconnected))
        outbox.close()
        for running in list(tasks.values()):
            for task in list(running):
                task.cancel()
        writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await writer_task
        for task in closing:
            with contextlib.suppress(asyncio.CancelledError):
                await task
