"""Spec-driven checks: schemathesis over seed 004 (openapi-v1) and the legacy Open API
document (open-api), one run per document, mapped onto requirements by conformance/fuzz.py.

Each requirement check below fails with the operations that broke it, the first failing cases
as evidence (request, response, curl reproducer) and a per-operation verdict for every
operation of the document in results.json. The streaming operations are read here, event by
event with a bound, instead of by the engine; then both sides of every declared bound are sent
(conformance/boundaries.py) and the target's own route list, if it serves one, is read for the
absent-route rule (conformance/routes.py).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from conformance import boundaries, fuzz, routes
from conformance.clients.transcript import Transcript
from conformance.outcomes import (
    ERROR,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    SuiteError,
    Unimplemented,
)
from conformance.report import merge_operation

BUDGET_S = {("v1", "quick"): 90, ("v1", "full"): 600, ("legacy", "quick"): 30,
            ("legacy", "full"): 120}
STREAM_WINDOW_S = 2.0  # how long an endless stream (live logs) is read
STREAM_MAX_EVENTS = 200
CHAT_BODY = {"message": "[[sim:sentences=2]] Say hello.", "username": boundaries.FUZZ_USER,
             "enable_streaming": True}


# the v1 document's examples, coverage and fuzzing phases (with its stream reads and boundary
# cases) run in V1_SHARES parts, each over every V1_SHARES-th operation in document order (so
# that each part gets operations of every tag), then one part runs the stateful phase and the
# lifecycles over every operation. Each part is its own xdist unit (conformance/parallel.py);
# the parts are the same in a serial run, so verdicts and check ids do not depend on --workers.
V1_SHARES = 4
WHOLE = "whole"
WHOLE_DOCUMENT = ""  # the legacy document: one run of everything
V1_PARTS = [*(f"ops{n}" for n in range(1, V1_SHARES + 1)), WHOLE]


def share(ops: list, n: int) -> list:
    """The n-th (1-based) of V1_SHARES interleaved shares of `ops`."""
    return ops[n - 1::V1_SHARES]


def _headers(key: str, creds) -> dict:
    if key == "v1" and creds.jwt:  # every v1 operation, JWT-only scopes included
        return {"Authorization": f"Bearer {creds.jwt}"}
    return {"X-API-Key": creds.key("all")}


async def _read_stream(method: str, url: str, headers: dict, body: dict | None,
                       timeout: float) -> dict:
    """Status, content type and the `data:` events of a stream, read line by line: every read
    bounded by `timeout`, the whole read by STREAM_WINDOW_S after the first byte (or the `end`
    event, or STREAM_MAX_EVENTS)."""
    seen = {"status": None, "content_type": "", "events": [], "bad": []}
    client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session, session.request(
            method, url, headers=headers, json=body) as resp:
        seen["status"], seen["content_type"] = resp.status, resp.headers.get("Content-Type", "")
        if not seen["content_type"].startswith("text/event-stream"):
            seen["body"] = (await asyncio.wait_for(resp.read(), timeout))[:2000].decode(
                "utf-8", "replace")
            return seen
        until = time.monotonic() + STREAM_WINDOW_S
        while time.monotonic() < until and len(seen["events"]) < STREAM_MAX_EVENTS:
            try:
                line = await asyncio.wait_for(resp.content.readline(),
                                              max(0.05, until - time.monotonic()))
            except TimeoutError:
                break
            if not line:
                break
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("data:"):
                try:
                    event = json.loads(text[5:].strip())
                except ValueError:
                    seen["bad"].append(text[:200])
                    continue
                seen["events"].append(event)
                if isinstance(event, dict) and event.get("type") == "end":
                    break
            elif text and not text.startswith((":", "event:", "id:", "retry:")):
                seen["bad"].append(text[:200])
    return seen


def _judge_streams(result: fuzz.FuzzResult, target, headers: dict) -> list[Transcript]:
    """Streaming operations, judged for FUZZ-001 (no 5xx) and FUZZ-002 (an event stream of
    JSON events, or the error envelope)."""
    logs = []
    for op in fuzz.streaming_operations(result.key):
        if op.label in result.excluded or op not in result.ops:
            continue
        body = CHAT_BODY if op.method == "POST" else None
        log = Transcript(f"{result.key} {op.label} (bounded stream read)", kind="http")
        log.add(">>", {"method": op.method, "path": op.path, "json": body})
        try:
            seen = asyncio.run(asyncio.wait_for(_read_stream(
                op.method, target.http_url(op.path), headers, body, target.timeout),
                target.timeout + STREAM_WINDOW_S + 1))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:  # the wire rule
            fuzz.record_wire(result, op.label, exc, target.timeout)
            continue
        log.add("<<", seen)
        logs.append(log)
        result.statuses.setdefault(op.label, []).append(
            routes.Answer(seen["status"], seen.get("body", "")[:300]))
        server_error = seen["status"] >= 500
        broken = seen["bad"] or (seen["status"] == 200
                                 and not seen["content_type"].startswith("text/event-stream"))
        for suffix, failed, what in (("FUZZ-001", server_error, f"HTTP {seen['status']}"),
                                     ("FUZZ-002", bool(broken), f"not a JSON event stream: "
                                      f"{seen['content_type']} {seen['bad'][:2]}")):
            judged = result.judged.setdefault((op.label, fuzz.requirement_id(result.key, suffix)),
                                              fuzz.Judged())
            if failed:
                judged.failures.append(fuzz.Failure("bounded stream read", what, what,
                                                    "", seen["status"], str(seen)[:600]))
            else:
                judged.passed += 1
    return logs


def _fuzz(key: str, target, creds, depth: str, seed: int, ledger: dict, catalogue_ids,
          progress=None, part: str = WHOLE_DOCUMENT):
    """One run over document `key`, or over one part of it (V1_PARTS): "ops<n>" the examples,
    coverage and fuzzing phases, stream reads and boundary cases of the n-th share of the
    operations; WHOLE the stateful phase and the lifecycles over every operation;
    WHOLE_DOCUMENT all of it at once."""
    headers = _headers(key, creds)
    chosen = target.selection
    if chosen.active and not chosen.of(key):
        pytest.skip(f"no operation of the {key} document selected ({chosen.describe()})")
    walked = chosen.of(key)
    phases, budget = fuzz.PHASES, BUDGET_S[(key, depth)]
    if part.startswith("ops"):
        walked = share(walked, int(part[3:]))
        phases = fuzz.PHASES[:3]
    elif part == WHOLE:
        phases = fuzz.PHASES[3:]
    if part != WHOLE_DOCUMENT and depth == "full":  # the parts share the document's budget
        budget /= len(V1_PARTS)
    if not walked:
        pytest.skip(f"no operation of the {key} document in {part} ({chosen.describe()})")
    label = key if part == WHOLE_DOCUMENT else f"{key} {part}"
    try:
        result = fuzz.run(key, target.base_url, headers, seed=seed, depth=depth,
                          timeout=target.timeout, allow_writes=target.allow_writes,
                          is_simulator=target.sandboxed, budget_s=budget,
                          progress=progress and (lambda _, *args: progress(label, *args)),
                          selected=walked if chosen.active or part.startswith("ops") else None,
                          phases=phases)
    except Exception as exc:  # schemathesis could not even start: the suite's problem
        raise SuiteError(f"schemathesis over the {label} document failed: {exc!r}") from exc
    if part != WHOLE:
        _deterministic(key, result, target, headers)
    if part in (WHOLE, WHOLE_DOCUMENT) and key == "v1" and target.allow_writes:
        allowed = {op.label for op in result.ops if op.label not in result.excluded}
        try:
            lives = boundaries.lifecycles(fuzz.document(key), target.base_url, headers,
                                          allowed=allowed, timeout=target.timeout)
        except (TimeoutError, OSError) as exc:
            raise SuiteError(f"the resource lifecycles of the {key} document failed: "
                             f"{exc!r}") from exc
        fuzz.record_lifecycles(result, lives)
    result.route_list = routes.discover(target.base_url, headers, target.timeout)
    _ledger(result, ledger, catalogue_ids, whole=part == WHOLE)
    return result


def _deterministic(key: str, result: fuzz.FuzzResult, target, headers: dict) -> None:
    """The bounded stream reads and the boundary cases of the run's operations."""
    result.stream_logs = _judge_streams(result, target, headers)
    sent = {op.label for op in result.ops
            if op.label not in result.excluded and op.label not in fuzz.STREAMING}
    try:
        outcomes = boundaries.run(key, fuzz.document(key), target.base_url, headers, sent=sent,
                                  writes=target.allow_writes, timeout=target.timeout)
    except (TimeoutError, OSError) as exc:
        raise SuiteError(f"the boundary cases of the {key} document failed: {exc!r}") from exc
    fuzz.record_boundaries(result, outcomes)


