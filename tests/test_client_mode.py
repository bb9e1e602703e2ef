"""Client-conformance mode, end to end: a real `astrbot-sim --client-mode` process on a free
loopback port grades plain `websockets` clients. A good client (text turn, busy error, interrupt,
a voice turn with real 16 kHz WAV PCM, chat mode bind/send, the unified and openchat sockets)
gets PASS on every CLIENT-* requirement; each deliberately bad client FAILs exactly its own.

One simulator serves the module; `DELETE /_sim/client-report` starts a new run before each
client, `GET` reads the verdicts. The report files are checked once the process is stopped
(SIGTERM, by its PID).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import struct
import urllib.error
import urllib.request
import wave
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
import websockets
from aiohttp import WSMessage, WSMsgType

from conformance import report as suite_report
from conformance.catalogue import load
from conformance.launcher import simulator
from conformance.redact import Redactor
from simulator import client_report
from simulator.client_mode import KEPT_CONNECTIONS, RULES, ClientMode

WAIT = 15.0  # seconds: bound of every single wait on the simulator
SLOW = "[[sim:first_delay=3000]] tell me a long story"  # a turn still running when we send more


def http(base: str, method: str, path: str, body=None, token: str | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=WAIT) as resp:
        return json.loads(resp.read())


class Target:
    def __init__(self, url: str, report_dir: Path):
        self.url, self.report_dir = url, report_dir
        self.ws = url.replace("http://", "ws://")
        account = {"username": "admin", "password": "Passw0rd-admin"}
        self.jwt = http(url, "POST", "/api/v1/auth/setup",
                        {**account, "confirm_password": account["password"]})["data"]["token"]
        self.key = http(url, "POST", "/api/v1/api-keys", {"name": "client-mode", "scopes":
                        ["chat"]}, token=self.jwt)["data"]["api_key"]

    def live(self, query: str = "") -> str:
        return f"{self.ws}/api/v1/live/ws?api_key={self.key}&username=alice{query}"

    def new_run(self) -> None:
        http(self.url, "DELETE", "/_sim/client-report")

    def report(self) -> dict:
        return http(self.url, "GET", "/_sim/client-report")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("client-report")
    with simulator(["--client-mode", "--client-report", str(report_dir),
                    "--timing-profile", "fast"]) as launched:
        yield Target(launched.url, report_dir)  # the launcher stops it by its PID


async def frame(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def until(ws, done) -> list[dict]:
    """Frames up to and including the first one `done` accepts."""
    seen = []
    while True:
        seen.append(await frame(ws))
        if done(seen[-1]):
            return seen


def live_type(kind):
    return lambda f: f.get("t") == kind


def turn_over(f: dict) -> bool:
    return f.get("t") in ("end", "stop_play", "error") and f.get("code") != "PROCESSING_ERROR"


def chat_end(f: dict) -> bool:
    return f.get("type") == "end" or f.get("t") == "error"


def wav_file(seconds: float = 0.6) -> bytes:
    """A real 16 kHz, mono, 16-bit WAV file: a 440 Hz tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i
                                                                        / 16000)))
                               for i in range(int(16000 * seconds))))
    return out.getvalue()


