"""Fire the hostile corpus (conformance/hostile.py) at one WebSocket path through the raw client
and record, frame by frame, what the target did: its error frame, a close, a served turn, bytes
that are no WebSocket frame, the stream's end, or silence. test_ws_hostile.py judges the record.

One connection takes the frames one after another; after a close the next frame goes on a fresh
one. Each answer is awaited at most `target.timeout`; the first frame that must be answered and
is not stops the run (a silent target is judged in one timeout, not one per frame). Then a good
turn (`text_input`, chat `send`) must complete on the connection, or on a fresh one after a close.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from conformance import hostile
from conformance.clients.live import ABSENT_STATUSES
from conformance.clients.raw_ws import Event, Handshake, RawWebSocket
from conformance.clients.transcript import Transcript
from conformance.outcomes import TargetTimeout, Unimplemented, Violation

CLOSE_CODES = (1003, 1007, 1008, 1009)  # RFC 6455 7.4.1: the codes for a refused frame
LENIENT_GRACE_S = 0.5  # how long a frame the target may take silently is listened to
DRAIN_S = 0.02  # frames trailing an answer (metrics after `end`), read before the next frame
MAX_FRAMES_PER_ANSWER = 2_000
GOOD_TEXT = "Hello after the hostile frames"


@dataclass(frozen=True)
class Socket:
    name: str  # how reasons name it: the path, with ct where it decides the mode
    path: str
    kind: str  # the hostile corpus sent: live, chat or openchat
    mode: str  # how the server's frames are read: live, chat, openchat, unified
    jwt: bool = False
    query: tuple = ()


@dataclass
class Outcome:
    label: str
    answer: str  # error, close, turn, none, silent, eof, garbage, other
    detail: str = ""
    error: dict | None = None  # the error frame, when that was the answer
    code: int | None = None  # the close code, when the target closed
    garbage: bytes = b""
    not_json: list[str] = field(default_factory=list)  # text frames of the answer off JSON
    payload_ct_chat: bool = False  # the hostile frame was a JSON object with ct: chat

    @property
    def cls(self) -> str:
        return self.label.split("/", 1)[0]


@dataclass
class Fired:
    socket: Socket
    outcomes: list[Outcome]
    good_turns: list[tuple[str, Outcome]]  # (after which label, how the good turn went)
    stopped_at: str | None  # the label after which the run stopped: the target fell silent
    unsent: int  # frames not sent because the run stopped
    reopen_problems: list[str]
    transcript: Transcript

    def of(self, *classes: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.cls in classes]


def is_error(frame, mode: str) -> bool:
    if not isinstance(frame, dict):
        return False
    return frame.get("type") == "error" if mode == "openchat" else frame.get("t") == "error"


def ends_turn(frame, mode: str) -> bool:
    if not isinstance(frame, dict):
        return False
    if mode in ("live", "unified") and frame.get("t") in ("end", "stop_play"):
        return True
    return mode != "live" and frame.get("type") == "end"


def good_frame(socket: Socket, n: int) -> str:
    if socket.kind == "live":
        return json.dumps({"t": "text_input", "text": GOOD_TEXT})
    if socket.kind == "chat":
        return json.dumps({"ct": "chat", "t": "send", "message": GOOD_TEXT,
                           "message_id": f"conformance-robust-{n}"})
    return json.dumps({"t": "send", "message": GOOD_TEXT, "username": "conformance-bob"})


def expects_refusal(kind: str, item: hostile.Hostile) -> bool:
    """True when the frame must be refused (an error frame or a close); False when the target
    may also take it: a lone surrogate in a field the schema takes as a string, a wrong type
    only in optional fields (AstrBot reads those with dict.get and a default)."""
    if item.cls in (hostile.SURROGATE, hostile.SURROGATE_TURN):
        return False
    if item.cls in (hostile.WRONG_TYPE, hostile.WRONG_PAIR):
        _, ftype, fields, _ = item.label.split("/")
        required = set(hostile.client_messages(kind)[ftype].get("required", [])) | {"t", "ct"}
        return bool(set(fields.split("+")) & required)
    return True


async def answer_to(ws: RawWebSocket, label: str, mode: str, wait: float,
                    lenient: bool) -> Outcome:
    """Read what the target does with the frame just sent, up to its answer."""
    frames = 0
    not_json: list[str] = []
    while frames < MAX_FRAMES_PER_ANSWER:
        event = await ws.recv(LENIENT_GRACE_S if lenient else wait)
        if event.kind == "silent":
            return Outcome(label, "none" if lenient else "silent", event.data, not_json=not_json)
        if event.kind == "close":
            return Outcome(label, "close", f"closed with {event.code} {event.reason!r}",
                           code=event.code, not_json=not_json)
        if event.kind == "eof":
            return Outcome(label, "eof", "the stream ended without a close frame",
                           not_json=not_json)
        if event.kind == "garbage":
            return Outcome(label, "garbage", f"bytes that are no WebSocket frame: "
                           f"{bytes(event.data[:200])!r}", garbage=bytes(event.data),
                           not_json=not_json)
        frames += 1
        frame = event.json()
        if event.kind == "text" and frame is None:
            not_json.append(event.data[:200])
        if is_error(frame, mode):
            return Outcome(label, "error", json.dumps(frame)[:200], error=frame,
                           not_json=not_json)
        if ends_turn(frame, mode):
            return Outcome(label, "turn", f"served as a turn ending in {json.dumps(frame)[:80]}",
                           not_json=not_json)
    return Outcome(label, "other", f"{frames} frames and no error, close or end",
                   not_json=not_json)


async def _drain(ws: RawWebSocket) -> None:
    while not ws.closed:
        event = await ws.recv(DRAIN_S)
        if event.kind == "silent":
            return


class Firing:
    def __init__(self, socket: Socket, url: str, headers: dict | None, timeout: float,
                 transcript: Transcript):
        self.socket, self.url, self.headers = socket, url, headers
        self.timeout = timeout
        transcript.kind, transcript.path = f"websocket-{socket.mode}", socket.path
        self.transcript = transcript
        self.ws: RawWebSocket | None = None
        self.reopen_problems: list[str] = []
        self.good_turns: list[tuple[str, Outcome]] = []
        self.opened = 0

    async def connection(self) -> RawWebSocket:
        if self.ws is not None and not self.ws.closed:
            return self.ws
        if self.ws is not None:
            await self.ws.close()
        try:
            self.ws = await RawWebSocket.open(self.url, timeout=self.timeout,
                                              transcript=self.transcript, headers=self.headers)
        except Handshake as exc:
            if self.opened == 0 and exc.status in ABSENT_STATUSES:
                raise Unimplemented(f"WebSocket handshake to {self.socket.path} answered HTTP "
                                    f"{exc.status}: the target has no such endpoint") from exc
            what = f"HTTP {exc.status}" if exc.status else f"no HTTP: {exc.head[:120]!r}"
            if self.opened:
                self.reopen_problems.append(f"a fresh connection after a close was refused "
                                            f"({what})")
            raise Violation(f"WebSocket handshake to {self.socket.path} refused ({what})") \
                from exc
        self.opened += 1
        return self.ws

    async def good_turn(self, after: str, n: int) -> Outcome:
        ws = await self.connection()
        await ws.send(good_frame(self.socket, n), "good turn")
        outcome = await answer_to(ws, "good turn", self.socket.mode, self.timeout, False)
        self.good_turns.append((after, outcome))
        await _drain(ws)
        return outcome

    async def fire(self, frames: list[hostile.Hostile], checkpoints: bool) -> Fired:
        outcomes: list[Outcome] = []
        stopped = None
        try:
            for i, item in enumerate(frames):
                ws = await self.connection()
                lenient = not expects_refusal(self.socket.kind, item)
                await ws.send(item.payload, item.label)
                outcome = await answer_to(ws, item.label, self.socket.mode, self.timeout,
                                          lenient and item.cls != hostile.SURROGATE_TURN)
                outcome.payload_ct_chat = _ct_chat(item.payload)
                outcomes.append(outcome)
                if outcome.answer == "silent":
                    stopped = item.label
                    break
                await _drain(ws)
                class_ends = i + 1 < len(frames) and frames[i + 1].cls != item.cls
                if checkpoints and class_ends \
                        and (await self.good_turn(item.label, i)).answer == "silent":
                    stopped = f"the good turn after {item.label}"
                    break
            if stopped is None:
                await self.good_turn(frames[-1].label if frames else "-", len(frames))
        finally:
            if self.ws is not None:
                await self.ws.close()
        return Fired(self.socket, outcomes, self.good_turns, stopped,
                     len(frames) - len(outcomes), self.reopen_problems, self.transcript)


def _ct_chat(payload) -> bool:
    """Whether a frame says it is a chat frame (a binary one says nothing: it is not read)."""
    if isinstance(payload, bytes):
        return False
    try:
        frame = json.loads(payload)
    except (ValueError, TypeError, RecursionError):
        return False
    return isinstance(frame, dict) and frame.get("ct") == "chat"


__all__ = ["CLOSE_CODES", "Event", "Fired", "Firing", "Outcome", "Socket", "TargetTimeout"]