def _ledger(result: fuzz.FuzzResult, ledger: dict, catalogue_ids, whole: bool) -> None:
    """Each operation's verdicts into results.json's ledger; operations --operations left out
    are not there. The WHOLE part (stateful, lifecycles) adds only what it judged: an operation
    it did not reach keeps its own part's verdicts (report.merge_operation combines parts)."""
    for op in result.ops:
        judged = {rid: result.verdict(op.label, rid, strict)
                  for rid, strict in catalogue_ids.items()}
        if whole:
            judged = {rid: vm for rid, vm in judged.items() if vm[0] != SKIPPED}
            if not judged:
                continue
        reasons = [msg for v, msg in judged.values() if v != PASS
                   and (not whole or v in (FAIL, NON_STRICT, ERROR))]
        merge_operation(ledger, result.key, op.method, op.path, op.operation_id,
                        {rid: v for rid, (v, _) in judged.items()},
                        reasons[0] if reasons else "")


@pytest.fixture(scope="module")
def catalogue():
    from conformance.catalogue import load

    return load().requirements


def _ids(key: str, catalogue) -> dict[str, bool]:
    return {rid: catalogue[rid].strict for rid in fuzz.requirements_of(key) if rid in catalogue}


# the fuzzing writes: it goes to fuzz_target, an isolated copy of the target when the run has
# one (run --simulator --workers N), else the target itself (then it runs after the rest)
@pytest.fixture(scope="module")
def v1_fuzz(request, fuzz_target, fuzz_creds, depth, seed, operation_ledger, catalogue,
            fuzz_progress):
    """One part of the v1 document's run (V1_PARTS, the test's parameter)."""
    return _fuzz("v1", fuzz_target, fuzz_creds, depth, seed, operation_ledger,
                 _ids("v1", catalogue), fuzz_progress, part=request.param)


