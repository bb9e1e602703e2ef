"""A Live API WebSocket client for checks: bounded waits, schema-checked frames, a wire log.

Every frame the suite sends is validated against the client schemas first: a frame the suite
built wrongly is a SuiteError (ERROR), never a failure of the target. Every frame received is
checked against the server schemas; problems are collected in `problems` for the frame-schema
requirement rather than raised, so other checks still judge what they look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..frames import schemas
from ..invariants import is_terminal_error
from ..outcomes import (
    SuiteError,
    TargetBroke,
    TargetTimeout,
    Unimplemented,
    Violation,
    cut_off,
    garbage,
    no_answer,
    wire_failure,
)
from .transcript import Transcript

# A handshake refused with one of these, even with valid credentials, means "no such endpoint"
# (real AstrBot 4.26.2 answers 403 for a WebSocket path it has no route for).
ABSENT_STATUSES = {403, 404, 405, 410, 426, 501}
MAX_FRAME = 32 * 1024 * 1024


class TargetClosed(TargetBroke):
    """The connection ended: with a close frame (`code`), or not (code None: the TCP
    connection dropped, or the suite closed it on an invalid frame, 1002)."""

    def __init__(self, code: int | None, reason: str, context: str, what: str = "",
                 invalid: str = ""):
        if invalid:  # the target sent what is not a WebSocket frame (RFC 6455 5.2)
            text = garbage(what, invalid.encode("utf-8", "backslashreplace"), "a WebSocket frame")
        elif code is None:
            text = cut_off(what, f"the connection dropped without a close frame {context}")
        else:
            text = f"the target closed the connection (code {code}, reason {reason!r}) {context}"
        super().__init__(text)
        self.code = code
        self.reason = reason


@dataclass
class Turn:
    """The frames of one turn: up to and including its terminal frame, then what trailed."""

    frames: list[dict]
    trailing: list[dict] = field(default_factory=list)
    transcript: Transcript | None = None  # the wire log it came from, as evidence
    ended_at: float = 0.0  # time.monotonic() when the terminal frame arrived
    problems: list[str] = field(default_factory=list)  # frames off their schema, so far

    def types(self) -> list[str]:
        return [f.get("t") for f in self.frames]

    def of(self, t: str) -> list[dict]:
        return [f for f in self.frames if f.get("t") == t]

    @property
    def terminal(self) -> str | None:
        return self.frames[-1].get("t") if self.frames else None

    def index(self, t: str) -> int | None:
        return next((i for i, f in enumerate(self.frames) if f.get("t") == t), None)


def ends_turn(frame: dict) -> bool:
    return frame.get("t") in ("end", "stop_play") or is_terminal_error(frame)


class LiveClient:
    def __init__(self, ws: ClientConnection, transcript: Transcript, mode: str, timeout: float):
        transcript.kind = f"websocket-{mode}"
        transcript.path = urlsplit(ws.request.path).path if ws.request else None
        self.ws = ws
        self.transcript = transcript
        self.mode = mode
        self.timeout = timeout
        self.problems: list[str] = []
        self.received: list = []
        self.last_sent = "the connection"  # what the suite sent last: named by a timeout

    @classmethod
    async def open(cls, url: str, *, timeout: float, transcript: Transcript,
                   headers: dict | None = None, mode: str = "live") -> LiveClient:
        path = urlsplit(url).path
        transcript.add(">>", {"connect": url, "headers": headers or {}})
        try:
            ws = await connect(url, additional_headers=headers, open_timeout=timeout,
                               max_size=MAX_FRAME, ping_interval=None, close_timeout=timeout)
        except InvalidStatus as exc:
            status = exc.response.status_code
            transcript.add("<<", {"handshake_status": status})
            if status in ABSENT_STATUSES:
                raise Unimplemented(f"WebSocket handshake to {path} answered HTTP {status}: "
                                    "the target has no such endpoint") from exc
            raise Violation(f"WebSocket handshake to {path} refused with HTTP {status}") from exc
        except (TimeoutError, InvalidHandshake, OSError) as exc:  # the wire rule (outcomes.py)
            broke = wire_failure(exc, f"GET {path} (a WebSocket upgrade)", timeout)
            if broke is None and isinstance(exc, InvalidHandshake):
                broke = Violation(f"invalid WebSocket handshake on {path}: {exc}")
            transcript.note(str(broke) if broke else f"cannot connect: {exc!r}")
            if isinstance(broke, TargetBroke) and broke.raw is not None:
                transcript.add("<<", {"raw": repr(broke.raw)})
            if broke is None:  # an unknown host, a local resource: not the target's doing
                raise SuiteError(f"cannot connect to {path}: {exc!r}") from exc
            raise broke from exc
        transcript.note("connected")
        return cls(ws, transcript, mode, timeout)

    async def __aenter__(self) -> LiveClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
            await asyncio.wait_for(self.ws.close(), self.timeout)

    # sending --------------------------------------------------------------------------------
    async def send(self, frame: dict) -> None:
        mode = frame_mode(self.mode, frame)
        check = schemas().check(frame, mode, "client")
        if not check.ok:
            raise SuiteError(f"the suite built an invalid {mode} client frame {frame}: "
                             + "; ".join(check.errors))
        await self.send_raw(json.dumps(frame, ensure_ascii=False))

    async def send_raw(self, data: str | bytes) -> None:
        shown = data if isinstance(data, str) else f"<{len(data)} binary bytes>"
        self.transcript.add(">>", _decoded(shown))
        decoded = _decoded(shown)
        self.last_sent = f"`{decoded.get('t')}`" if isinstance(decoded, dict) \
            and isinstance(decoded.get("t"), str) else "a frame"
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            self.transcript.add("<<", {"close": _code(exc), "reason": _reason(exc)})
            raise self._closed(exc, "before the suite could send") from exc

    # receiving ------------------------------------------------------------------------------
    async def recv(self, timeout: float | None = None, waiting_for: str = "a frame") -> dict:
        wait = self.timeout if timeout is None else timeout
        try:
            raw = await asyncio.wait_for(self.ws.recv(), wait)
        except TimeoutError as exc:
            invalid = getattr(self.ws.protocol, "parser_exc", None)
            if invalid is not None:  # an invalid frame came; the closing handshake did not
                raise TargetClosed(None, "", "", what=f"{self.last_sent} on "
                                   f"{self.transcript.path}", invalid=str(invalid)) from exc
            reason = no_answer(f"{self.last_sent} on {self.transcript.path} (waiting for "
                               f"{waiting_for})", wait)
            self.transcript.note(reason)
            raise TargetTimeout(reason) from exc
        except ConnectionClosed as exc:
            self.transcript.add("<<", {"close": _code(exc), "reason": _reason(exc)})
            raise self._closed(exc, f"while the suite waited for {waiting_for}") from exc
        frame, errors, undocumented = self._check(raw)
        self.transcript.add("<<", frame, schema_errors=list(errors) or None,
                            undocumented=undocumented)
        self.received.append(frame)
        if errors:
            self.problems.append(f"frame #{len(self.received)} {_short(frame)}: "
                                 + "; ".join(errors))
        if "_raw" in frame:  # text that is not JSON: the wire rule's garbage (outcomes.py)
            raise TargetBroke(garbage(f"{self.last_sent} on {self.transcript.path}",
                                      raw.encode("utf-8", "backslashreplace"), "a JSON frame"),
                              raw.encode("utf-8", "backslashreplace"))
        return frame

    def _closed(self, exc: ConnectionClosed, context: str) -> TargetClosed:
        """A closed connection as the wire rule has it: a close frame is the target's answer
        (judged by the check); no close frame, or the suite's 1002 on an invalid frame, is a
        connection cut off or garbage."""
        sent = exc.sent if exc.rcvd is None else None
        invalid = str(exc.__cause__ or sent.reason or "invalid frame") \
            if sent is not None and sent.code == 1002 else ""
        return TargetClosed(_code(exc), _reason(exc), context,
                            what=f"{self.last_sent} on {self.transcript.path}", invalid=invalid)

    def _check(self, raw) -> tuple[dict, tuple[str, ...], str | None]:
        """The decoded frame, its schema errors, and its type if the contract lacks it."""
        if isinstance(raw, bytes):
            return {"_binary_bytes": len(raw)}, ("a binary frame; the protocol uses JSON text",), \
                None
        try:
            frame = json.loads(raw)
        except ValueError:
            return {"_raw": raw[:500]}, ("not JSON",), None
        check = schemas().check(frame, frame_mode(self.mode, frame), "server")
        return (frame if isinstance(frame, dict) else {"_json": frame}), check.errors, \
            check.undocumented

    async def quiet(self, seconds: float) -> list[dict]:
        """Everything received during `seconds` of listening (returns early on close)."""
        frames = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                frames.append(await self.recv(timeout=left, waiting_for="nothing"))
            except TargetTimeout:
                break
            except TargetClosed:
                break
        return frames

    async def until(self, predicate, waiting_for: str, timeout: float | None = None) \
            -> list[dict]:
        """Frames up to and including the first one matching `predicate`."""
        frames = []
        while True:
            frame = await self.recv(timeout, waiting_for=waiting_for)
            frames.append(frame)
            if predicate(frame):
                return frames

    async def turn(self, trailing_grace: float = 0.3, timeout: float | None = None) -> Turn:
        """Read one turn up to its terminal frame (`end`, `stop_play` or a terminal `error`),
        then listen briefly for frames that trail it."""
        frames = await self.until(ends_turn, "the end of the turn", timeout)
        ended_at = time.monotonic()
        return Turn(frames, await self.quiet(trailing_grace), ended_at=ended_at,
                    problems=list(self.problems))

    async def expect_close(self, timeout: float | None = None) -> tuple[list[dict], int | None,
                                                                         str]:
        """Frames received until the target closes, and its close code and reason."""
        frames = []
        while True:
            try:
                frames.append(await self.recv(timeout, waiting_for="the target to close"))
            except TargetClosed as closed:
                return frames, closed.code, closed.reason


def frame_mode(mode: str, frame) -> str:
    """The protocol a frame belongs to: on a unified socket each frame's `ct` decides."""
    if mode == "unified" or (mode == "live" and isinstance(frame, dict)
                             and frame.get("ct") == "chat"):
        return "chat" if isinstance(frame, dict) and frame.get("ct") == "chat" else "live"
    return mode


def _code(exc: ConnectionClosed) -> int | None:
    return exc.rcvd.code if exc.rcvd is not None else None


def _reason(exc: ConnectionClosed) -> str:
    return exc.rcvd.reason if exc.rcvd is not None else ""


def _decoded(text):
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def _short(frame: dict) -> str:
    return json.dumps(frame, ensure_ascii=False)[:200]