def pcm_of(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return w.readframes(w.getnframes())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def send(ws, obj) -> None:
    await ws.send(json.dumps(obj))


async def refused(url: str) -> None:
    """Connect, read the error frame, see the 1008 close."""
    async with websockets.connect(url, open_timeout=WAIT) as ws:
        error = await frame(ws)
        assert error.get("type") == "error", error
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await frame(ws)
    assert closed.value.rcvd.code == 1008


async def voice_turn(ws, pcm: bytes, stamp: str = "seg_001") -> list[dict]:
    await send(ws, {"t": "start_speaking", "stamp": stamp})
    for i in range(0, len(pcm), 3200):  # 100 ms per frame
        await send(ws, {"t": "speaking_part", "data": b64(pcm[i:i + 3200])})
    await send(ws, {"t": "end_speaking", "stamp": stamp})
    return await until(ws, turn_over)


# the good client --------------------------------------------------------------------------------
async def good_client(t: Target) -> None:
    await refused(t.live().replace(t.key, "abk_not-a-key-0000"))  # once, then the right key
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "text_input", "text": "Hello, what is the weather today?"})
        assert (await until(ws, turn_over))[-1]["t"] == "end"
        await send(ws, {"t": "text_input", "text": SLOW})
        await until(ws, live_type("user_msg"))
        await send(ws, {"t": "text_input", "text": "are you there?"})  # during the turn
        busy = await until(ws, live_type("error"))
        assert busy[-1]["code"] == "PROCESSING_ERROR"  # then it waits, and interrupts
        await send(ws, {"t": "interrupt"})
        await until(ws, live_type("stop_play"))
        assert (await voice_turn(ws, pcm_of(wav_file())))[-1]["t"] == "end"
    async with websockets.connect(t.live("&ct=chat"), open_timeout=WAIT) as ws:
        await send(ws, {"ct": "chat", "t": "bind", "session_id": "session_001"})
        assert (await frame(ws))["type"] == "session_bound"
        await send(ws, {"ct": "chat", "t": "send", "session_id": "session_001",
                        "message_id": "msg_001",
                        "message": [{"type": "plain", "text": "Please summarize this"}]})
        assert (await until(ws, chat_end))[-1]["type"] == "end"
    async with websockets.connect(f"{t.ws}/api/unified_chat/ws?token={t.jwt}",
                                  open_timeout=WAIT) as ws:
        await send(ws, {"ct": "chat", "t": "bind", "session_id": "session_002"})
        assert (await frame(ws))["type"] == "session_bound"
        await send(ws, {"t": "text_input", "text": "hello from the unified socket"})
        assert (await until(ws, turn_over))[-1]["t"] == "end"
    async with websockets.connect(f"{t.ws}/api/v1/chat/ws?api_key={t.key}",
                                  open_timeout=WAIT) as ws:
        await send(ws, {"t": "ping"})
        assert (await frame(ws))["type"] == "pong"
        await send(ws, {"t": "send", "message": "hello", "username": "alice"})
        assert (await until(ws, chat_end))[-1]["type"] == "end"


async def test_a_good_client_passes_every_client_requirement(target):
    target.new_run()
    await good_client(target)
    doc = target.report()
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts == dict.fromkeys(RULES, "PASS"), \
        [(r["id"], r["verdict"], r["reason"]) for r in doc["requirements"]
         if r["verdict"] != "PASS"]
    assert doc["summary"]["conformant"] and doc["run"]["connections"] == 4
    assert doc["run"]["refused_handshakes"] == 1


async def test_a_text_only_client_fails_nothing_and_its_audio_rules_are_skipped(target):
    target.new_run()
    async with websockets.connect(target.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "text_input", "text": "Hello"})
        assert (await until(ws, turn_over))[-1]["t"] == "end"
    verdicts = {r["id"]: r["verdict"] for r in target.report()["requirements"]}
    audio = {"CLIENT-AUDIO-001", "CLIENT-AUDIO-002", "CLIENT-SPEAK-001", "CLIENT-SPEAK-002"}
    assert {k for k, v in verdicts.items() if v == "SKIPPED"} == audio, verdicts
    assert {k for k, v in verdicts.items() if v == "PASS"} == set(RULES) - audio, verdicts


# bad clients: each breaks one rule --------------------------------------------------------------
async def binary_frame(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await ws.send(b"\x00\x01binary")
        await until(ws, live_type("error"))


async def not_json(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await ws.send("text_input hello")
        await until(ws, live_type("error"))


async def invalid_utf8(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await ws.send(b'{"t": "text_input", "text": "\xff"}', text=True)  # a text frame
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await frame(ws)
    assert closed.value.rcvd.code == 1007  # the transport refuses it (RFC 6455 8.1)


async def json_array(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await ws.send('[{"t": "text_input", "text": "hello"}]')
        await until(ws, live_type("error"))


async def unknown_type(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "say", "text": "hello"})
        await until(ws, live_type("error"))


async def undeclared_field(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "text_input", "text": "hello", "voice": "alloy"})
        await until(ws, turn_over)


async def key_in_a_frame(t):  # an undeclared field; the key must not reach the report
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "text_input", "text": f"my key is {t.key}", "api_key": t.key})
        await until(ws, turn_over)


