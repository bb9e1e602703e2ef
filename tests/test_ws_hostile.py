"""The hostile corpus regression (issue 15): on every socket kind (/api/v1/live/ws with ct=live
and ct=chat, /api/v1/chat/ws, the unified JWT path) the suite's generated hostile frames
(conformance/hostile.py: wrong types for every field of every client frame, deep nesting, lone
surrogates, oversize, binary, unknown types, non-objects, empty, invalid UTF-8, seeded
mutations) break no socket: every answer is the mode's error frame, a turn, or a close with
1003/1007/1008/1009 (then a fresh connection), never HTTP bytes in the stream, a dropped or a
silent connection; and a good turn completes after them. The sample here is a few thousand
frames (every class, a seeded share of the mutations); bench/hostile_corpus.py fires the whole
corpus over several seeds against a simulator process.
"""

from __future__ import annotations

import random

import pytest

from conformance import hostile
from simulator.config import SimConfig

from .conftest import start_sim, stop_sim
from .ws_hostile_fire import Kind, fire_all

KEY = "abk_ws_hostile_test_key_00001"
TIMEOUT = 10.0  # seconds: the bound of every single receive
BULK = (hostile.MUTATION, hostile.WRONG_PAIR)
BULK_SAMPLE = 400  # frames of the bulk classes per socket kind


def kinds(jwt: str) -> list[Kind]:
    live = f"/api/v1/live/ws?api_key={KEY}&username=hostile"
    return [Kind("live ct=live", live + "&ct=live", "live", "live"),
            Kind("live ct=chat", live + "&ct=chat", "chat", "chat"),
            Kind("/api/v1/chat/ws", "/api/v1/chat/ws", "openchat", "openchat",
                 headers=(("X-API-Key", KEY),)),
            Kind("/api/v1/unified-chat/ws", f"/api/v1/unified-chat/ws?token={jwt}", "chat",
                 "unified")]


def sample(corpus: str, seed: int) -> list[hostile.Hostile]:
    """Every frame of the small classes, and a seeded sample of the bulk ones."""
    frames = hostile.ws_frames(corpus, depth="full", seed=seed)
    small = [f for f in frames if f.cls not in BULK]
    bulk = [f for f in frames if f.cls in BULK]
    return small + random.Random(seed).sample(bulk, min(BULK_SAMPLE, len(bulk)))


@pytest.fixture
async def running(tmp_path):
    config = SimConfig(data_dir=tmp_path / "data", api_key=KEY)
    sim = await start_sim(config)
    yield sim
    await stop_sim(sim)


@pytest.mark.parametrize("index", range(4), ids=["live", "chat", "openchat", "unified"])
async def test_the_hostile_corpus_breaks_no_socket(running, index):
    kind = kinds(await running.admin_jwt())[index]
    items = sample(kind.corpus, seed=15)
    record = await fire_all(running.ws_url(""), kind, items, TIMEOUT)
    assert not record.broken, (f"{len(record.broken)} of {record.sent} hostile frames on "
                               f"{kind.name} broke the socket: " + "; ".join(record.broken[:5]))
    assert record.sent == len(items) > 500
    assert record.http_5xx == 0
    assert record.good_turns >= 1
    assert record.errors > 0  # the frames were answered, not taken in silence
