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
(`SaveMessage`, `SaveTurn`) are done at once against `sim.history`, a frame announcing the
saved message queued in the effect's place; an event the engine's transition table refuses
(`states.ProtocolError`) is answered with the error frame it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
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
from .states import ProtocolError

log = logging.getLogger("astrbot_sim.live")
POLICY_VIOLATION = 1008
TRANSPORT_MAX_MSG = 16 * 1024 * 1024  # beyond this aiohttp closes with 1009 (message too big)
WRITE_HIGH_WATER = 1024 * 1024  # bytes buffered for a slow reader before the writer waits
DROP = object()  # in the outbox: close the connection without a close frame (a fault)
KEPT_PLANS = 8  # per-turn plans remembered per connection (turns overlap on unified sockets)
BYTES_PER_AUDIO_SECOND = 2 * speech.SAMPLE_RATE


def text_frame(payload: str) -> bytes:
    """One final, unmasked server text frame (RFC 6455 section 5.2)."""
    data = payload.encode("utf-8")
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + data
    return struct.pack("!BBQ", 0x81, 127, n) + data


def frame_json(frame: dict) -> str:
    """A frame as compact JSON. A `response` frame is spelt out directly: its data is Base64
    (nothing in it needs escaping) and is most of the bytes of a turn, so running it through
    the JSON encoder was the simulator's largest single cost under load."""
    if frame.get("t") == "response" and len(frame) == 2 and isinstance(frame.get("data"), str):
        data = frame["data"]
        if data.isascii() and data.isprintable() and '"' not in data and "\\" not in data:
            return '{"t":"response","data":"' + data + '"}'
    return dumps(frame)


def new_socket() -> web.WebSocketResponse:
    return web.WebSocketResponse(max_msg_size=TRANSPORT_MAX_MSG, compress=False)


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
            await run_session(ws, request, sim, session)
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
        return ChatSocket(chat_key_owner(request), sim.history)

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
    outbox: asyncio.Queue = asyncio.Queue()
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

    def spawn(turn_id: int, coro) -> None:
        task = asyncio.create_task(coro)
        running = tasks.setdefault(turn_id, set())
        running.add(task)
        task.add_done_callback(running.discard)

    def handle(method, *args) -> list:
        """Call an engine method; a refused event (ProtocolError) becomes its error frame."""
        try:
            return method(*args)
        except ProtocolError as refused:
            log.debug("refused: %s", refused)
            return [Send(refused.frame)]

    def apply(effects) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                outbox.put_nowait(effect.frame)
            elif isinstance(effect, (SaveMessage, SaveTurn)):
                announced = write_history(sim.history, effect)
                if announced is not None:
                    outbox.put_nowait(announced)
            elif isinstance(effect, StartTurn):
                channel = "chat" if effect.chat else "text"
                spawn(effect.turn, run_turn(effect.turn, effect.text, plan(effect.turn, channel)))
            elif isinstance(effect, Speak):
                speak(effect)
            elif isinstance(effect, Transcribe):
                spawn(effect.turn, run_stt(effect, plan(effect.turn, "audio")))
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
                spawn(effect.turn, run_tts(effect, seconds, failing))
                return
            effect = spoken(effect, failing)

    def spoken(effect: Speak, failing: bool) -> Speak | None:
        """Hand one sentence's audio (or its failure) to the engine; the next sentence to
        synthesize, if the engine asks for one."""
        if failing:
            apply(handle(session.speak_failed, effect.turn, "simulated text-to-speech failure"))
            return None
        effects = handle(session.spoken, effect.turn, speech.synthesize(effect.text))
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
                    outbox.put_nowait(DROP)
                    return
                apply(handle(session.llm_delta, turn_id, delta))
                sent += 1
            if drop_after is not None:
                outbox.put_nowait(DROP)
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

    async def writer() -> None:
        transport = request.transport
        while transport is not None and not transport.is_closing():
            item = await outbox.get()
            batch = [] if item is DROP else [text_frame(frame_json(item))]
            while item is not DROP and not outbox.empty():
                item = outbox.get_nowait()
                if item is not DROP:
                    batch.append(text_frame(frame_json(item)))
            transport.write(b"".join(batch))
            if item is DROP:
                transport.close()  # what was written goes out first; no close frame follows
                return
            while transport.get_write_buffer_size() > WRITE_HIGH_WATER \
                    and not transport.is_closing():
                await asyncio.sleep(0.005)

    writer_task = asyncio.create_task(writer())
    try:
        async for msg in ws:
            sim.clients.frame(request, session, msg)  # client mode grades it (no-op when off)
            if msg.type is WSMsgType.TEXT:
                apply(handle(session.receive_text, msg.data))
            elif msg.type is WSMsgType.BINARY:
                apply(handle(session.receive_bytes, msg.data))
            elif msg.type is WSMsgType.ERROR:
                break
            if writer_task.done():
                break  # the peer stopped reading: nothing more can be delivered
    finally:
        sim.clients.closed(session)
        sim.hub.unsubscribe_all(id(session))
        apply(handle(session.disconnected))
        for running in list(tasks.values()):
            for task in list(running):
                task.cancel()
        writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await writer_task
