"""Client-conformance mode: the simulator grades the client that talks to it.

`astrbot-sim --client-mode` judges every frame a client sends on every WebSocket path against
the client rules of specs/requirements.yaml (profile `client`, ids CLIENT-*). `RULES` holds one
rule per id: what makes the rule apply in a run (else it is SKIPPED) and, in `Connection`, the
code that finds a breach. Each rule judges only what a server sees on the wire.

The WebSocket adapter calls three hooks, all no-ops when the mode is off:
`frame(request, session, msg)` for each received frame, before the engine handles it (so the
engine's state says whether a turn is processing); `closed(session)` when the socket ends;
`refused(request, refusal)` when a handshake is refused with close 1008. The run's verdicts are
written by `client_report` (results.json, junit.xml, summary.md) when the simulator stops and
served on `GET /_sim/client-report`.

Evidence entries use the suite's wire-log shape: `{"at_ms", "dir", "data"}`, with `dir` `>>`
for what the client sent and `--` for a note; the offending entry carries `violation`.

Adding a client rule: an entry in specs/requirements.yaml (profile `client`, a seed source),
its id in `RULES`, then in `Connection` (or `ClientMode.refused` for handshakes) count
`exercised[id]` where it applies and call `breach(id, entry, why)` where it is broken; and a
bad client in tests/test_client_mode.py `BAD_CLIENTS`. The simulator refuses to start in client
mode while the catalogue and `RULES` differ.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import WSMsgType

from .client_frames import ChannelFrames, channels

log = logging.getLogger("astrbot_sim.client_mode")
MAX_REFUSALS = 2  # the same refused handshake, this many times per run at most (CLIENT-AUTH-001)
EVIDENCE_PER_RULE = 20  # offending entries kept per connection and requirement
KEPT_CONNECTIONS = 200  # connections with a breach kept for the report
CLIP = 160  # characters of a string kept in evidence
SECRET = re.compile(r"abk_[A-Za-z0-9_\-]{8,}|eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class Rule:
    applies_when: str  # what must happen in a run for the rule to be judged, else SKIPPED


RULES: dict[str, Rule] = {
    "CLIENT-FRAME-001": Rule("a client sends a WebSocket frame"),
    "CLIENT-FRAME-002": Rule("a client sends a JSON object frame"),
    "CLIENT-CT-001": Rule("a client uses a Live API socket"),
    "CLIENT-AUDIO-001": Rule("a client sends a speaking_part"),
    "CLIENT-AUDIO-002": Rule("a client sends Base64 audio in a voice segment"),
    "CLIENT-SPEAK-001": Rule("a client starts or ends a voice segment"),
    "CLIENT-SPEAK-002": Rule("a client sends a speaking_part"),
    "CLIENT-BUSY-001": Rule("a turn runs on a client's connection"),
    "CLIENT-CONN-001": Rule("a client opens a WebSocket (refused or not)"),
    "CLIENT-AUTH-001": Rule("a client opens a WebSocket (refused or not)"),
}

# magic numbers of audio containers and compressed formats: not raw PCM (CLIENT-AUDIO-002)
CONTAINERS = ((b"RIFF", "a RIFF/WAV header"), (b"OggS", "an Ogg page"),
              (b"fLaC", "a FLAC stream"), (b"ID3", "an MP3 ID3 tag"),
              (b"\x1a\x45\xdf\xa3", "a WebM/Matroska header"), (b"#!AMR", "an AMR header"))


# live frame type -> its field that a narrower rule judges instead of CLIENT-FRAME-002
OWN_FIELDS = {"speaking_part": "data",  # CLIENT-AUDIO-001
              "start_speaking": "stamp", "end_speaking": "stamp"}  # CLIENT-SPEAK-001


def clip(value):
    """A frame as kept in evidence: long strings (Base64 audio) shortened, anything shaped like
    an API key or a JWT masked (secrets never reach a report)."""
    if isinstance(value, str):
        value = SECRET.sub("***", value)
        return value if len(value) <= CLIP else f"{value[:CLIP]}... ({len(value)} chars)"
    if isinstance(value, dict):
        return {k: clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v) for v in value[:20]]
    return value


def processing(session) -> bool:
    """Whether the engine has a live turn running: its TURN lane in any state but idle
    (simulator/live/states.py); the /api/v1/chat/ws engine has no live turn."""
    state = getattr(session, "turn_state", None)
    return state is not None and state.value != "idle"


@dataclass
class Connection:
    """One WebSocket connection and what its client did so far."""

    number: int
    path: str
    channel: ChannelFrames
    mode: str | None  # the mode the socket forces; None when each frame's ct chooses
    label: str
    opened: float = field(default_factory=time.monotonic)
    exercised: Counter = field(default_factory=Counter)
    violations: dict[str, list[dict]] = field(default_factory=dict)
    segment: str | None = None  # stamp of the open voice segment
    segment_bytes: int = 0
    busy: dict[int, dict] = field(default_factory=dict)  # turn number -> first busy frame entry
    session: object = None  # the engine, read for its turn count when the run is reported
    grader_errors: int = 0

    def turns(self) -> None:
        """CLIENT-BUSY-001 applies to a connection once a turn ran on it."""
        if getattr(self.session, "turns_started", 0) and not self.exercised["CLIENT-BUSY-001"]:
            self.exercised["CLIENT-BUSY-001"] += 1

    def entry(self, data, **extra) -> dict:
        return {"at_ms": round((time.monotonic() - self.opened) * 1000, 1), "dir": ">>",
                "data": clip(data), **extra}

    def breach(self, rid: str, entry: dict, why: str, *context: dict) -> None:
        kept = self.violations.setdefault(rid, [])
        if len(kept) < EVIDENCE_PER_RULE:
            kept.extend([*context, {**entry, "violation": why}])

    # one received frame ----------------------------------------------------------------------
    def receive(self, session, msg) -> None:
        if msg.type is WSMsgType.ERROR:
            if getattr(msg.data, "code", None) == 1007:  # aiohttp: invalid UTF-8 in a text frame
                self.exercised["CLIENT-FRAME-001"] += 1
                self.breach("CLIENT-FRAME-001", self.entry("<text frame>"),
                            "a text frame that is not valid UTF-8")
            return
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return
        self.exercised["CLIENT-FRAME-001"] += 1
        if msg.type is WSMsgType.BINARY:
            self.breach("CLIENT-FRAME-001", self.entry(f"<binary frame, {len(msg.data)} bytes>"),
                        "a binary frame: the protocol has UTF-8 JSON text frames only")
            return
        try:
            frame = json.loads(msg.data)
        except ValueError:
            self.breach("CLIENT-FRAME-001", self.entry(msg.data), "a text frame that is not JSON")
            return
        except RecursionError:
            self.breach("CLIENT-FRAME-001", self.entry(msg.data),
                        "JSON nested too deeply to decode")
            return
        if not isinstance(frame, dict):
            self.breach("CLIENT-FRAME-001", self.entry(frame),
                        f"a JSON {type(frame).__name__}, not an object")
            return
        entry = self.entry(frame)
        self.exercised["CLIENT-FRAME-002"] += 1
        mode, intended = self._modes(frame, entry)
        if intended in {m for m, _ in self.channel.validators}:
            self._schema(frame, intended, entry)
        if mode == "live" and intended == "live":
            self._live_rules(session, frame, entry)

    def _modes(self, frame: dict, entry: dict) -> tuple[str, str]:
        """(the mode the server reads the frame in, the mode the client meant); a `ct` that
        is not one of the channel's values, or contradicts it, breaches CLIENT-CT-001."""
        if self.channel.by == "forced" and self.mode == "openchat":
            return "openchat", "openchat"
        self.exercised["CLIENT-CT-001"] += 1
        ct = frame.get("ct")
        valid = self.channel.ct_values or ("live", "chat")
        if self.mode is not None:  # forced by the path or by the query
            if "ct" in frame and ct not in valid:
                self.breach("CLIENT-CT-001", entry, f"ct {ct!r} is not one of {list(valid)}")
                return self.mode, self.mode
            if "ct" in frame and ct != self.mode:
                self.breach("CLIENT-CT-001", entry,
                            f"ct {ct!r} on a socket in {self.mode} mode ({self.label})")
                return self.mode, ct
            return self.mode, self.mode
        mode = "chat" if ct == "chat" else "live"
        if "ct" in frame and ct not in valid:
            self.breach("CLIENT-CT-001", entry, f"ct {ct!r} is not one of {list(valid)}")
            intended = "chat" if frame.get("t") in self.channel.chat_only_types() else "live"
            return mode, intended
        if mode == "live" and frame.get("t") in self.channel.chat_only_types():
            self.breach("CLIENT-CT-001", entry, f"a chat {frame.get('t')!r} frame without "
                        "\"ct\": \"chat\" on a unified socket is read as a live frame")
            return mode, "chat"
        return mode, mode

    def _schema(self, frame: dict, mode: str, entry: dict) -> None:
        """Schema errors breach CLIENT-FRAME-002, except those a narrower rule judges: `ct`
        (CLIENT-CT-001), a live frame's `data` of speaking_part (CLIENT-AUDIO-001) and `stamp`
        of start/end_speaking (CLIENT-SPEAK-001)."""
        narrower = OWN_FIELDS.get(frame.get("t")) if mode == "live" else None
        _, errors = self.channel.check(frame, mode)
        problems = [f"{path or '(frame)'}: {message}" for path, message in errors
                    if path != "ct" and not (narrower and (path == narrower
                                                           or f"'{narrower}'" in message))]
        if problems:
            self.breach("CLIENT-FRAME-002", entry, "; ".join(problems))

    # live-mode protocol rules ----------------------------------------------------------------
    def _live_rules(self, session, frame: dict, entry: dict) -> None:
        kind = frame.get("t")
        if kind in ("text_input", "end_speaking") and processing(session):
            self._busy(session, entry)
        elif kind == "start_speaking":
            self.exercised["CLIENT-SPEAK-001"] += 1
            if not isinstance(frame.get("stamp"), str) or not frame["stamp"]:
                self.breach("CLIENT-SPEAK-001", entry, "start_speaking without a non-empty "
                            "string stamp: its end_speaking cannot name it")
                return  # the server opens no segment
            self.segment, self.segment_bytes = frame["stamp"], 0
        elif kind == "speaking_part":
            self._speaking_part(frame, entry)
        elif kind == "end_speaking":
            self._end_speaking(frame, entry)

    def _busy(self, session, entry: dict) -> None:
        """The engine answers this frame `Session is busy`; a second one in a turn breaches."""
        self.exercised["CLIENT-BUSY-001"] += 1
        turn = getattr(session, "turns_started", 0)
        first = self.busy.get(turn)
        if first is None:
            self.busy[turn] = {**entry, "note": "answered Session is busy"}
            return
        context = [] if first.get("reported") else [dict(first)]
        first["reported"] = True
        self.breach("CLIENT-BUSY-001", entry, f"sent again during turn {turn} after the server "
                    "had answered Session is busy", *context)

    def _speaking_part(self, frame: dict, entry: dict) -> None:
        self.exercised["CLIENT-AUDIO-001"] += 1
        self.exercised["CLIENT-SPEAK-002"] += 1
        if self.segment is None:
            self.breach("CLIENT-SPEAK-002", entry, "speaking_part outside a voice segment "
                        "(no start_speaking open)")
        data = frame.get("data")
        try:  # validate=True: the standard alphabet only, with its `=` padding
            pcm = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
        except (binascii.Error, ValueError):
            pcm = b""
        if not pcm:
            self.breach("CLIENT-AUDIO-001", entry, "data is not non-empty standard Base64")
            return
        if self.segment is None:
            return
        self.exercised["CLIENT-AUDIO-002"] += 1
        first = self.segment_bytes == 0  # a header opens a file; PCM samples may look like one
        self.segment_bytes += len(pcm)
        for magic, what in CONTAINERS if first else ():
            if pcm.startswith(magic):
                self.breach("CLIENT-AUDIO-002", entry,
                            f"the segment's audio starts with {what}: not raw 16-bit PCM")
                break

    def _end_speaking(self, frame: dict, entry: dict) -> None:
        stamp = frame.get("stamp")
        self.exercised["CLIENT-SPEAK-001"] += 1
        if not isinstance(stamp, str) or not stamp:
            self.breach("CLIENT-SPEAK-001", entry, "end_speaking without a non-empty string "
                        "stamp")
            return  # the server ignores it (research LIVE-008): the segment stays open
        if self.segment is None:
            self.breach("CLIENT-SPEAK-001", entry, "end_speaking with no voice segment open")
            return
        if stamp != self.segment:
            self.breach("CLIENT-SPEAK-001", entry,
                        f"stamp {stamp!r} is not the open segment's {self.segment!r}")
            return  # the server keeps the segment open (research LIVE-009)
        if self.segment_bytes % 2:
            self.breach("CLIENT-AUDIO-002", entry, f"the segment has {self.segment_bytes} "
                        "bytes: not a whole number of 16-bit samples")
        self.segment, self.segment_bytes = None, 0


