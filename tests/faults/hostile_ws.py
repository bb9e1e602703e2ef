"""Faults in how the WebSocket paths take hostile frames (ROB-WS-*): the defects found by hand
(issue 15) planted back one at a time."""

from __future__ import annotations

import json

from simulator.live import engine, inbound, outbox, ws
from simulator.live.chat_ws import ChatSocket
from simulator.live.engine import LiveSession

from . import Fault, kit

ENGINES = (LiveSession, ChatSocket)


def _frame_of(raw: str):
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def list_t_http_500() -> None:
    """A list or object as `t` is used as a dict key (TypeError), and nothing catches it after
    the upgrade: aiohttp answers the failed handler with an HTTP 500 written into the stream."""
    for cls in ENGINES:
        @kit.wrap(cls, "receive_text")
        def receive_text(original, self, raw):
            frame = _frame_of(raw)
            if isinstance(frame, dict) and isinstance(frame.get("t"), (list, dict)):
                return {}[frame["t"]]  # TypeError: unhashable type
            return original(self, raw)

    def reraise(session, exc):
        raise exc

    async def unrecoverable(socket, request, exc):
        raise exc

    ws.contain = reraise
    ws.unrecoverable = unrecoverable


def deep_json_crash() -> None:
    """JSON nested 1,000+ levels deep reaches the decoder's recursion limit; the reader task
    dies on the RecursionError and the connection is dropped without a close frame."""
    requests: dict[int, object] = {}

    @kit.wrap(ws, "run_session")
    async def run_session(original, socket, request, sim, session):
        requests[id(session)] = request
        try:
            return await original(socket, request, sim, session)
        finally:
            requests.pop(id(session), None)

    for cls in ENGINES:
        @kit.wrap(cls, "receive_text")
        def receive_text(original, self, raw):
            if inbound.too_deep(raw, 1_000):
                request = requests.get(id(self))
                if request is not None and request.transport is not None:
                    request.transport.abort()
                return []
            return original(self, raw)


def surrogate_kills_writer() -> None:
    """Lone surrogates are kept as decoded (no scrub) and frames are encoded strictly: the
    first frame echoing one (user_msg, a saved message) raises UnicodeEncodeError in the writer,
    which dies without a word; the turn goes on unseen, the socket stays open and silent."""
    inbound.scrub = lambda value: value

    @kit.wrap(outbox, "text_frame")
    def strict_text_frame(original, payload: str) -> bytes:
        payload.encode("utf-8")  # UnicodeEncodeError on a lone surrogate: no fallback
        return original(payload)

    @kit.wrap(outbox.Outbox, "put")
    def put(original, self, frame):
        if self.__dict__.get("writer_dead"):
            return None
        try:
            return original(self, frame)
        except UnicodeEncodeError:
            self.__dict__["writer_dead"] = True  # nothing is sent on this socket again
            return None

    @kit.wrap(ws, "contain")
    def contain(original, session, exc):
        if isinstance(exc, UnicodeEncodeError):  # the store refused the text: no answer
            return []
        return original(session, exc)


MALFORMED = ("Invalid JSON", "Frame must be", "Binary frames", "Frame larger")


def chat_error_without_ct() -> None:
    """Chat mode answers a frame it cannot read with the live error frame: the decoding step
    shared by both modes builds its error before the mode is known (no `ct: chat`)."""
    def strip_ct(session, method, effects):
        if method not in ("receive_text", "receive_bytes"):
            return effects
        out = []
        for effect in effects:
            frame = getattr(effect, "frame", None)
            if isinstance(frame, dict) and frame.get("ct") == "chat" \
                    and frame.get("t") == "error" \
                    and str(frame.get("data", "")).startswith(MALFORMED):
                effect = kit.Send({k: v for k, v in frame.items() if k != "ct"})
            out.append(effect)
        return out

    kit.frames(strip_ct, engine.LiveSession)


def oversize_closes_1011() -> None:
    """A frame over the size limit raises in the reader (a MemoryError-style guard) instead of
    being answered: the session ends as an internal error, close 1011, not the mode's error
    frame nor 1009 (what an implementation gets when it sizes buffers from the frame)."""
    for cls in ENGINES:
        @kit.wrap(cls, "receive_text")
        def receive_text(original, self, raw):
            if len(raw) > self.max_frame_chars:
                raise MemoryError("frame too large")
            return original(self, raw)

    def reraise(session, exc):
        raise exc

    ws.contain = reraise


FAULTS = [
    Fault("ws-list-t-http-500", "a list or object as `t` raises TypeError in the dispatch, and "
          "no handler catches it after the upgrade: an HTTP/1.1 500 is written into the "
          "WebSocket stream",
          list_t_http_500, breaks=("ROB-WS-002",), may=("ROB-WS-001", "ROB-WS-003"),
          profiles=("robustness",)),
    Fault("ws-deep-json-crash", "JSON nested thousands of levels deep hits the decoder's "
          "recursion limit: the reader dies and the connection drops without a close frame",
          deep_json_crash, breaks=("ROB-WS-001",), may=("ROB-WS-003",),
          profiles=("robustness",)),
    Fault("ws-surrogate-kills-writer", "a lone surrogate (`\\ud800`) in turn text is echoed "
          "as decoded: the frame writer dies on UnicodeEncodeError, the turn is stuck, the "
          "socket open and silent",
          surrogate_kills_writer, breaks=("ROB-WS-003", "ROB-WS-004"), may=("ROB-WS-001",),
          profiles=("robustness",)),
    Fault("chat-error-without-ct", "chat-mode errors for frames that cannot be read (invalid "
          "JSON, non-objects, binary, oversize) are live error frames, without `ct: chat`",
          chat_error_without_ct, breaks=("ROB-WS-005",), profiles=("robustness",)),
    Fault("ws-oversize-closes-1011", "a frame over the size limit raises in the reader: the "
          "connection is closed with 1011 (internal error) instead of the error frame or 1009",
          oversize_closes_1011, breaks=("ROB-WS-001",), may=("ROB-WS-003",),
          profiles=("robustness",)),
]
