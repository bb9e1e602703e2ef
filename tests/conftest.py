"""Shared fixtures: a real simulator on a real loopback socket with its SQLite file in a
temporary data directory, and helpers to get credentials from it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from simulator.app import SIM, create_app
from simulator.config import SimConfig

ADMIN = {"username": "admin", "password": "Passw0rd-admin", "confirm_password": "Passw0rd-admin"}


@dataclass
class RunningSim:
    server: TestServer
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def sim(self):
        return self.server.app[SIM]

    def ws_url(self, path: str) -> str:
        return self.url.replace("http://", "ws://") + path

    async def call(self, method: str, path: str, **kwargs) -> tuple[int, dict | str]:
        async with self.http.request(method, self.url + path, **kwargs) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, await resp.text()

    async def admin_jwt(self) -> str:
        status, body = await self.call("POST", "/api/v1/auth/setup", json=ADMIN)
        if status == 409:
            status, body = await self.call("POST", "/api/v1/auth/login", json={
                "username": ADMIN["username"], "password": ADMIN["password"]})
        assert status == 200, body
        return body["data"]["token"]

    async def new_key(self, scopes: list[str] | None = None, **extra) -> dict:
        jwt = await self.admin_jwt()
        payload = {"name": "test", **extra}
        if scopes is not None:
            payload["scopes"] = scopes
        status, body = await self.call("POST", "/api/v1/api-keys", json=payload,
                                       headers={"Authorization": f"Bearer {jwt}"})
        assert status == 200, body
        return body["data"]


async def start_sim(config: SimConfig) -> RunningSim:
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server()
    return RunningSim(server, aiohttp.ClientSession())


async def stop_sim(running: RunningSim) -> None:
    await running.http.close()
    await running.server.close()


@pytest.fixture
def sim_config(tmp_path) -> SimConfig:
    return SimConfig(data_dir=tmp_path / "data")


@pytest.fixture
async def sim(sim_config) -> AsyncIterator[RunningSim]:
    running = await start_sim(sim_config)
    yield running
    await stop_sim(running)