def _credential(request) -> str:
    """A fingerprint of every credential carrier of a handshake (never the secret itself)."""
    q, h = request.query, request.headers
    raw = "|".join(str(x) for x in (q.get("api_key"), q.get("key"), q.get("token"),
                                    h.get("X-API-Key"), h.get("Authorization")))
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:12]


@dataclass
class Run:
    """Everything graded since the run started (start-up or the last reset)."""

    id: str
    started: float = field(default_factory=time.time)
    connections: int = 0
    exercised: Counter = field(default_factory=Counter)  # of connections already closed
    offenders: list[Connection] = field(default_factory=list)
    clean: Counter = field(default_factory=Counter)  # rid -> closed connections that kept it
    breached: Counter = field(default_factory=Counter)  # rid -> closed connections that broke it
    refusals: dict[tuple, list[dict]] = field(default_factory=dict)
    refused: Counter = field(default_factory=Counter)  # refused handshakes per request
    refusal_breaches: dict[str, list[tuple[str, list[dict]]]] = field(default_factory=dict)


class ClientMode:
    """The grader of one simulator; `enabled` False makes every hook a no-op."""

    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.open: dict[int, Connection] = {}
        self.run = self._new_run()

    @staticmethod
    def _new_run() -> Run:
        return Run(time.strftime("%Y%m%d-%H%M%S") + "-client")

    # hooks -----------------------------------------------------------------------------------
    def frame(self, request, session, msg) -> None:
        if not self.enabled:
            return
        conn = self.open.get(id(session))
        if conn is None:
            conn = self.open[id(session)] = self._connection(request)
            conn.session = session
            conn.exercised["CLIENT-AUTH-001"] += 1  # it connected: no refusal loop so far
            conn.exercised["CLIENT-CONN-001"] += 1  # and its handshake was accepted
        try:
            conn.receive(session, msg)
        except Exception:  # a grading bug must never break the simulator for the client
            log.warning("client mode could not grade a frame of connection %d", conn.number,
                        exc_info=not conn.grader_errors)
            conn.grader_errors += 1

    def closed(self, session) -> None:
        if not self.enabled:
            return
        conn = self.open.pop(id(session), None)
        if conn is not None:
            self._retire(conn)

    def refused(self, request, refusal) -> None:
        if not self.enabled:
            return
        channel = channels().get(request.path)
        query_ct = (request.query.get("ct") or "").strip()
        request_id = (request.path, _credential(request), request.query.get("username"),
                      request.query.get("ct"))
        attempts = self.run.refusals.setdefault(request_id, [])  # the first ones, as evidence
        self.run.refused[request_id] += 1
        count = self.run.refused[request_id]
        entry = {"at_ms": round((time.time() - self.run.started) * 1000, 1), "dir": "--",
                 "data": {"handshake": request.path, "credentials": request_id[1],
                          "username": request_id[2], "ct": request_id[3],
                          "close": 1008, "reason": getattr(refusal, "reason", str(refusal))}}
        if len(attempts) < EVIDENCE_PER_RULE - 1:
            attempts.append(entry)
        self.run.exercised["CLIENT-AUTH-001"] += 1
        if count > MAX_REFUSALS:
            earlier = [e for e in attempts if e is not entry]
            self._refusal_breach("CLIENT-AUTH-001", request_id, [*earlier, entry],
                                 f"the same refused handshake was tried {count} times "
                                 f"(at most {MAX_REFUSALS})")
        missing = channel.missing_in_handshake(request.query, request.headers) \
            if channel is not None else []
        self.run.exercised["CLIENT-CONN-001"] += 1
        if missing:
            self._refusal_breach("CLIENT-CONN-001", request_id, [entry],
                                 f"the handshake has no {' and no '.join(missing)}")
        if channel is not None and channel.by == "query":
            self.run.exercised["CLIENT-CT-001"] += 1
            if query_ct and query_ct not in channel.ct_values:
                self._refusal_breach("CLIENT-CT-001", request_id, [entry],
                                     f"query ct {query_ct!r} is not one of "
                                     f"{list(channel.ct_values)}")

    # runs ------------------------------------------------------------------------------------
    def reset(self) -> Run:
        """Start a new run; connections still open carry on with a clean record."""
        finished = self.run
        self.run = self._new_run()
        for conn in self.open.values():
            conn.exercised.clear()
            conn.violations.clear()
            conn.busy.clear()
        return finished

    def connections(self) -> list[Connection]:
        """The connections the report shows: every offender, closed or still open."""
        return [*self.run.offenders, *(c for c in self.open.values() if c.violations)]

    def exercised(self) -> Counter:
        total = Counter(self.run.exercised)
        for conn in self.open.values():
            conn.turns()
            total.update(conn.exercised)
        return total

    def breached(self) -> Counter:
        """Connections that broke each rule, kept in the report or not."""
        total = Counter(self.run.breached)
        for conn in self.open.values():
            total.update(conn.violations.keys())
        return total

    def clean(self) -> Counter:
        total = Counter(self.run.clean)
        for conn in self.open.values():
            conn.turns()
            total.update(rid for rid in conn.exercised if rid not in conn.violations)
        return total

    # helpers ---------------------------------------------------------------------------------
    def _connection(self, request) -> Connection:
        self.run.connections += 1
        channel = channels().get(request.path) or channels()["/api/v1/live/ws"]
        selection = channel.selection
        if selection["by"] == "forced":
            mode = selection["mode"]
        elif selection["by"] == "query":
            mode = (request.query.get(selection["parameter"]) or "").strip() \
                or selection["default"]
        else:
            mode = None
        peer = request.remote or "?"
        user = request.query.get("username")
        label = f"{request.path} mode {mode or 'per frame'}" + (f", username {user}"
                                                               if user else "")
        return Connection(self.run.connections, request.path, channel, mode,
                          f"{label}, from {peer}")

    def _retire(self, conn: Connection) -> None:
        conn.turns()
        conn.session = None
        self.run.exercised.update(conn.exercised)
        self.run.clean.update(rid for rid in conn.exercised if rid not in conn.violations)
        self.run.breached.update(conn.violations.keys())
        if conn.violations and len(self.run.offenders) < KEPT_CONNECTIONS:
            self.run.offenders.append(conn)

    def _refusal_breach(self, rid: str, request_id: tuple, attempts: list[dict],
                        why: str) -> None:
        title = (f"handshakes {request_id[0]} (credentials {request_id[1]}, "
                 f"username {request_id[2]!r}, ct {request_id[3]!r})")
        found = self.run.refusal_breaches.setdefault(rid, [])
        log = [*attempts[:-1], {**attempts[-1], "violation": why}]
        for i, (known, _) in enumerate(found):
            if known == title:
                found[i] = (title, log[-EVIDENCE_PER_RULE:])
                return
        found.append((title, log[-EVIDENCE_PER_RULE:]))