async def openchat_without_username(t):
    async with websockets.connect(f"{t.ws}/api/v1/chat/ws?api_key={t.key}",
                                  open_timeout=WAIT) as ws:
        await send(ws, {"t": "send", "message": "hello"})
        assert (await frame(ws))["type"] == "error"


async def query_ct_unknown(t):
    await refused(t.live("&ct=voice"))


async def frame_ct_unknown(t):
    async with websockets.connect(f"{t.ws}/api/unified_chat/ws?token={t.jwt}",
                                  open_timeout=WAIT) as ws:
        await send(ws, {"ct": "voice", "t": "text_input", "text": "hello"})
        await until(ws, turn_over)


async def chat_frame_without_ct(t):
    async with websockets.connect(f"{t.ws}/api/unified_chat/ws?token={t.jwt}",
                                  open_timeout=WAIT) as ws:
        await send(ws, {"t": "bind", "session_id": "session_001"})  # read as a live frame
        await until(ws, live_type("error"))


async def chat_ct_on_live_socket(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"ct": "chat", "t": "interrupt"})
        await send(ws, {"t": "text_input", "text": "hello"})
        await until(ws, turn_over)


async def audio_not_base64(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "start_speaking", "stamp": "s1"})
        await send(ws, {"t": "speaking_part", "data": "PCM bytes, not base64!"})
        await send(ws, {"t": "end_speaking", "stamp": "s1"})
        await until(ws, live_type("error"))


async def audio_empty(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "start_speaking", "stamp": "s1"})
        await send(ws, {"t": "speaking_part", "data": ""})
        await send(ws, {"t": "end_speaking", "stamp": "s1"})
        await until(ws, live_type("error"))


async def audio_wav_file(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await voice_turn(ws, wav_file())  # the whole file, header included


async def audio_odd_bytes(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await voice_turn(ws, pcm_of(wav_file())[:-1])  # half a sample at the end


async def stamp_mismatch(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "start_speaking", "stamp": "seg_001"})
        await send(ws, {"t": "speaking_part", "data": b64(pcm_of(wav_file(0.2)))})
        await send(ws, {"t": "end_speaking", "stamp": "seg_002"})
        await until(ws, live_type("error"))


async def end_without_start(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "end_speaking", "stamp": "seg_001"})
        await until(ws, live_type("error"))


async def end_without_stamp(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "start_speaking", "stamp": "seg_001"})
        await send(ws, {"t": "speaking_part", "data": b64(pcm_of(wav_file(0.2)))})
        await send(ws, {"t": "end_speaking"})
        await send(ws, {"t": "interrupt"})  # answered with nothing: the socket still works


async def part_before_start(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "speaking_part", "data": b64(pcm_of(wav_file(0.2)))})
        await until(ws, live_type("error"))


