"""Hostile JSON bodies and query values on every HTTP operation of seed 004 and the legacy Open
API document (public ones first), with an all-scope credential so the body reaches the handler;
what goes where on which target: http_fire.py. Then, on targets that allow writes, refused
creates must change nothing and a backup chunk's index must not set its cost."""

from __future__ import annotations

import statistics
import time
import uuid

import aiohttp
import pytest

from conformance import hostile
from conformance.clients.http import arequest
from conformance.clients.transcript import Transcript
from conformance.outcomes import NotConfigured
from conformance.scenario import run
from conformance.scenarios.robustness import http_fire as hf

SHOWN = 5
CHUNK_INDEXES = (1, 30_000_001, 2**31)
TIMING_ROUNDS = 3
SLOW_FACTOR, SLOW_FLOOR_S = 5, 1.0


# this file writes (refused creates, a backup upload, hostile bodies): every check here uses the
# fuzzing's target, an isolated copy when the run has one (plugin.fuzz_target), else the target
@pytest.fixture(scope="module")
def target(fuzz_target):
    return fuzz_target


@pytest.fixture(scope="module")
def creds(fuzz_creds):
    return fuzz_creds


def listed(bad: list[str], of: int, what: str) -> str:
    more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
    return f"{len(bad)} of {of} {what}: {'; '.join(bad[:SHOWN])}{more}"


def fired(plan, target, creds, title: str):
    transcript = Transcript(title, kind="http")
    waits = 6 + len(plan) // hf.CONCURRENCY
    return run(hf.fire(plan, target, creds, transcript), target, waits=waits), transcript


@pytest.fixture(scope="module")
def bodies(target, creds, depth):
    """The hostile bodies fired once, judged by ROB-HTTP-001 (status) and -005 (envelope)."""
    ops = hf.operations()
    plan = hf.body_plan(ops, target, depth)
    if not plan:
        pytest.skip("no operation may get a hostile body on this target")
    exchanges, transcript = fired(plan, target, creds, f"{len(plan)} hostile JSON bodies")
    judged = sorted({p[0].label for p in plan})
    not_sent = [op.label for op in ops if op.body_fields is not None and op.label not in judged]
    transcript.note(f"judged {len(judged)} operations; no hostile body to {len(not_sent)}: "
                    f"{', '.join(not_sent[:10])}")
    return {op.label: op for op in ops}, exchanges, transcript


def _judged(bodies, evidence, why_of, what: str) -> None:
    by_label, exchanges, transcript = bodies
    bad, failing = [], set()
    for i, ex in enumerate(exchanges):
        why = why_of(by_label[ex.op], ex)
        if why:
            failing.add(i)
            bad.append(f"{ex.op} [{ex.case}] {why}")
    log = Transcript(transcript.title, kind="http")
    log.entries = list(transcript.entries)
    hf.record(log, exchanges, failing)
    evidence.append(log)
    assert not bad, listed(bad, len(exchanges), what)


@pytest.mark.requirement("ROB-HTTP-001")
def test_hostile_bodies_never_get_a_5xx(bodies, evidence):
    _judged(bodies, evidence, lambda op, ex: hf.no_5xx(ex),
            "hostile bodies got a 5xx or no answer")


@pytest.mark.requirement("ROB-HTTP-005")
def test_a_refused_hostile_body_gets_the_error_envelope(bodies, evidence):
    def why(op, ex):
        answered = ex.status is not None  # no answer at all is ROB-HTTP-001's
        return hf.bad_envelope(op, ex) if answered and 400 <= ex.status < 500 else ""
    _judged(bodies, evidence, why, "hostile bodies refused with a 4xx off the documented "
            "error envelope")


