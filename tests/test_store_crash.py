"""kill -9 of a simulator in the middle of a write burst loses no acknowledged write (issue 15).

A real simulator process on a real SQLite file under tmp; 8 concurrent writers create personas
and chat sessions over HTTP; once enough writes were acknowledged (a 2xx received) the process
is killed with SIGKILL (by the PID this test started) while the writers are still sending.
Restarted on the same data directory, every acknowledged write is there, and SQLite's
`PRAGMA integrity_check` is ok. A few rounds on the same data directory; each round is bounded
by counts (writes acknowledged), never by a sleep."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import aiohttp
import pytest

from conformance.launcher import free_port, ready, stop

KEY = "abk_store_crash_test_key_0123456789abcdef"
ENV = {"ASTRBOT_SIM_ADMIN_USERNAME": "admin", "ASTRBOT_SIM_ADMIN_PASSWORD": "Passw0rd-crash",
       "ASTRBOT_SIM_API_KEY": KEY, "PYTHONUNBUFFERED": "1"}
WRITERS = 8
ROUNDS = 3
KILL_AFTER = 120  # acknowledged writes in a round before the kill
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)

pytestmark = pytest.mark.slow


def launch(data_dir, port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--log-level", "WARNING", "--timing-profile", "instant"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENV})
    deadline = time.monotonic() + START_TIMEOUT
    while not ready(f"http://127.0.0.1:{port}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise AssertionError(f"the simulator did not start (exit {proc.returncode})")
        time.sleep(0.1)
    return proc


async def burst(url: str, proc: subprocess.Popen, round_no: int) -> tuple[set, set]:
    """Writers create personas and chat sessions until the process is killed (after
    KILL_AFTER acknowledgements); returns the acknowledged persona ids and session ids."""
    personas, sessions = set(), set()
    killed = asyncio.Event()
    headers = {"X-API-Key": KEY}

    async def writer(session: aiohttp.ClientSession, n: int) -> None:
        i = 0
        while not killed.is_set():
            i += 1
            try:
                if i % 3:
                    pid = f"crash-{round_no}-{n}-{i}"
                    async with session.post(url + "/api/v1/personas", headers=headers, json={
                            "persona_id": pid, "system_prompt": f"round {round_no}"}) as resp:
                        assert resp.status == 200, await resp.text()
                        personas.add(pid)
                else:
                    async with session.get(url + "/api/v1/chat/sessions/new?username=crash",
                                           headers=headers) as resp:
                        assert resp.status == 200, await resp.text()
                        sessions.add((await resp.json())["data"]["session_id"])
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                if proc.poll() is None and not killed.is_set():
                    raise
                return
            if len(personas) + len(sessions) >= KILL_AFTER and not killed.is_set():
                killed.set()
                os.kill(proc.pid, signal.SIGKILL)  # mid-burst: the other writers are sending

    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        await asyncio.wait_for(asyncio.gather(*(writer(session, n) for n in range(WRITERS))),
                               timeout=60)
    proc.wait(10)
    return personas, sessions


async def present(url: str) -> tuple[set, set]:
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
        async with session.get(url + "/api/v1/personas", headers={"X-API-Key": KEY}) as resp:
            personas = {p["persona_id"] for p in (await resp.json())["data"]}
        async with session.get(url + "/api/v1/chat/sessions?username=crash&page_size=100&page=1",
                               headers={"X-API-Key": KEY}) as resp:
            body = (await resp.json())["data"]
        found, page = {s["session_id"] for s in body["sessions"]}, 1
        while len(found) < body["total"]:
            page += 1
            async with session.get(url + f"/api/v1/chat/sessions?username=crash&page_size=100"
                                   f"&page={page}", headers={"X-API-Key": KEY}) as resp:
                found |= {s["session_id"] for s in (await resp.json())["data"]["sessions"]}
    return personas, found


async def test_kill_9_mid_burst_loses_no_acknowledged_write(tmp_path):
    data_dir, log_path = tmp_path / "data", tmp_path / "simulator.log"
    acked_personas, acked_sessions = set(), set()
    with open(log_path, "w") as log:
        for round_no in range(ROUNDS):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = launch(data_dir, port, log)
            try:
                personas, sessions = await burst(url, proc, round_no)
            finally:
                stop(proc)
            assert proc.returncode == -signal.SIGKILL  # it was killed, not stopped
            acked_personas |= personas
            acked_sessions |= sessions
            port = free_port()
            proc = launch(data_dir, port, log)  # restart on the same data directory
            try:
                found_personas, found_sessions = await present(f"http://127.0.0.1:{port}")
            finally:
                stop(proc)
            assert acked_personas - found_personas == set(), f"round {round_no}: lost personas"
            assert acked_sessions - found_sessions == set(), f"round {round_no}: lost sessions"
    with sqlite3.connect(data_dir / "simulator.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acked_personas) + len(acked_sessions) >= ROUNDS * KILL_AFTER