async def part_after_end(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        pcm = pcm_of(wav_file(0.2))
        await voice_turn(ws, pcm)
        await send(ws, {"t": "speaking_part", "data": b64(pcm)})
        await until(ws, live_type("error"))


async def busy_twice(t):
    async with websockets.connect(t.live(), open_timeout=WAIT) as ws:
        await send(ws, {"t": "text_input", "text": SLOW})
        await until(ws, live_type("user_msg"))
        for _ in range(2):  # the second one after it has seen the busy error
            await send(ws, {"t": "text_input", "text": "are you there?"})
            assert (await until(ws, live_type("error")))[-1]["code"] == "PROCESSING_ERROR"
        await send(ws, {"t": "interrupt"})
        await until(ws, live_type("stop_play"))


async def no_username(t):
    await refused(f"{t.ws}/api/v1/live/ws?api_key={t.key}")


async def no_api_key(t):
    await refused(f"{t.ws}/api/v1/live/ws?username=alice")


async def jwt_path_without_token(t):
    async with websockets.connect(f"{t.ws}/api/live_chat/ws", open_timeout=WAIT) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await frame(ws)  # no frame: the JWT paths close at once (seed 000)
    assert closed.value.rcvd.code == 1008


async def reconnect_loop(t):
    for _ in range(3):  # the same refused request a third time: a loop
        await refused(t.live().replace(t.key, "abk_not-a-key-0000"))


BAD_CLIENTS = [
    ("CLIENT-FRAME-001", binary_frame), ("CLIENT-FRAME-001", not_json),
    ("CLIENT-FRAME-001", json_array), ("CLIENT-FRAME-001", invalid_utf8),
    ("CLIENT-FRAME-002", unknown_type), ("CLIENT-FRAME-002", undeclared_field),
    ("CLIENT-FRAME-002", openchat_without_username), ("CLIENT-FRAME-002", key_in_a_frame),
    ("CLIENT-CT-001", query_ct_unknown), ("CLIENT-CT-001", frame_ct_unknown),
    ("CLIENT-CT-001", chat_frame_without_ct), ("CLIENT-CT-001", chat_ct_on_live_socket),
    ("CLIENT-AUDIO-001", audio_not_base64), ("CLIENT-AUDIO-001", audio_empty),
    ("CLIENT-AUDIO-002", audio_wav_file), ("CLIENT-AUDIO-002", audio_odd_bytes),
    ("CLIENT-SPEAK-001", stamp_mismatch), ("CLIENT-SPEAK-001", end_without_start),
    ("CLIENT-SPEAK-001", end_without_stamp),
    ("CLIENT-SPEAK-002", part_before_start), ("CLIENT-SPEAK-002", part_after_end),
    ("CLIENT-BUSY-001", busy_twice),
    ("CLIENT-CONN-001", no_username), ("CLIENT-CONN-001", no_api_key),
    ("CLIENT-CONN-001", jwt_path_without_token),
    ("CLIENT-AUTH-001", reconnect_loop),
]


def test_every_rule_has_a_bad_client():
    assert {rid for rid, _ in BAD_CLIENTS} == set(RULES)


@pytest.mark.parametrize("rid, client", BAD_CLIENTS, ids=[c.__name__ for _, c in BAD_CLIENTS])
async def test_a_bad_client_fails_exactly_its_own_requirement(target, rid, client):
    target.new_run()
    await client(target)
    doc = target.report()
    failed = {r["id"]: r for r in doc["requirements"] if r["verdict"] != "PASS"
              and r["verdict"] != "SKIPPED"}
    assert set(failed) == {rid}, {k: v["reason"] for k, v in failed.items()}
    req = failed[rid]
    assert req["verdict"] == "FAIL" and req["reason"]
    offending = [e for c in req["checks"] if c["verdict"] == "FAIL"
                 for ev in c["evidence"] for e in ev["log"] if "violation" in e]
    assert offending, req["checks"]
    assert target.key not in json.dumps(doc)  # credentials never reach the report
    assert not doc["summary"]["conformant"]


def test_the_report_is_written_in_the_suites_formats_when_the_simulator_stops(tmp_path):
    report_dir = tmp_path / "report"
    with simulator(["--client-report", str(report_dir), "--timing-profile", "fast"]) as sim:
        t = Target(sim.url, report_dir)
        asyncio.run(stamp_mismatch(t))
        sim.process.terminate()
        sim.process.wait(WAIT)
    doc = json.loads((report_dir / "results.json").read_text())
    suite = suite_report.build([suite_report.RequirementResult(
        next(iter(load().requirements.values())))], {}, Redactor())
    assert set(doc) == set(suite)  # the suite's shape: tools read both
    assert set(doc["requirements"][0]) == set(suite["requirements"][0])
    assert doc["schema"] == "astrbot-conformance-results/1" and doc["run"]["kind"] == "client"
    by_id = {r["id"]: r for r in doc["requirements"]}
    assert set(by_id) == set(RULES)
    assert {k for k in by_id["CLIENT-SPEAK-001"]} >= {"id", "level", "profile", "source", "text",
                                                      "verdict", "reason", "checks"}
    assert by_id["CLIENT-SPEAK-001"]["verdict"] == "FAIL"
    assert by_id["CLIENT-BUSY-001"]["verdict"] == "SKIPPED"  # no turn ran
    assert by_id["CLIENT-BUSY-001"]["reason"].startswith("not judged")
    junit = (report_dir / "junit.xml").read_text()
    assert 'name="CLIENT-SPEAK-001 [MUST]"' in junit and "<failure" in junit
    summary = (report_dir / "summary.md").read_text()
    assert "| FAIL | `CLIENT-SPEAK-001` |" in summary and "seg_002" in summary


def test_a_frame_nested_too_deep_to_decode_is_graded_not_raised():
    """The grader itself, without a socket: JSON too deep for the decoder fails
    CLIENT-FRAME-001 and the hook returns normally."""
    grader = ClientMode(enabled=True)
    request = SimpleNamespace(path="/api/v1/live/ws", query={"username": "alice"},
                              remote="127.0.0.1")
    session = SimpleNamespace(phase=None, turns_started=0)
    grader.frame(request, session, WSMessage(WSMsgType.TEXT, '{"t": ' * 50_000 + "1"
                                             + "}" * 50_000, None))
    grader.closed(session)
    (conn,) = grader.connections()
    assert [e["violation"] for e in conn.violations["CLIENT-FRAME-001"]] == [
        "JSON nested too deeply to decode"]


def test_offenders_beyond_the_kept_ones_still_fail_the_rule():
    """The report keeps evidence of the first KEPT_CONNECTIONS offenders only; the rest are
    counted, so a rule that only later connections broke still FAILs."""
    grader = ClientMode(enabled=True)
    for n in range(KEPT_CONNECTIONS + 50):
        request = SimpleNamespace(path="/api/v1/live/ws", query={"username": "alice"},
                                  remote="127.0.0.1")
        session = SimpleNamespace(phase=None, turns_started=0)
        kind = WSMsgType.TEXT if n < KEPT_CONNECTIONS else WSMsgType.BINARY
        data = '{"t": "dance"}' if kind is WSMsgType.TEXT else b"\x00"  # FRAME-002, -001
        grader.frame(request, session, WSMessage(kind, data, None))
        grader.closed(session)
    by_id = {r["id"]: r for r in client_report.build(grader)["requirements"]}
    assert by_id["CLIENT-FRAME-001"]["verdict"] == "FAIL"
    assert by_id["CLIENT-FRAME-001"]["checks"][0]["nodeid"] == "50 more connection(s) that " \
        "broke the rule"
    assert len(by_id["CLIENT-FRAME-002"]["checks"]) == KEPT_CONNECTIONS  # all kept, as FAIL


def test_the_report_is_served_as_markdown_and_junit_and_bad_formats_get_an_error(target):
    target.new_run()
    asyncio.run(stamp_mismatch(target))
    with urllib.request.urlopen(target.url + "/_sim/client-report?format=markdown",
                                timeout=WAIT) as resp:
        assert resp.headers["Content-Type"].startswith("text/markdown")
        assert "| FAIL | `CLIENT-SPEAK-001` |" in resp.read().decode()
    with urllib.request.urlopen(target.url + "/_sim/client-report?format=junit",
                                timeout=WAIT) as resp:
        assert b'name="CLIENT-SPEAK-001 [MUST]"' in resp.read()
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(target.url + "/_sim/client-report?format=pdf", timeout=WAIT)
    assert bad.value.code == 400
    assert json.loads(bad.value.read())["message"].startswith("format must be one of")


async def test_without_client_mode_the_report_is_a_404_and_nothing_is_graded(sim):
    status, body = await sim.call("GET", "/_sim/client-report")
    assert status == 404 and body["status"] == "error" and "--client-mode" in body["message"]
    key = (await sim.new_key(["chat"]))["api_key"]
    url = sim.ws_url(f"/api/v1/live/ws?api_key={key}&username=alice")
    async with sim.http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=WAIT)) as ws:
        await ws.send_bytes(b"\x00")  # a breach, were the mode on
        assert (await ws.receive_json(timeout=WAIT))["t"] == "error"
    grader = sim.sim.clients
    assert not grader.enabled and grader.run.connections == 0 and not grader.exercised()
