"""Deliberately broken targets, to prove the suite reports what they break (and nothing it
did itself). Each is the real simulator with one behaviour replaced by a middleware, or a bare
server without the endpoint; run one as a process:

    python -m tests.broken_targets MODE --port P --data-dir D

Modes:
    no-live   the Live API WebSocket path answers 404 (the endpoint does not exist)
    closes    /api/v1/live/ws accepts the upgrade, then closes at once without a frame
    silent    /api/v1/live/ws accepts and never sends anything
    sequential  /api/v1/live/ws reads one frame at a time and runs each turn to its end before
              reading the next frame, as real AstrBot 4.26.2 does (research LIVE-004): busy
              inputs are queued and interrupts arrive too late
    bare      an HTTP server that answers 404 to everything (not AstrBot at all)
    no-scope  the simulator, except that GET /api/v1/personas skips authentication entirely
    wrong-type  GET /api/v1/bot-types answers its envelope with `message` as a number
    negative-500  GET /api/v1/chat/sessions crashes (500) on a page number below 1
    extra-field  POST /api/v1/chat/projects accepts fields the ChatProjectRequest schema forbids
    odd-frame  every accepted chat-mode `send` (Live API and unified sockets) is also answered
              with a frame of a type the contract does not define, `run_started`
    odd-event  every POST /api/v1/chat stream carries an SSE event of a type the contract does
              not define, `run_started`, right after `session_id`
    undocumented-error  GET /api/v1/conversations answers invalid input with FastAPI's 422
              `{"detail": ...}` instead of the error envelope (research DIFF-014)
    page-unbounded  GET /api/v1/chat/sessions takes any page and page_size, clamping them, as
              real AstrBot 4.26.2 does (research DIFF-018)
    im-extra-field  POST /api/v1/im/messages accepts fields ImMessageRequest forbids, as real
              AstrBot 4.26.2 does (research DIFF-024)

Targets that stop answering (tests/test_unanswering.py), each on one family only, every GET
under /api/v1/personas and every Live API WebSocket connection the simulator would accept (a
refused handshake is still refused, the rest of the simulator answers as usual):
    hang      accepts and never answers (HTTP: no status line; WebSocket: no frame)
    slow      answers after --slow-s seconds (HTTP: the whole answer; WebSocket: the upgrade)
    garbage   answers what is not the protocol: GET /api/v1/personas raw non-HTTP bytes,
              GET /api/v1/personas/tree a body cut short of its Content-Length, the other
              GETs a status line and half a header, then a close; a live-mode WebSocket
              non-JSON text for every frame, a chat-mode one (`ct=chat`) an invalid frame
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web
from jsonschema import Draft202012Validator

from simulator.app import SIM, create_app
from simulator.auth import AuthError
from simulator.backends import speech
from simulator.backends.llm import LLMFailure
from simulator.config import SimConfig
from simulator.http.kernel import sse, validation
from simulator.http.kernel.envelope import ApiError, dumps
from simulator.live import engine
from simulator.live.effects import SaveMessage, SaveTurn, write_history
from simulator.live.engine import Send, Speak, StartTurn, Transcribe
from simulator.live.states import ProtocolError

LIVE_PATH = "/api/v1/live/ws"
FAULT = web.AppKey("fault", str)
MODES = ("no-live", "closes", "silent", "sequential", "bare", "no-scope", "wrong-type",
         "negative-500", "extra-field", "odd-frame", "odd-event", "undocumented-error",
         "page-unbounded", "im-extra-field", "hang", "slow", "garbage")
UNANSWERING = ("hang", "slow", "garbage")
FAMILY = "/api/v1/personas"  # every GET under it, and the Live API WebSocket
NOT_HTTP = b"\x00\x17\xfe garbage, not HTTP \x01\r\n\r\n"
CUT_SHORT = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n"
             b"\r\n{\"status\": \"ok\", \"da")
HALF_HEADER = b"HTTP/1.1 200 OK\r\nContent-Ty"
NOT_JSON = "garbage, not JSON {"
BAD_FRAME = b"\x8b\x03abc"  # FIN + reserved opcode 0xB: not a WebSocket frame (RFC 6455 5.2)
ODD_TYPE = "run_started"  # what AstrBot 4.29.3 sends first on a chat stream
# the operation each schema fault is planted in, and the requirement that must name it
FAULTS = {"wrong-type": ("GET /api/v1/bot-types", "V1-FUZZ-002"),
          "negative-500": ("GET /api/v1/chat/sessions", "V1-FUZZ-001"),
          "extra-field": ("POST /api/v1/chat/projects", "V1-FUZZ-003")}
# spec faults the boundary and undocumented-answer checks must name: mode -> document ->
# (operation, requirement, verdict)
SPEC_FAULTS = {
    "undocumented-error": {"v1": ("GET /api/v1/conversations", "V1-FUZZ-007", "NON-STRICT")},
    "page-unbounded": {"legacy": ("GET /api/v1/chat/sessions", "OPEN-FUZZ-003", "FAIL"),
                       "v1": ("GET /api/v1/chat/sessions", "V1-FUZZ-003", "FAIL")},
    "im-extra-field": {"v1": ("POST /api/v1/im/messages", "V1-FUZZ-003", "FAIL")},
}
# what the planted-fault runs fuzz (`--operations`), not all 304 operations: the operation of
# every planted fault above and unfaulted neighbours (other methods of its path, other ops of
# its tag, both documents), so "named on its operation and on no other" keeps its meaning
FUZZED = ",".join(("GET /api/v1/bot-types", "GET /api/v1/bots", "/api/v1/chat/sessions",
                   "GET /api/v1/chat/sessions/{session_id}", "/api/v1/chat/projects",
                   "GET /api/v1/conversations", "POST /api/v1/im/messages", "GET /api/v1/im/bots",
                   "GET /api/v1/configs"))
# what the unanswering runs fuzz: the broken family's GETs (FAMILY) and healthy neighbours
FAMILY_FUZZED = f"GET {FAMILY}*,GET /api/v1/bot-types,GET /api/v1/bots"
UNGUARDED = "/api/v1/personas"


@web.middleware
async def skip_scope_check(request: web.Request, handler):
    if request.path == UNGUARDED and request.method == "GET":
        return web.json_response({"status": "ok", "data": []})
    return await handler(request)


@web.middleware
async def plant_fault(request: web.Request, handler):
    mode = request.app[FAULT]
    if mode == "wrong-type" and request.method == "GET" and request.path == "/api/v1/bot-types":
        response = await handler(request)
        body = json.loads(response.text)
        return web.json_response({**body, "message": len(body.get("data") or [])},
                                 status=response.status)
    if mode == "negative-500" and request.path == "/api/v1/chat/sessions":
        page = request.query.get("page", "1")
        if page.lstrip("-").isdigit() and int(page) < 1:
            raise RuntimeError("planted: page below 1 crashes")  # the envelope middleware: 500
    if mode == "undocumented-error" and request.path == "/api/v1/conversations":
        try:
            return await handler(request)
        except ApiError as exc:  # FastAPI's validation answer, not the envelope
            return web.json_response({"detail": [{"type": "value_error", "loc": ["query"],
                                                  "msg": exc.message}]}, status=422)
    if mode == "page-unbounded" and request.path == "/api/v1/chat/sessions":
        query = dict(request.query)
        for name, low, high in (("page", 1, None), ("page_size", 1, 100)):
            if query.get(name, "").lstrip("-").isdigit():
                value = max(low, int(query[name]))
                query[name] = str(min(value, high) if high else value)
        return await handler(request.clone(rel_url=request.rel_url.with_query(query)))
    return await handler(request)


def accept_extra_fields(operation_id: str, schema_name: str) -> None:
    """One operation's body validator without `additionalProperties: false`."""
    original = validation.body_validator

    def lenient(op):
        validator, required = original(op)
        if op.operation_id != operation_id:
            return validator, required
        schema = dict(validation.openapi_v1()["components"]["schemas"][schema_name])
        schema.pop("additionalProperties", None)
        uri = validation.DOCUMENTS["v1"][0]
        return Draft202012Validator(validation._absolute_refs(schema, uri),
                                    registry=validation._registry("v1")), required

    validation.body_validator = lenient


