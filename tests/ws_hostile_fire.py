"""Fire hostile WebSocket frames (conformance/hostile.py, the suite's own generator) at one
simulator socket and count the broken sockets, for tests/test_ws_hostile.py (a bounded sample,
in-process) and bench/hostile_corpus.py (the whole corpus against a simulator process).

After each hostile frame a marker frame follows (`t: marker-N`, an unsupported type every mode
answers at once with its error frame), so each answer is read to a known end with no timed
wait. A socket is broken by anything else than: WebSocket frames of UTF-8 JSON, error frames
in the connection's mode (chat errors carry `ct: chat`), or a close with 1003/1007/1008/1009
(then the next frame goes on a fresh connection). Bytes that are no WebSocket frame (an HTTP
500 page), the stream ending without a close frame, and silence are broken sockets; so is a
good turn that does not complete after the corpus. The first silent answer ends the run (one
timeout, not one per frame); the good turn then goes on a fresh connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from conformance import hostile
from conformance.clients.raw_ws import RawWebSocket
from conformance.clients.transcript import Transcript

CLOSE_CODES = (1003, 1007, 1008, 1009)
MAX_FRAMES_PER_ANSWER = 5_000


@dataclass(frozen=True)
class Kind:
    """One socket kind: its path (query included), the corpus it gets, how it answers."""

    name: str
    path: str
    corpus: str  # live, chat or openchat (hostile.ws_frames kind)
    mode: str  # live, chat, openchat, unified
    headers: tuple = ()


@dataclass
class Record:
    kind: str
    sent: int = 0
    closes: int = 0
    errors: int = 0
    good_turns: int = 0
    broken: list[str] = field(default_factory=list)  # "label: what happened"
    http_5xx: int = 0  # HTTP status lines found inside the stream, or at a handshake


def marker(kind: Kind, n: int) -> str:
    frame = {"t": f"marker-{n}"}
    if kind.corpus == "chat":
        frame["ct"] = "chat"
    return json.dumps(frame)


def good_frame(kind: Kind, n: int) -> str:
    if kind.corpus == "live":
        return json.dumps({"t": "text_input", "text": f"hello after hostile frames {n}"})
    if kind.corpus == "chat":
        return json.dumps({"ct": "chat", "t": "send", "message": f"hello {n}",
                           "message_id": f"good-{n}"})
    return json.dumps({"t": "send", "username": "hostile-good", "message": f"hello {n}",
                       "message_id": f"good-{n}"})


def says_chat(payload) -> bool:
    if isinstance(payload, bytes):
        return False
    try:
        frame = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(frame, dict) and frame.get("ct") == "chat"


def is_error(kind: Kind, frame: dict) -> bool:
    return frame.get("type") == "error" if kind.mode == "openchat" else frame.get("t") == "error"


def wrong_shape(kind: Kind, frame: dict, chat: bool) -> str | None:
    """Why an error frame answering a frame is not the mode's error frame (None: it is)."""
    if kind.mode == "openchat":
        return None if "code" in frame and "ct" not in frame else "not {type:error,code,data}"
    if kind.mode == "chat" or (kind.mode == "unified" and chat):
        return None if frame.get("ct") == "chat" else "a chat-mode error without ct: chat"
    if kind.mode == "live":
        return None if "ct" not in frame else "a live error with ct"
    return None


