"""Two simulators in one process share nothing: not the store, not the event log, not the
tasks, not the start time, not the handler table (all per-simulator state lives on the
Simulator object, none at module level)."""

from __future__ import annotations

import pytest

from simulator.config import SimConfig

from .conftest import start_sim, stop_sim


@pytest.fixture
async def two(tmp_path):
    first = await start_sim(SimConfig(data_dir=tmp_path / "one"))
    second = await start_sim(SimConfig(data_dir=tmp_path / "two"))
    yield first, second
    await stop_sim(first)
    await stop_sim(second)


async def jwt(sim) -> dict:
    return {"Authorization": f"Bearer {await sim.admin_jwt()}"}


async def data(sim, method, path, **kwargs):
    status, body = await sim.call(method, path, **kwargs)
    assert status == 200, body
    return body["data"]


async def test_a_write_through_one_is_invisible_in_the_other(two):
    first, second = two
    h1, h2 = await jwt(first), await jwt(second)
    await data(first, "POST", "/api/v1/bots", headers=h1,
               json={"id": "only-here", "type": "aiocqhttp", "config": {}})
    assert [b["id"] for b in (await data(first, "GET", "/api/v1/bots", headers=h1))["bots"]] \
        == ["only-here"]
    assert (await data(second, "GET", "/api/v1/bots", headers=h2))["bots"] == []


async def test_events_logs_and_tasks_stay_with_their_simulator(two):
    first, second = two
    h1, h2 = await jwt(first), await jwt(second)
    before = (await data(second, "GET", "/api/v1/stats/start-time"))["started_at"]
    await data(first, "PUT", "/api/v1/trace/settings", headers=h1, json={"level": "debug"})
    task = await data(first, "POST", "/api/v1/system/restart", headers=h1)
    first_logs = (await data(first, "GET", "/api/v1/logs/history", headers=h1))["logs"]
    second_logs = (await data(second, "GET", "/api/v1/logs/history", headers=h2))["logs"]
    assert any("level=DEBUG" in e["data"] for e in first_logs)
    assert any("restarted" in e["data"] for e in first_logs)
    assert not any("level=DEBUG" in e["data"] or "restarted" in e["data"] for e in second_logs)
    assert first.sim.events is not second.sim.events
    status, _ = await second.call("GET", f"/api/v1/updates/progress/{task['task_id']}",
                                  headers=h2)
    assert status == 404
    assert (await data(second, "GET", "/api/v1/stats/start-time"))["started_at"] == before


async def test_each_simulator_has_its_own_handler_table(two):
    first, second = two
    assert first.sim.handlers is not second.sim.handlers
    del first.sim.handlers["getPersonaTree"]  # as a test or a fault might
    h1, h2 = await jwt(first), await jwt(second)
    status, _ = await first.call("GET", "/api/v1/personas/tree", headers=h1)
    assert status == 501
    status, _ = await second.call("GET", "/api/v1/personas/tree", headers=h2)
    assert status == 200