@pytest.mark.requirement("ROB-HTTP-002")
def test_hostile_query_values_never_get_a_5xx(target, creds, depth, evidence):
    plan = hf.query_plan(hf.operations(), target, depth)
    if not plan:
        pytest.skip("no operation may get a hostile query on this target")
    exchanges, transcript = fired(plan, target, creds, f"{len(plan)} hostile query values")
    evidence.append(transcript)
    failing = {i for i, ex in enumerate(exchanges) if hf.no_5xx(ex)}
    hf.record(transcript, exchanges, failing)
    bad = [f"{exchanges[i].op} [{exchanges[i].case}] {hf.no_5xx(exchanges[i])}"
           for i in sorted(failing)]
    assert not bad, listed(bad, len(exchanges), "hostile query values got a 5xx or no answer")


# --- refused input changes nothing (writes only) ---------------------------------------------

def require_writes(target) -> None:
    if not target.allow_writes:
        raise NotConfigured("this check writes: run it on a disposable target (--allow-writes)")


def chat_bodies(username: str) -> list[tuple[str, bytes]]:
    """Hostile and schema-invalid bodies for POST /api/v1/chat, all naming `username`, then
    valid-looking ones a handler refuses (an unknown config, an empty message)."""
    def body(**extra) -> bytes:
        return hostile.dumps({"username": username, "message": "hello", **extra}).encode()

    deep = hostile.dumps({"username": username, "message": "__deep__"}).replace(
        '"__deep__"', hostile.deep_list(2_000))
    return [("deep message", deep.encode()), ("lone surrogate", body(message="hi \ud800")),
            ("10,000-digit session_id", body(session_id=hostile.HUGE)),
            ("session_id a number", body(session_id=5)),
            ("enable_streaming a string", body(enable_streaming="yes")),
            ("a part's text an object", body(message=[{"type": "plain", "text": {"a": 1}}])),
            ("an unknown config_id", body(config_id="conformance-no-such-config")),
            ("a blank message", body(message="   ")), ("an empty part list", body(message=[]))]


async def _sessions(target, key: str, username: str, transcript) -> object:
    answer = await arequest("GET", target.http_url(f"/api/v1/chat/sessions?username={username}"),
                            timeout=target.timeout, transcript=transcript,
                            headers={"X-API-Key": key})
    data = answer.json.get("data") if isinstance(answer.json, dict) else None
    return data.get("sessions") if isinstance(data, dict) else answer.text[:200]


async def _personas(target, key: str, transcript) -> list:
    answer = await arequest("GET", target.http_url("/api/v1/personas"), timeout=target.timeout,
                            transcript=transcript, headers={"X-API-Key": key})
    data = answer.json.get("data") if isinstance(answer.json, dict) else None
    return [p.get("persona_id") for p in data if isinstance(p, dict)] \
        if isinstance(data, list) else []


async def _post(target, path: str, key: str, body: bytes, transcript):
    return await arequest("POST", target.http_url(path), timeout=target.timeout,
                          transcript=transcript, data=body,
                          headers={"X-API-Key": key, "Content-Type": "application/json"})


@pytest.mark.requirement("ROB-HTTP-003")
def test_a_refused_create_leaves_nothing_behind(target, creds, evidence):
    require_writes(target)
    transcript = Transcript("refused POST /api/v1/chat and POST /api/v1/personas, then the lists",
                            kind="http")
    evidence.append(transcript)
    key = creds.key("all")

    async def go():
        changed, refused = [], 0
        for n in range(len(chat_bodies("-"))):
            user = "conformance-robust-" + uuid.uuid4().hex[:8]
            what, body = chat_bodies(user)[n]
            before = await _sessions(target, key, user, transcript)
            answer = await _post(target, "/api/v1/chat", key, body, transcript)
            if answer.status < 400:
                continue
            refused += 1
            after = await _sessions(target, key, user, transcript)
            if after != before:
                changed.append(f"POST /api/v1/chat [{what}] refused with HTTP {answer.status}, "
                               f"yet the sessions of {user!r} went from {before} to {after}")
        persona = "conformance-robust-" + uuid.uuid4().hex[:8]
        for what, extra in (("system_prompt a number", {"system_prompt": 5}),
                            ("begin_dialogs a string", {"system_prompt": "x",
                                                        "begin_dialogs": "x"}),
                            ("lone surrogate", {"system_prompt": "\ud800"})):
            body = hostile.dumps({"persona_id": persona, **extra}).encode()
            answer = await _post(target, "/api/v1/personas", key, body, transcript)
            if answer.status < 400:
                continue
            refused += 1
            if persona in await _personas(target, key, transcript):
                changed.append(f"POST /api/v1/personas [{what}] refused with HTTP "
                               f"{answer.status}, yet persona {persona!r} exists")
                break
        return changed, refused

    changed, refused = run(go(), target, waits=30)
    if not refused:
        pytest.skip("the target accepted every hostile create: nothing refused to judge")
    assert not changed, listed(changed, refused, "refused creates left something behind")


