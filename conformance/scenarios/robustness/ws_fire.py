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
import uuid
from dataclasses import dataclass, field

from conformance import hostile
from conformance.clients.live import ABSENT_STATUSES
from conformance.clients.raw_ws import Handshake, RawWebSocket
from conformance.clients.transcript import Transcript
from conformance.outcomes import Unimplemented, Violation

CLOSE_CODES = (1003, 1007, 1008, 1009)  # RFC 6455 7.4.1: the codes for a refused frame
LENIENT_GRACE_S = 0.3  # how long a frame the target may take silently is listened to
DRAIN_S = 0.02  # frames trailing an answer (metrics after `end`), read before the next frame
MAX_FRAMES_PER_ANSWER = 2_000
KEPT = 6  # frames of an answer kept as evidence
TURN_TYPES = ("text_input", "send")  # a frame of these types the target takes starts a turn
GOOD_SESSION = "conformance-robust-" + uuid.uuid4().hex[:12]
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
    answer: str  # error, close, turn, taken, none, silent, eof, garbage, other
    detail: str = ""
    error: dict | None = None  # the error frame, when that was the answer
    code: int | None = None  # the close code, when the target closed
    garbage: bytes = b""
    not_json: list[str] = field(default_factory=list)  # text frames of the answer off JSON
    payload_ct_chat: bool = False  # the hostile frame was a JSON object with ct: chat
    must_refuse: bool = True  # expects_refusal() of the frame
    sent: str = ""  # the start of the hostile frame, as evidence
    seen: list[str] = field(default_factory=list)  # the last frames of the answer, shown

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
    # the good turn on the fresh connection, before any hostile frame: when it does not
    # complete (a path that takes no text turn), a hang cannot be told from it
    control: Outcome | None = None

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
    if socket.kind == "chat":  # seed 001 `send`: a session and the message-part list
        return json.dumps({"ct": "chat", "t": "send", "session_id": GOOD_SESSION,
                           "message_id": f"conformance-robust-{n}",
                           "message": [{"type": "plain", "text": GOOD_TEXT}]})
    return json.dumps({"t": "send", "message": GOOD_TEXT, "username": "conformance-bob"})


def expects_refusal(kind: str, item: hostile.Hostile) -> bool:
    """True when the frame must be refused (an error frame or a close): it is no JSON object,
    or even a tolerant reader finds its type or a required field broken. A tolerant reader
    (AstrBot reads frames with dict.get and defaults) may take a frame whose only faults are
    unknown keys, a `ct` it does not police, optional fields of the wrong type, or a lone
    surrogate in a string; those frames may be taken (ROB-WS-004 judges the turn text)."""
    if item.cls == hostile.SURROGATE_TURN:
        return False
    if isinstance(item.payload, bytes):
        return True  # the protocol is UTF-8 JSON text frames
    try:  # a 10,000-digit number read as some number: the field it sits in decides
        frame = json.loads(item.payload, parse_int=lambda _: 0)
    except (ValueError, RecursionError):
        return True
    return not isinstance(frame, dict) or not hostile.is_valid(kind, _tolerant(kind, frame))


def _tolerant(kind: str, frame: dict) -> dict:
    """What a tolerant reader keeps of a frame: its type's known fields, less `ct` and the
    optional fields whose value the schema refuses."""
    ftype = "send" if kind == "openchat" and "t" not in frame else frame.get("t")
    schema = hostile.client_messages(kind).get(ftype) if isinstance(ftype, str) else None
    if schema is None:
        return frame  # an unknown or broken type stays what it is
    must = set(schema.get("required", [])) | {"t"}
    base = hostile.valid_frame(kind, ftype)
    return {k: v for k, v in frame.items() if k in schema.get("properties", {}) and k != "ct"
            and (k in must or hostile.is_valid(kind, {**base, k: v}))}


def may_stay_silent(kind: str, item: hostile.Hostile) -> bool:
    """A frame the target may take without a word (start_speaking, bind...): listened to
    briefly. One it must refuse, or one that starts a turn if taken, gets the full timeout."""
    return not expects_refusal(kind, item) and item.label.split("/")[1] not in TURN_TYPES