@pytest.fixture(scope="module")
def legacy_fuzz(fuzz_target, fuzz_creds, depth, seed, operation_ledger, catalogue,
                fuzz_progress):
    return _fuzz("legacy", fuzz_target, fuzz_creds, depth, seed, operation_ledger,
                 _ids("legacy", catalogue), fuzz_progress)


def judge(result: fuzz.FuzzResult, rid: str, strict: bool, evidence: list) -> None:
    """Fail with every operation that broke `rid`, the first cases as evidence; ERROR when
    only the suite or the engine failed; UNIMPLEMENTED when no operation was there."""
    ops = result.ops
    verdicts = {op.label: result.verdict(op.label, rid, strict) for op in ops}
    bad = [(label, msg) for label, (v, msg) in verdicts.items() if v in (FAIL, NON_STRICT)]
    log = Transcript(f"schemathesis over the {result.key} document, seed {result.seed}, "
                     f"{result.duration_s} s, {result.stop_reason}", kind="http")
    for label, msg in bad[:8]:
        if label in result.wire:  # the wire rule: no answer, a reset or garbage
            log.add(">>", label)
            log.add("<<", {"status": None, "body": ""}, schema_errors=[msg])
        for failure in result.judged.get((label, rid), fuzz.Judged()).failures[:1]:
            log.add(">>", failure.curl or label, check=failure.check)
            log.add("<<", {"status": failure.status, "body": failure.response},
                    schema_errors=[f"{failure.title}: {failure.message}"])
    evidence.append(log)
    evidence.extend(result.stream_logs)
    counts = {v: sum(1 for x, _ in verdicts.values() if x == v)
              for v in (PASS, FAIL, NON_STRICT, ERROR, UNIMPLEMENTED, SKIPPED)}
    log.note(f"per-operation verdicts for {rid}: {counts}")
    excused: dict[str, int] = {}
    for (_, judged_rid), judged in result.judged.items():
        for why, n in (judged.excused.items() if judged_rid == rid else ()):
            excused[why] = excused.get(why, 0) + n
    if excused:
        log.note("schema-valid requests refused for a rule the contract states elsewhere "
                 "(specs/contract-notes.yaml), not blamed: " + "; ".join(
                     f"{why}: {n}" for why, n in sorted(excused.items())))
    assert not bad, f"{len(bad)} of {len(ops)} operations broke {rid}:\n" + "\n".join(
        f"{label}: {msg}" for label, msg in bad[:30])
    errors = [f"{label}: {msg}" for label, (v, msg) in verdicts.items() if v == ERROR]
    if errors:
        raise SuiteError(f"{len(errors)} operations could not be exercised:\n"
                         + "\n".join(errors[:20]))
    if not counts[PASS]:
        if counts[UNIMPLEMENTED]:
            raise Unimplemented(f"none of the {counts[UNIMPLEMENTED]} operations exist")
        pytest.skip(f"no operation exercised {rid}")