# --- the cost of a request does not grow with a number the client picks (SHOULD) -------------

async def _chunk(session_headers, target, upload_id: str, index: int, transcript):
    form = aiohttp.FormData()
    form.add_field("upload_id", upload_id)
    form.add_field("chunk_index", str(index))
    form.add_field("chunk", b"PK", filename="chunk.bin", content_type="application/octet-stream")
    started = time.monotonic()
    answer = await arequest("POST", target.http_url("/api/v1/backups/upload/chunk"),
                            timeout=target.timeout, transcript=transcript,
                            headers=session_headers, data=form)
    return answer.status, time.monotonic() - started


@pytest.mark.requirement("ROB-HTTP-004")
def test_a_huge_chunk_index_costs_no_more_than_a_small_one(target, creds, evidence):
    require_writes(target)
    headers = {"Authorization": f"Bearer {creds.require_jwt()}"}
    transcript = Transcript("backup chunk upload: chunk_index 1 against huge ones", kind="http")
    evidence.append(transcript)

    async def go():
        init = await arequest("POST", target.http_url("/api/v1/backups/upload/init"),
                              timeout=target.timeout, transcript=transcript, headers=headers,
                              json_body={"filename": "conformance-robust.zip",
                                         "total_size": 3 * 1024 * 1024})
        data = init.json.get("data") if isinstance(init.json, dict) else None
        upload_id = data.get("upload_id") if isinstance(data, dict) else None
        if not isinstance(upload_id, str):
            raise NotConfigured(f"no backup upload could be started (HTTP {init.status}): "
                                "nothing to time")
        times: dict[int, list[float]] = {i: [] for i in CHUNK_INDEXES}
        statuses: dict[int, int] = {}
        try:
            for _ in range(TIMING_ROUNDS):
                for index in CHUNK_INDEXES:
                    statuses[index], seconds = await _chunk(headers, target, upload_id, index,
                                                            transcript)
                    times[index].append(seconds)
        finally:
            await arequest("POST", target.http_url("/api/v1/backups/upload/abort"),
                           timeout=target.timeout, transcript=transcript, headers=headers,
                           json_body={"upload_id": upload_id})
        return {i: statistics.median(t) for i, t in times.items()}, statuses

    medians, statuses = run(go(), target, waits=4 + 2 * TIMING_ROUNDS * len(CHUNK_INDEXES))
    transcript.note("median seconds per chunk_index: " + ", ".join(
        f"{i}: {s:.3f} (HTTP {statuses[i]})" for i, s in medians.items()))
    small = medians[CHUNK_INDEXES[0]]
    slow = [f"chunk_index {i} took {s:.2f} s (median of {TIMING_ROUNDS}) against {small:.2f} s "
            f"for chunk_index 1" for i, s in medians.items()
            if i != CHUNK_INDEXES[0] and s > SLOW_FACTOR * small and s > SLOW_FLOOR_S]
    assert not slow, "; ".join(slow)

