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
from ..outcomes import SuiteError, Unimplemented, Violation
from .http import TargetTimeout
from .transcript import Transcript

# A handshake refused with one of these, even with valid credentials, means "no such endpoint"
# (real AstrBot 4.26.2 answers 403 for a WebSocket path it has no route for).
ABSENT_STATUSES = {403, 404, 405, 410, 426, 501}
MAX_FRAME = 32 * 1024 * 1024


class TargetClosed(Violation):
    def __init__(self, code: int | None, reason: str, context: str):
        super().__init__(f"the target closed the connection (code {code}, reason {reason!r}) "
                         f"{context}")
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
        except TimeoutError as exc:
            transcript.note(f"handshake not completed within {timeout} s")
            raise TargetTimeout(f"WebSocket handshake to {path} not completed within "
                                f"{timeout} s") from exc
        except InvalidHandshake as exc:
            transcript.note(f"invalid handshake: {exc}")
            raise Violation(f"invalid WebSocket handshake on {path}: {exc}") from exc
        except OSError as exc:
            raise SuiteError(f"cannot connect to {url}: {exc}") from exc
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
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            self.transcript.add("<<", {"close": _code(exc), "reason": _reason(exc)})
            raise TargetClosed(_code(exc), _reason(exc), "before the suite could send") from exc

    # receiving ------------------------------------------------------------------------------
    async def recv(self, timeout: float | None = None, waiting_for: str = "a frame") -> dict:
        wait = self.timeout if timeout is None else timeout
        try:
            raw = await asyncio.wait_for(self.ws.recv(), wait)
        except TimeoutError as exc:
            self.transcript.note(f"nothing within {wait} s while waiting for {waiting_for}")
            raise TargetTimeout(f"no frame within {wait} s while waiting for {waiting_for}") \
                from exc
        except ConnectionClosed as exc:
            self.transcript.add("<<", {"close": _code(exc), "reason": _reason(exc)})
            raise TargetClosed(_code(exc), _reason(exc), f"while the suite waited for "
                               f"{waiting_for}") from exc
        frame, errors, undocumented = self._check(raw)
        self.transcript.add("<<", frame, schema_errors=list(errors) or None,
                            undocumented=undocumented)
        self.received.append(frame)
        if errors:
            self.problems.append(f"frame #{len(self.received)} {_short(frame)}: "
                                 + "; ".join(errors))
        return frame

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