def send_odd_frames() -> None:
    """Chat-mode `send` that also answers a `run_started` frame once the request is taken."""
    original = engine.LiveSession._send

    def with_odd_frame(self, frame: dict):
        effects = original(self, frame)
        if any(isinstance(e, StartTurn) for e in effects):
            effects.insert(1, Send(engine.chat_frame(ODD_TYPE, data={"run_id": "run-1"})))
        return effects

    engine.LiveSession._send = with_odd_frame


def send_odd_events() -> None:
    """POST /api/v1/chat streams with a `run_started` event after `session_id`."""
    original = sse.encode

    def with_odd_event(event: dict) -> bytes:
        if event.get("type") != "session_id":
            return original(event)
        return original(event) + original({"type": ODD_TYPE, "data": {"run_id": "run-1"}})

    sse.encode = with_odd_event


def live_override(mode: str):
    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path != LIVE_PATH:
            return await handler(request)
        if mode == "no-live":
            return web.Response(status=404, text="Not Found")
        if mode == "sequential":
            return await sequential_session(request, handler)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if mode == "closes":
            await ws.close()
        else:
            async for _ in ws:
                await asyncio.sleep(0)
        return ws

    return middleware


async def sequential_session(request: web.Request, handler):
    """The simulator's own engine, driven the way AstrBot drives its session: each frame is
    handled to completion, a whole turn included, before the next frame is read."""
    sim = request.app[SIM]
    try:
        allowed = sim.auth.key_principal(request.query.get("api_key", "")).allows("chat")
    except AuthError:
        allowed = False
    if not allowed or not request.query.get("username") \
            or request.query.get("ct", "live") != "live":
        return await handler(request)  # refusals exactly as the simulator does them
    session = sim.new_live_session(request.query["username"], mode="live")
    ws = web.WebSocketResponse()
    await ws.prepare(request)

    def call(method, *args) -> list:
        try:
            return method(*args)
        except ProtocolError as refused:  # a refused event: its error frame, as ws.py does
            return [Send(refused.frame)]

    async def perform(effects) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                await ws.send_str(dumps(effect.frame))
            elif isinstance(effect, (SaveMessage, SaveTurn)):
                announced = write_history(sim.history, effect)
                if announced is not None:
                    await ws.send_str(dumps(announced))
            elif isinstance(effect, StartTurn):
                try:
                    async for delta in sim.llm.stream(effect.text):
                        await perform(call(session.llm_delta, effect.turn, delta))
                    await perform(call(session.llm_done, effect.turn))
                except LLMFailure as exc:
                    await perform(call(session.llm_failed, effect.turn, str(exc)))
            elif isinstance(effect, Speak):
                await perform(call(session.spoken, effect.turn, speech.synthesize(effect.text)))
            elif isinstance(effect, Transcribe):
                await perform(call(session.transcribed, effect.turn,
                                   speech.transcribe(effect.pcm)))

    async for msg in ws:
        if msg.type is web.WSMsgType.TEXT:
            await perform(call(session.receive_text, msg.data))
        elif msg.type is web.WSMsgType.BINARY:
            await perform(call(session.receive_bytes, msg.data))
    return ws