def _case(rid: str, mark):
    return pytest.param(rid, marks=mark, id=rid)


# one check per requirement conformance/fuzz.py maps a schemathesis check onto
# (tests/test_fuzz_mapping.py keeps these lists and fuzz.CHECKS in step)
V1_CHECKS = [
    _case("V1-FUZZ-001", pytest.mark.requirement("V1-FUZZ-001")),
    _case("V1-FUZZ-002", pytest.mark.requirement("V1-FUZZ-002")),
    _case("V1-FUZZ-003", pytest.mark.requirement("V1-FUZZ-003")),
    _case("V1-FUZZ-004", pytest.mark.requirement("V1-FUZZ-004")),
    _case("V1-FUZZ-005", pytest.mark.requirement("V1-FUZZ-005")),
    _case("V1-FUZZ-006", pytest.mark.requirement("V1-FUZZ-006")),
    _case("V1-FUZZ-007", pytest.mark.requirement("V1-FUZZ-007")),
    _case("V1-SCOPE-001", pytest.mark.requirement("V1-SCOPE-001")),
]
LEGACY_CHECKS = [
    _case("OPEN-FUZZ-001", pytest.mark.requirement("OPEN-FUZZ-001")),
    _case("OPEN-FUZZ-002", pytest.mark.requirement("OPEN-FUZZ-002")),
    _case("OPEN-FUZZ-003", pytest.mark.requirement("OPEN-FUZZ-003")),
    _case("OPEN-FUZZ-004", pytest.mark.requirement("OPEN-FUZZ-004")),
    _case("OPEN-FUZZ-007", pytest.mark.requirement("OPEN-FUZZ-007")),
]


@pytest.mark.part_of("schemathesis over the v1 document")  # report.combine_parts
@pytest.mark.parametrize("rid", V1_CHECKS)
@pytest.mark.parametrize("v1_fuzz", V1_PARTS, indirect=True)
def test_v1_document(rid, v1_fuzz, catalogue, evidence):
    judge(v1_fuzz, rid, catalogue[rid].strict, evidence)


@pytest.mark.parametrize("rid", LEGACY_CHECKS)
def test_legacy_document(rid, legacy_fuzz, catalogue, evidence):
    judge(legacy_fuzz, rid, catalogue[rid].strict, evidence)
