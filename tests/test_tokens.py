"""Sessions and tokens where the seeds are silent (issue 15; simulator/auth.py's docstring):
a logged-out JWT is refused on every HTTP operation family and every JWT WebSocket path, and
stays refused after a restart; a JWT without `exp` is refused; no API key is born expired;
a credential that is not UTF-8 is a 401, never a crash. Real sockets, real SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt as pyjwt
import pytest

from simulator.config import SimConfig

from .conftest import start_sim, stop_sim

READS = ("/api/v1/api-keys", "/api/v1/personas", "/api/v1/bots", "/api/v1/chat/sessions",
         "/api/v1/stats", "/api/v1/knowledge-bases", "/api/v1/conversations",
         "/api/v1/system-config")
JWT_SOCKETS = ("/api/v1/live-chat/ws", "/api/live_chat/ws", "/api/v1/unified-chat/ws",
               "/api/unified_chat/ws")
WS_TIMEOUT = 5.0


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def socket_outcome(sim, path: str, token: str) -> str:
    """"open" when the socket was accepted and stayed open, else how it was refused."""
    url = sim.ws_url(path) + f"?token={token}"
    try:
        async with sim.http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=WS_TIMEOUT),
                                       heartbeat=None) as ws:
            try:
                message = await ws.receive(timeout=1.0)
            except TimeoutError:
                return "open"
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING):
                return f"closed {ws.close_code}"
            return "open"  # a frame (a hello) instead of a refusal
    except aiohttp.WSServerHandshakeError as exc:
        return f"handshake {exc.status}"


async def test_a_logged_out_jwt_is_refused_on_http_and_on_every_jwt_socket(sim):
    token, other = await sim.admin_jwt(), await sim.admin_jwt()
    assert token != other  # two logins, two tokens (each has its own jti)
    for path in READS:
        status, body = await sim.call("GET", path, headers=bearer(token))
        assert status == 200, (path, body)
    assert await socket_outcome(sim, JWT_SOCKETS[0], token) == "open"
    status, body = await sim.call("POST", "/api/v1/auth/logout", headers=bearer(token))
    assert status == 200, body
    for path in READS:
        status, body = await sim.call("GET", path, headers=bearer(token))
        assert (status, body["status"], body["message"]) == (401, "error", "Token revoked"), path
        status, body = await sim.call("GET", path,
                                      cookies={"astrbot_dashboard_jwt": token})
        assert status == 401, path
    for path in JWT_SOCKETS:
        assert await socket_outcome(sim, path, token) != "open", path
    status, _ = await sim.call("GET", READS[0], headers=bearer(other))
    assert status == 200  # only the token that logged out is revoked


async def test_a_revocation_survives_a_restart(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data")
    first = await start_sim(config)
    token = await first.admin_jwt()
    status, _ = await first.call("POST", "/api/v1/auth/logout", headers=bearer(token))
    assert status == 200
    await stop_sim(first)
    second = await start_sim(config)
    try:
        status, body = await second.call("GET", READS[0], headers=bearer(token))
        assert (status, body["message"]) == (401, "Token revoked")
    finally:
        await stop_sim(second)


async def test_a_jwt_without_exp_is_refused_even_when_signed(sim):
    await sim.admin_jwt()
    secret = sim.sim.auth.secret  # white-box: only the simulator can sign its tokens
    no_exp = pyjwt.encode({"username": "admin"}, secret, algorithm="HS256")
    with_exp = pyjwt.encode({"username": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)},
                            secret, algorithm="HS256")
    for path in ("/api/v1/personas", "/api/v1/api-keys"):  # a key's scope; the JWT's alone
        status, body = await sim.call("GET", path, headers=bearer(no_exp))
        assert status in (401, 403) and body["status"] == "error", (path, body)
        status, _ = await sim.call("GET", path, cookies={"astrbot_dashboard_jwt": no_exp})
        assert status == 401, path
        status, _ = await sim.call("GET", path, headers=bearer(with_exp))
        assert status == 200, path  # the same claims with an exp: only the exp differs
    assert await socket_outcome(sim, JWT_SOCKETS[0], no_exp) != "open"
    assert await socket_outcome(sim, JWT_SOCKETS[0], with_exp) == "open"


@pytest.mark.parametrize("extra", [{"expires_in_days": 0}, {"expires_in_days": -1},
                                   {"expires_at": "2000-01-01T00:00:00+00:00"},
                                   {"expires_at": "2020-06-01T00:00:00Z"}])
async def test_no_api_key_is_born_expired(sim, extra):
    auth = bearer(await sim.admin_jwt())
    status, body = await sim.call("POST", "/api/v1/api-keys", headers=auth,
                                  json={"name": "born-expired", "scopes": ["im"], **extra})
    assert status == 400 and body["status"] == "error" and body["message"], body
    status, body = await sim.call("GET", "/api/v1/api-keys", headers=auth)
    assert body["data"] == []  # nothing was created


async def test_a_key_expiring_in_the_future_is_created(sim):
    auth = bearer(await sim.admin_jwt())
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    for extra in ({"expires_in_days": 1}, {"expires_at": soon}):
        status, body = await sim.call("POST", "/api/v1/api-keys", headers=auth,
                                      json={"name": "future", "scopes": ["im"], **extra})
        assert status == 200 and body["data"]["is_expired"] is False, body


async def raw_request(sim, head: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(sim.server.host, sim.server.port), WS_TIMEOUT)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), WS_TIMEOUT)
    finally:
        writer.close()


@pytest.mark.parametrize("header", [b"X-API-Key: abk_\xff\xfe", b"Authorization: Bearer a\xff",
                                    b"Authorization: ApiKey \xed\xa0\x80",
                                    b"Cookie: astrbot_dashboard_jwt=e\xff"])
async def test_a_credential_that_is_not_utf8_is_a_401(sim, header):
    answer = await raw_request(sim, b"GET /api/v1/personas HTTP/1.1\r\nHost: x\r\n" + header
                               + b"\r\nConnection: close\r\n\r\n")
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'"status":"error"' in answer