class Firing:
    def __init__(self, base_ws: str, kind: Kind, timeout: float):
        self.url, self.kind, self.timeout = base_ws + kind.path, kind, timeout
        self.record = Record(kind.name)
        self.ws: RawWebSocket | None = None
        self.transcript = Transcript(f"hostile frames on {kind.name}")
        self.n = 0
        self.silent = False

    async def connection(self) -> RawWebSocket:
        if self.ws is None or self.ws.closed:
            if self.ws is not None:
                await self.ws.close()
            self.transcript = Transcript(f"hostile frames on {self.kind.name}")  # kept small
            self.ws = await RawWebSocket.open(self.url, timeout=self.timeout,
                                              transcript=self.transcript,
                                              headers=dict(self.kind.headers) or None)
        return self.ws

    def broke(self, label: str, what: str, data: bytes = b"") -> None:
        self.record.broken.append(f"{label}: {what}")
        if data.startswith(b"HTTP/1.1 5") or b"HTTP/1.1 5" in data:
            self.record.http_5xx += 1

    async def answer(self, label: str, until, chat: bool) -> bool:
        """Read up to the frame `until` accepts; False when the connection closed properly
        (or broke) before it."""
        ws = self.ws
        answered = False
        for _ in range(MAX_FRAMES_PER_ANSWER):
            event = await ws.recv(self.timeout)
            if event.kind == "close":
                if event.code in CLOSE_CODES:
                    self.record.closes += 1
                else:
                    self.broke(label, f"closed with {event.code} {event.reason!r}")
                return False
            if event.kind in ("garbage", "eof", "silent", "binary"):
                data = bytes(event.data) if isinstance(event.data, (bytes, bytearray)) else b""
                self.broke(label, f"{event.kind}: {event.shown()[:160]}", data)
                if event.kind == "silent":
                    self.silent = True  # the run stops: one timeout, not one per frame
                    ws.closed = True  # the next turn goes on a fresh connection
                return False
            frame = event.json()
            if not isinstance(frame, dict):
                self.broke(label, f"a text frame that is no JSON object: {event.data[:120]!r}")
                return False
            if is_error(self.kind, frame) and not answered:
                answered = True
                self.record.errors += 1
                why = wrong_shape(self.kind, frame, chat)
                if why:
                    self.broke(label, f"{why}: {json.dumps(frame)[:160]}")
            if until(frame):
                return True
        self.broke(label, f"{MAX_FRAMES_PER_ANSWER} frames without the expected end")
        return False

    async def fire(self, item: hostile.Hostile) -> None:
        ws = await self.connection()
        self.n += 1
        tag = f"marker-{self.n}"
        self.record.sent += 1
        if not await ws.send(item.payload, item.label):
            # the target closed while the frame was going out: read why
            await self.answer(item.label, lambda f: False, says_chat(item.payload))
            return
        chat = self.kind.mode == "chat" or says_chat(item.payload)
        await ws.send(marker(self.kind, self.n), tag)
        await self.answer(item.label, lambda f: tag in str(f.get("data", "")), chat)

    def good_end(self, n: int, busy: list):
        """Accepts the end of good turn `n`, or a busy error (noted in `busy`)."""
        def done(frame: dict) -> bool:
            if is_error(self.kind, frame) and "busy" in str(frame.get("data", "")):
                busy.append(frame)
                return True
            if self.kind.corpus == "live":
                return frame.get("t") == "end"
            return frame.get("type") == "end" and frame.get("message_id") == f"good-{n}"
        return done

    async def good_turn(self, after: str) -> None:
        """A good turn completes (after a busy answer, once the running turn has ended)."""
        self.n += 1
        for _attempt in range(3):
            ws = await self.connection()
            await ws.send(good_frame(self.kind, self.n), "good turn")
            busy: list = []
            if not await self.answer(f"good turn after {after}", self.good_end(self.n, busy),
                                     False):
                continue
            if not busy:
                self.record.good_turns += 1
                return
            # a turn a hostile frame started is running: wait for its end, then try again
            await self.answer(f"turn running at the good turn after {after}",
                              lambda f: f.get("t") == "end" or f.get("type") == "end", False)
        self.broke(f"good turn after {after}", "no good turn completed in 3 attempts")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def fire_all(base_ws: str, kind: Kind, items: list[hostile.Hostile], timeout: float,
                   good_every: int = 500) -> Record:
    firing = Firing(base_ws, kind, timeout)
    try:
        for i, item in enumerate(items, 1):
            await firing.fire(item)
            if firing.silent:
                break
            if i % good_every == 0:
                await firing.good_turn(item.label)
        await firing.good_turn(items[-1].label if items else "-")
    finally:
        await firing.close()
    return firing.record
