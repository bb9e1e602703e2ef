"""Locust users for an AstrBot deployment (or the reference simulator): live text and voice
turns over `/api/v1/live/ws` with an API key, live text turns over the dashboard JWT path
`/api/v1/live-chat/ws`, `POST /api/v1/chat` streamed to its end, and REST reads.

Every turn is checked with the suite's frame-order rules (`checks.py`, over
`conformance/invariants.py`); a broken rule is a Locust failure named `violation: <rule>`, a turn
with no terminal frame within `--turn-timeout` is one named `lost turn: ...` (the session is
then closed and opened again), a session the server closes is `session dropped: ...`. Latencies
are Locust request stats: a turn from its last client frame to its terminal frame.

    locust -f tools/load/locustfile.py --headless -H http://127.0.0.1:6185 \
        --api-key abk_... --jwt eyJ... -u 50 -r 10 -t 30s LiveTextUser SseChatUser

Usually started by `tools/load/run.py` (`./noxw -s load -- ...`), which also starts a target,
workers, and writes the summary. The WebSocket client is websocket-client, a blocking client
that gevent's monkey-patching (done by Locust) makes cooperative.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
import websocket
from locust import User, constant, constant_pacing, events, task
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from checks import ends_turn, failure_of, parse_frame, sse_failure  # noqa: E402

from conformance.audio import chunks_b64, speech_pcm  # noqa: E402

LIVE_PATH = "/api/v1/live/ws"
JWT_LIVE_PATH = "/api/v1/live-chat/ws"
CHAT_PATH = "/api/v1/chat"
READS = ("/api/v1/bots", "/api/v1/personas", "/api/v1/providers")
TEXT = "hello from the load test"
VOICE = chunks_b64(speech_pcm("hello from the voice load test"))
MIX_NAMES = {"text": "LiveTextUser", "voice": "LiveVoiceUser", "jwt": "JwtLiveUser",
             "jwtvoice": "JwtVoiceUser", "sse": "SseChatUser", "rest": "RestReadUser"}
DEFAULT_MIX = "text=4,voice=2,jwt=1,sse=1,rest=1"
_serial = itertools.count(1)


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--api-key", default="", help="API key with the chat scope (and the "
                        "read scopes for RestReadUser)")
    parser.add_argument("--jwt", default="", help="dashboard JWT (JwtLiveUser)")
    parser.add_argument("--username-prefix", default="load",
                        help="usernames are PREFIX-<pid>-<n>")
    parser.add_argument("--mix", default=DEFAULT_MIX,
                        help="user weights, e.g. text=4,voice=2,jwt=1,sse=1,rest=1")
    parser.add_argument("--turn-timeout", type=float, default=10.0,
                        help="seconds for one turn's terminal frame (or a handshake)")
    parser.add_argument("--pace", type=float, default=1.0,
                        help="seconds between two turns' starts per user; 0: closed loop")
    parser.add_argument("--summary-json", default="",
                        help="write the run's figures here when it ends (master/standalone)")


def parse_mix(text: str) -> dict[str, int]:
    """`text=4,voice=1` -> {"LiveTextUser": 4, "LiveVoiceUser": 1}; ValueError names a bad
    part."""
    weights: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in MIX_NAMES or not value.strip().isdigit():
            raise ValueError(f"bad --mix part {part!r}: NAME=WEIGHT with NAME one of "
                             f"{', '.join(MIX_NAMES)}")
        weights[MIX_NAMES[name.strip()]] = int(value)
    if not any(weights.values()):
        raise ValueError("--mix gives every user a weight of 0")
    return weights


@events.init.add_listener
def _configure(environment, **_kw) -> None:
    options = environment.parsed_options
    if options is None:
        return
    weights = parse_mix(options.mix)
    for cls in environment.user_classes:
        if cls.__name__ in weights and weights[cls.__name__] > 0:
            cls.weight = weights[cls.__name__]
    environment.user_classes[:] = [c for c in environment.user_classes
                                   if weights.get(c.__name__, 1) > 0]


TURN_NAMES = ("live text turn", "live voice turn", "jwt live text turn", "jwt live voice turn",
              "chat stream")


def _row(entry) -> dict:
    return {"type": entry.method, "name": entry.name, "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5) if entry.num_requests else None,
            "p99_ms": entry.get_response_time_percentile(0.99) if entry.num_requests else None,
            "max_ms": round(entry.max_response_time, 1)}


@events.quitting.add_listener
def _write_summary(environment, **_kw) -> None:
    """The master's (or the standalone runner's) figures, as JSON for tools/load/run.py."""
    options = environment.parsed_options
    if options is None or not options.summary_json or isinstance(environment.runner,
                                                                 WorkerRunner):
        return
    stats = environment.stats
    turns = StatsEntry(stats, "all turns", "TURNS")
    for entry in stats.entries.values():
        if entry.name in TURN_NAMES:
            turns.extend(entry)
    failures = [{"type": e.method, "name": e.name, "error": str(e.error),
                 "occurrences": e.occurrences} for e in stats.errors.values()]
    start, last = stats.total.start_time, stats.total.last_request_timestamp
    Path(options.summary_json).write_text(json.dumps({
        "duration_s": round(max(0.0, (last or start) - start), 3),
        "rows": [_row(e) for e in stats.entries.values()], "turns": _row(turns),
        "failures": failures}, indent=1))


class _Base(User):
    abstract = True

    def wait_time(self):
        pace = self.environment.parsed_options.pace
        return (constant_pacing(pace) if pace > 0 else constant(0))(self)

    @property
    def opts(self):
        return self.environment.parsed_options

    def username(self) -> str:
        return f"{self.opts.username_prefix}-{os.getpid()}-{next(_serial)}"

    def record(self, kind: str, name: str, started: float, failure: str | None,
               length: int = 0) -> None:
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=length, exception=failure, context={})


class _LiveUser(_Base):
    """One WebSocket session per user, opened at start and again after a lost turn or a
    drop; one turn per task."""

    abstract = True
    turn_name = "turn"

    def on_start(self) -> None:
        self.ws = None
        self.name = self.username()

    def on_stop(self) -> None:
        self.close()

    def url(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self.ws.close(timeout=1)
            self.ws = None

    def connect(self) -> bool:
        started = time.perf_counter()
        try:
            self.ws = websocket.create_connection(self.url(), timeout=self.opts.turn_timeout,
                                                  enable_multithread=False)
        except websocket.WebSocketBadStatusException as exc:
            self.ws = None
            self.record("WS", "connect", started, f"connect refused: HTTP {exc.status_code}")
            return False
        except (OSError, websocket.WebSocketException) as exc:
            self.ws = None
            self.record("WS", "connect", started, f"connect failed: {type(exc).__name__}")
            return False
        self.record("WS", "connect", started, None)
        return True

    def send_input(self) -> None:
        raise NotImplementedError

    @task
    def turn(self) -> None:
        if self.ws is None and not self.connect():
            return
        frames: list[dict] = []
        started = time.perf_counter()
        deadline = started + self.opts.turn_timeout
        length = 0
        try:
            self.send_input()
            started = time.perf_counter()  # the turn is timed from its last client frame
            while not ends_turn(frames):
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise websocket.WebSocketTimeoutException()
                self.ws.settimeout(remaining)
                raw = self.ws.recv()
                length += len(raw)
                frames.append(parse_frame(raw))
        except websocket.WebSocketTimeoutException:
            self.record("WS", self.turn_name, started,
                        f"lost turn: no terminal frame within {self.opts.turn_timeout:g} s")
            self.close()
            return
        except (OSError, websocket.WebSocketException) as exc:
            self.record("WS", "session dropped", started,
                        f"session dropped: {type(exc).__name__}")
            self.close()
            return
        self.record("WS", self.turn_name, started, failure_of(frames), length)


class LiveTextUser(_LiveUser):
    """`text_input` turns over /api/v1/live/ws with an API key."""

    turn_name = "live text turn"

    def url(self) -> str:
        return (_ws(self.host) + LIVE_PATH + f"?api_key={quote(self.opts.api_key)}"
                f"&username={quote(self.name)}")

    def send_input(self) -> None:
        self.ws.send(json.dumps({"t": "text_input", "text": TEXT}))


class LiveVoiceUser(LiveTextUser):
    """Voice turns: start_speaking, the speech as Base64 PCM parts, end_speaking."""

    turn_name = "live voice turn"
    stamps = itertools.count(1)

    def send_input(self) -> None:
        stamp = f"seg_{next(self.stamps):06d}"
        self.ws.send(json.dumps({"t": "start_speaking", "stamp": stamp}))
        for part in VOICE:
            self.ws.send(json.dumps({"t": "speaking_part", "data": part}))
        self.ws.send(json.dumps({"t": "end_speaking", "stamp": stamp}))


class JwtLiveUser(LiveTextUser):
    """Text turns over the dashboard path /api/v1/live-chat/ws with a JWT."""

    turn_name = "jwt live text turn"

    def url(self) -> str:
        return _ws(self.host) + JWT_LIVE_PATH + f"?token={quote(self.opts.jwt)}"


class JwtVoiceUser(LiveVoiceUser):
    """Voice turns over /api/v1/live-chat/ws with a JWT (real AstrBot 4.26.2's live path
    takes audio only: research LIVE-001, DIFF-001)."""

    turn_name = "jwt live voice turn"
    url = JwtLiveUser.url


class SseChatUser(_Base):
    """POST /api/v1/chat, its event stream read to `end`."""

    def on_start(self) -> None:
        self.http = requests.Session()
        self.name = self.username()

    @task
    def chat(self) -> None:
        started = time.perf_counter()
        events_seen: list = []
        failure = None
        try:
            with self.http.post(self.host.rstrip("/") + CHAT_PATH, stream=True,
                                json={"message": TEXT, "username": self.name},
                                headers={"X-API-Key": self.opts.api_key},
                                timeout=self.opts.turn_timeout) as resp:
                if not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
                    failure = f"HTTP {resp.status_code}: not an event stream"
                else:
                    for line in resp.iter_lines(decode_unicode=True):
                        if line and line.startswith("data:"):
                            try:
                                events_seen.append(json.loads(line[5:].strip()))
                            except ValueError:
                                events_seen.append(None)
                            if isinstance(events_seen[-1], dict) \
                                    and events_seen[-1].get("type") == "end":
                                break
                        if time.perf_counter() - started > self.opts.turn_timeout:
                            raise requests.Timeout()
                    failure = sse_failure(events_seen)
        except requests.Timeout:
            failure = f"lost turn: no end event within {self.opts.turn_timeout:g} s"
        except requests.RequestException as exc:
            failure = f"session dropped: {type(exc).__name__}"
        self.record("SSE", "chat stream", started, failure)


class RestReadUser(_Base):
    """GET reads with the API key."""

    def on_start(self) -> None:
        self.http = requests.Session()
        self.reads = itertools.cycle(READS)

    @task
    def read(self) -> None:
        path = next(self.reads)
        started = time.perf_counter()
        failure = None
        try:
            resp = self.http.get(self.host.rstrip("/") + path, timeout=self.opts.turn_timeout,
                                 headers={"X-API-Key": self.opts.api_key})
            if resp.status_code != 200:
                failure = f"HTTP {resp.status_code}"
        except requests.Timeout:
            failure = f"lost request: no answer within {self.opts.turn_timeout:g} s"
        except requests.RequestException as exc:
            failure = f"connection error: {type(exc).__name__}"
        self.record("GET", path, started, failure)


def _ws(host: str) -> str:
    return host.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