async def answer_to(ws: RawWebSocket, label: str, mode: str, wait: float,
                    lenient: bool) -> Outcome:
    """Read what the target does with the frame just sent, up to its answer; the transcript
    gets one line for it (the frames of a served turn are counted, not copied)."""
    seen: list[str] = []
    outcome = await _read_answer(ws, label, mode, wait, lenient, seen)
    outcome.seen = seen[-KEPT:]
    ws.log("<<", {"answer": outcome.answer, "frames": len(seen), "detail": outcome.detail})
    return outcome


async def _read_answer(ws, label, mode, wait, lenient, seen) -> Outcome:
    not_json: list[str] = []
    while len(seen) < MAX_FRAMES_PER_ANSWER:
        event = await ws.recv(LENIENT_GRACE_S if lenient else wait, log=False)
        if event.kind == "silent":
            return Outcome(label, "none" if lenient else "silent", event.data, not_json=not_json)
        seen.append(event.shown()[:200])
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
        frame = event.json()
        if event.kind == "text" and frame is None:
            not_json.append(event.data[:200])
        if is_error(frame, mode):
            return Outcome(label, "error", json.dumps(frame)[:200], error=frame,
                           not_json=not_json)
        if ends_turn(frame, mode):
            return Outcome(label, "turn", f"served as a turn ending in {json.dumps(frame)[:80]}",
                           not_json=not_json)
        if isinstance(frame, dict) and frame.get("type") == "session_bound":
            return Outcome(label, "taken", "taken as a bind (session_bound)", not_json=not_json)
    return Outcome(label, "other", f"{len(seen)} frames and no error, close or end",
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

    async def good_turn(self, after: str, n: int, control: bool = False) -> Outcome:
        ws = await self.connection()
        label = "control turn" if control else "good turn"
        await ws.send(good_frame(self.socket, n), label)
        outcome = await answer_to(ws, label, self.socket.mode, self.timeout, False)
        if not control:
            self.good_turns.append((after, outcome))
        await _drain(ws)
        return outcome

    async def fire(self, frames: list[hostile.Hostile], checkpoints: bool) -> Fired:
        outcomes: list[Outcome] = []
        stopped = None
        try:
            control = await self.good_turn("-", len(frames) + 1, control=True)
            for i, item in enumerate(frames):
                ws = await self.connection()
                await ws.send(item.payload, item.label)
                outcome = await answer_to(ws, item.label, self.socket.mode, self.timeout,
                                          may_stay_silent(self.socket.kind, item))
                outcome.payload_ct_chat = _ct_chat(item.payload)
                outcome.sent = _excerpt(item.payload)
                outcome.must_refuse = expects_refusal(self.socket.kind, item)
                outcomes.append(outcome)
                if outcome.answer == "silent":
                    stopped = item.label
                    if control.answer == "turn":  # ignored, or is the connection hung?
                        await self.good_turn(item.label, i)
                    break
                if outcome.answer == "turn":  # metrics may trail a turn's end
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
                     len(frames) - len(outcomes), self.reopen_problems, self.transcript,
                     control)


def _excerpt(payload) -> str:
    if isinstance(payload, bytes):
        return f"<{len(payload)} binary bytes> {payload[:80]!r}"
    return payload[:160] + (f"... ({len(payload)} characters)" if len(payload) > 160 else "")


def _ct_chat(payload) -> bool:
    """Whether a frame says it is a chat frame (a binary one says nothing: it is not read)."""
    if isinstance(payload, bytes):
        return False
    try:
        frame = json.loads(payload)
    except (ValueError, TypeError, RecursionError):
        return False
    return isinstance(frame, dict) and frame.get("ct") == "chat"


def costly(kind: str, item: hostile.Hostile) -> bool:
    """A full-depth frame a tolerant reader takes as a whole turn (a wrong-type pair or a
    mutation in optional fields of a send): on a real deployment each is a model call, and it
    judges little beyond what the single wrong-type frames judge."""
    return item.cls in (hostile.WRONG_PAIR, hostile.MUTATION) \
        and not expects_refusal(kind, item) and item.label.split("/")[1] in TURN_TYPES + ("any",)