def unanswering(mode: str, slow_s: float):
    """The family (FAMILY) hangs, answers late or answers garbage; nothing else changes."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path == LIVE_PATH and _accepted_live(request):
            return await _broken_live(request, handler, mode, slow_s)
        if request.method != "GET" or not request.path.startswith(FAMILY):
            return await handler(request)
        if mode == "hang":
            await asyncio.sleep(3600)  # the test stops this process long before
        if mode == "slow":
            await asyncio.sleep(slow_s)
            return await handler(request)
        raw = NOT_HTTP if request.path == FAMILY else CUT_SHORT \
            if request.path == FAMILY + "/tree" else HALF_HEADER
        request.transport.write(raw)
        request.transport.close()
        return web.Response()  # never written: the connection is gone

    return middleware


def _accepted_live(request: web.Request) -> bool:
    """Whether the simulator would accept this Live API handshake (its refusals stay)."""
    try:
        key = request.app[SIM].auth.key_principal(request.query.get("api_key", ""))
    except AuthError:
        return False
    return key.allows("chat") and bool(request.query.get("username")) \
        and request.query.get("ct", "live") in ("live", "chat")


async def _broken_live(request: web.Request, handler, mode: str, slow_s: float):
    if mode == "slow":  # the upgrade itself comes late
        await asyncio.sleep(slow_s)
        return await handler(request)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if mode == "garbage" and msg.type is web.WSMsgType.TEXT:
            if request.query.get("ct") == "chat":
                request.transport.write(BAD_FRAME)
            else:
                await ws.send_str(NOT_JSON)
    return ws


def build(mode: str, data_dir: str, slow_s: float = 3.0) -> web.Application:
    if mode == "bare":
        return web.Application()
    if mode == "extra-field":
        accept_extra_fields("createChatProject", "ChatProjectRequest")
    if mode == "odd-frame":
        send_odd_frames()
    if mode == "odd-event":
        send_odd_events()
    if mode == "im-extra-field":
        accept_extra_fields("sendImMessage", "ImMessageRequest")
    app = create_app(SimConfig(data_dir=data_dir))
    if mode in FAULTS or mode in SPEC_FAULTS:
        app[FAULT] = mode
        app.middlewares.append(plant_fault)  # inside the envelope middleware, like a handler
    elif mode in UNANSWERING:
        app.middlewares.insert(0, unanswering(mode, slow_s))
    elif mode not in ("odd-frame", "odd-event"):  # those two patch the simulator instead
        app.middlewares.insert(0, skip_scope_check if mode == "no-scope"
                               else live_override(mode))
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--slow-s", type=float, default=3.0,
                        help="slow: seconds before the answer (the suite's timeout + 2 s)")
    args = parser.parse_args()
    web.run_app(build(args.mode, args.data_dir, args.slow_s), host="127.0.0.1", port=args.port,
                print=None, shutdown_timeout=1)  # a hung handler does not delay the exit


if __name__ == "__main__":
    main()
