"""Faults on demand: each kind armed through `/_sim/faults` and observed by an unmodified client
(plain `websockets` and aiohttp), the control surface's clear refusals, and a faults file armed
at start in a real `astrbot-sim` process."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest
import websockets
from aiohttp.test_utils import make_mocked_request

from conformance import launcher
from simulator import control
from simulator.config import SimConfig

from .conftest import start_sim, stop_sim

KEY = "abk_faults_test_key_0000000001"
WAIT = 20.0
PROCESSING_FAILED = "Processing failed: "


@pytest.fixture
async def faulty(tmp_path):
    running = await start_sim(SimConfig(data_dir=tmp_path / "data", api_key=KEY, faults=True))
    yield running
    await stop_sim(running)


async def arm(sim, *faults) -> list[dict]:
    status, body = await sim.call("POST", "/_sim/faults", json=list(faults))
    assert status == 200, body
    return body["data"]["faults"]


def live(sim, user: str = "alice"):
    return websockets.connect(sim.ws_url(f"/api/v1/live/ws?api_key={KEY}&username={user}"))


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def turn(ws, text: str = "hello there") -> list[dict]:
    """One text turn, up to its terminal frame (end and the metrics after it, stop_play or a
    processing error)."""
    await ws.send(json.dumps({"t": "text_input", "text": text}))
    frames = []
    while True:
        frames.append(await recv(ws))
        f = frames[-1]
        if f["t"] == "end":
            frames.append(await recv(ws))  # seed 000: metrics{wav_to_tts_total_time} follows
            return frames
        if f["t"] == "stop_play" or (f["t"] == "error" and f.get("code")
                                             == "PROCESSING_ERROR"
                                             and f["data"] != "Session is busy"):
            return frames


def types(frames) -> list[str]:
    return [f["t"] for f in frames]


async def test_the_control_surface_is_off_unless_enabled(sim):
    for method in ("GET", "POST", "DELETE"):
        status, body = await sim.call(method, "/_sim/faults", json={"kind": "fail"})
        assert status == 404 and "--faults" in body["message"], (method, body)


def test_the_control_surface_answers_loopback_peers_only():
    class Transport:
        def __init__(self, peer):
            self.peer = peer

        def get_extra_info(self, name, default=None):
            return self.peer if name == "peername" else default

    def request(peer):
        return make_mocked_request("GET", "/_sim/faults", transport=Transport(peer))

    assert control.is_loopback(request(("127.0.0.1", 5000)))
    assert control.is_loopback(request(("::1", 5000, 0, 0)))
    assert not control.is_loopback(request(("10.1.2.3", 5000)))

    async def refused():
        return await control.loopback_only(lambda r: None)(request(("192.0.2.7", 1)))

    response = asyncio.run(refused())
    assert response.status == 403 and "loopback" in json.loads(response.text)["message"]


async def test_slow_turns_for_one_user_then_normal_again(faulty):
    await arm(faulty, {"kind": "slow", "user": "alice", "delay_ms": 5000})
    async with live(faulty) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": "hi"}))
        assert (await recv(ws))["t"] == "metrics" and (await recv(ws))["t"] == "user_msg"
        await ws.send(json.dumps({"t": "interrupt"}))  # lands before the slow first delta
        assert await recv(ws) == {"t": "stop_play"}
        normal = await turn(ws)  # count 1: the fault is spent
    assert "bot_delta_chunk" in types(normal) and types(normal).count("end") == 1
    status, body = await faulty.call("GET", "/_sim/faults")
    assert body["data"]["faults"] == []


async def test_fail_hits_the_named_user_only(faulty):
    await arm(faulty, {"kind": "fail", "user": "alice", "after_deltas": 2})
    async with live(faulty, "bob") as ws:
        assert types(await turn(ws))[-2:] == ["end", "metrics"]
    async with live(faulty, "alice") as ws:
        frames = await turn(ws)
    assert types(frames).count("bot_delta_chunk") == 2
    assert frames[-1]["data"].startswith(PROCESSING_FAILED) and "end" not in types(frames)


async def test_stt_failure_hits_the_next_voice_turn_not_text(faulty):
    await arm(faulty, {"kind": "stt_fail"})
    async with live(faulty) as ws:
        assert "end" in types(await turn(ws))  # a text turn does not consume it
        pcm = base64.b64encode(b"\x01\x00" * 8000).decode()
        for frame in ({"t": "start_speaking", "stamp": "a"},
                      {"t": "speaking_part", "data": pcm}, {"t": "end_speaking", "stamp": "a"}):
            await ws.send(json.dumps(frame))
        frames = [await recv(ws) for _ in range(3)]
    assert types(frames) == ["metrics", "metrics", "error"]
    assert frames[2] == {"t": "error", "code": "PROCESSING_ERROR",
                         "data": "Processing failed: simulated speech-to-text failure"}


async def test_tts_failure_ends_the_turn_without_audio(faulty):
    await arm(faulty, {"kind": "tts_fail", "user": "alice"})
    async with live(faulty) as ws:
        frames = await turn(ws)
        again = await turn(ws)
    assert "response" not in types(frames) and "end" not in types(frames)
    assert frames[-1]["data"] == "Processing failed: simulated text-to-speech failure"
    assert "response" in types(again) and "end" in types(again)


async def test_drop_closes_the_socket_mid_turn(faulty):
    await arm(faulty, {"kind": "drop", "after_deltas": 1})
    async with live(faulty) as ws:
        await ws.send(json.dumps({"t": "text_input", "text": "one two three four"}))
        got = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                got.append(await recv(ws))
    assert types(got) == ["metrics", "user_msg", "bot_delta_chunk"]
    assert closed.value.rcvd is None  # no close frame: the client sees 1006


async def test_http_faults_by_operation_id_and_by_method_path(faulty):
    await arm(faulty, {"kind": "http", "operation": "getAuthSetupStatus", "status": 429},
              {"kind": "http", "operation": "GET /api/v1/stats/start-time", "status": 500,
               "count": 2})
    async with faulty.http.get(faulty.url + "/api/v1/auth/setup-status") as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "1"
        assert (await resp.json())["status"] == "error"
    for _ in range(2):
        status, body = await faulty.call("GET", "/api/v1/stats/start-time")
        assert status == 500 and "simulated" in body["message"]
    assert (await faulty.call("GET", "/api/v1/stats/start-time"))[0] == 200
    assert (await faulty.call("GET", "/api/v1/auth/setup-status"))[0] == 200


async def test_http_hang_outlasts_a_client_timeout(faulty):
    await arm(faulty, {"kind": "http", "operation": "getStartTime", "status": "hang",
                       "delay_ms": 3000})
    with pytest.raises(asyncio.TimeoutError):
        async with faulty.http.get(faulty.url + "/api/v1/stats/start-time",
                                   timeout=aiohttp.ClientTimeout(total=0.3)):
            pass


@pytest.mark.parametrize("body, fragment", [
    ({"kind": "explode"}, "kind must be one of"),
    ({"kind": "slow", "after_deltas": 1}, "unknown field(s) after_deltas"),
    ({"kind": "fail", "count": 0}, "count must be an integer from 1"),
    ({"kind": "slow", "delay_ms": "soon"}, "delay_ms must be an integer"),
    ({"kind": "http", "status": 429}, "needs operation"),
    ({"kind": "http", "operation": "x", "status": 503}, "status must be 429, 500 or \"hang\""),
    ({"kind": "fail", "user": ""}, "user must be a non-empty"),
    ([{"kind": "fail"}, {"kind": "nope"}], "fault #2: kind must be one of"),
    ("just text", "a fault is a JSON object"),
])
async def test_bad_faults_get_a_clear_400_and_arm_nothing(faulty, body, fragment):
    status, answer = await faulty.call("POST", "/_sim/faults", json=body)
    assert status == 400 and fragment in answer["message"], answer
    assert (await faulty.call("GET", "/_sim/faults"))[1]["data"]["faults"] == []


async def test_listing_and_disarming(faulty):
    first, second = await arm(faulty, {"kind": "fail"}, {"kind": "drop", "count": 3})
    assert (first["kind"], second["count"]) == ("fail", 3)
    assert (await faulty.call("DELETE", f"/_sim/faults/{first['id']}"))[0] == 200
    assert (await faulty.call("DELETE", "/_sim/faults/nope"))[0] == 404
    status, body = await faulty.call("POST", "/_sim/faults", data="{not json")
    assert status == 400 and "not JSON" in body["message"]
    assert (await faulty.call("DELETE", "/_sim/faults"))[1]["data"] == {"removed": 1}


def test_a_faults_file_is_armed_at_start(tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text('[[fault]]\nkind = "http"\noperation = "getStartTime"\nstatus = 500\n\n'
                      '[[fault]]\nkind = "fail"\nuser = "carol"\n')
    with launcher.simulator(["--faults-file", str(faults)],
                            env={"ASTRBOT_SIM_API_KEY": KEY}) as sim:
        async def go():
            async with aiohttp.ClientSession() as http:
                async with http.get(sim.url + "/_sim/faults") as resp:
                    armed = (await resp.json())["data"]["faults"]
                async with http.get(sim.url + "/api/v1/stats/start-time") as resp:
                    status = resp.status
            ws_url = sim.url.replace("http", "ws") + \
                f"/api/v1/live/ws?api_key={KEY}&username=carol"
            async with websockets.connect(ws_url) as ws:
                return armed, status, await turn(ws)

        armed, status, frames = asyncio.run(go())
    assert [f["kind"] for f in armed] == ["http", "fail"] and status == 500
    assert frames[-1]["data"].startswith("Processing failed: simulated LLM failure")


def test_a_bad_faults_file_stops_the_start_with_one_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "faults.json"
    bad.write_text('[{"kind": "slow", "delay_ms": -1}]')
    proc = subprocess.run([sys.executable, "-m", "simulator", "--data-dir", str(tmp_path / "d"),
                           "--faults-file", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "delay_ms must be an integer from 0" in lines[0], lines
