"""The wire rule (conformance/outcomes.py): a target that stops answering, answers too late or
answers garbage fails the requirement being judged (FAIL, NON-STRICT for a SHOULD) with a reason
in one of four standard forms; it is never an ERROR, and it never hangs the run.

First every client and tool path on its own, against raw servers on 127.0.0.1 that break the
wire one way each (tests/raw_wire.py): the HTTP client, the SSE reader, the Live API client,
the boundary cases, the `requests` transport schemathesis uses and the plugin's last resort.
Then the suite as a user runs it against the simulator with one family broken
(tests/broken_targets.py `hang`, `slow`, `garbage`), and the preflight against servers that
break before any check."""

from __future__ import annotations

import asyncio
import re
from xml.etree import ElementTree

import aiohttp
import pytest
import requests

from conformance import boundaries, fuzz_wire
from conformance.clients.http import arequest
from conformance.clients.live import LiveClient
from conformance.clients.sse import post_sse
from conformance.clients.transcript import Transcript
from conformance.launcher import free_port
from conformance.outcomes import (
    ERROR,
    EXIT_NOT_CONFORMANT,
    EXIT_PREFLIGHT,
    FAIL,
    NON_STRICT,
    PASS,
    WIRE_REASONS,
    SuiteError,
    TargetBroke,
)
from conformance.plugin import classify

from .broken_targets import FAMILY_FUZZED, NOT_JSON
from .raw_wire import HTTP_BEHAVIOURS, RawServer
from .test_suite_runs import broken_target, run_suite, verdicts

TIMEOUT = 0.5
PATH = "/api/v1/x"
# behaviour -> the reason the wire rule gives for `GET /api/v1/x` (a regex)
HTTP_REASONS = {
    "hang": r"^no answer to GET /api/v1/x within 0.5 s$",
    "garbage": r"^garbage instead of an HTTP answer to GET /api/v1/x: b'\\x00\\x17",
    "cut": r"^the target closed the connection mid-answer to GET /api/v1/x: .*20\b",
    "half": r"^the target closed the connection mid-answer to GET /api/v1/x: ",
    "reset": r"^the target closed the connection mid-answer to GET /api/v1/x: ",
}
WIRE = re.compile("|".join(WIRE_REASONS))


def wire_form(reason: str) -> bool:
    return bool(WIRE.search(reason or ""))


# each client and tool path on its own ----------------------------------------------------------
@pytest.mark.parametrize("behaviour", HTTP_BEHAVIOURS)
def test_the_http_client(behaviour):
    log = Transcript("raw")
    with RawServer(behaviour) as server, pytest.raises(TargetBroke) as broke:
        asyncio.run(arequest("GET", server.url + PATH, timeout=TIMEOUT, transcript=log))
    assert re.search(HTTP_REASONS[behaviour], str(broke.value)), str(broke.value)
    assert str(broke.value) in [e["data"] for e in log.entries], "the wire log says it too"
    if behaviour == "garbage":  # the bytes themselves are the evidence
        assert broke.value.raw.startswith(b"\x00\x17")
        assert any("raw" in e["data"] for e in log.entries if isinstance(e["data"], dict))


@pytest.mark.parametrize("behaviour", HTTP_BEHAVIOURS)
def test_the_event_stream_reader(behaviour):
    log = Transcript("raw")
    with RawServer(behaviour) as server, pytest.raises(TargetBroke) as broke:
        asyncio.run(post_sse(server.url + PATH, json_body={}, headers={}, timeout=TIMEOUT,
                             transcript=log))
    assert wire_form(str(broke.value)) and "POST /api/v1/x" in str(broke.value), broke.value


@pytest.mark.parametrize("behaviour", HTTP_BEHAVIOURS)
def test_the_boundary_cases(behaviour):
    op = boundaries.Operation(f"GET {PATH}", {"query": {}, "body": None}, PATH)

    async def send():
        async with aiohttp.ClientSession() as session:
            return await boundaries._send(session, server.url, op, None, {}, TIMEOUT)

    with RawServer(behaviour) as server:
        outcome = asyncio.run(send())
    assert outcome is not None and not outcome.accepted
    assert re.search(HTTP_REASONS[behaviour], outcome.broken), outcome.broken


@pytest.mark.parametrize("behaviour", HTTP_BEHAVIOURS)
def test_the_transport_schemathesis_uses(behaviour):
    """Schemathesis 4 reports a case's network failure as a NonFatalError holding the
    `requests` exception (schemathesis/engine/errors.py): the fuzzing's verdict reads it."""
    from schemathesis.engine import events

    with RawServer(behaviour) as server:
        try:
            requests.get(server.url + PATH, timeout=TIMEOUT)
        except requests.RequestException as exc:
            error = exc
        else:  # `half`: http.client takes a status line without headers as an answer
            assert behaviour == "half"
            return
    event = events.NonFatalError(error=error, phase=None, label=f"GET {PATH}",
                                 related_to_operation=True)
    reason = fuzz_wire.engine_wire_failure(event, TIMEOUT)
    assert re.search(HTTP_REASONS[behaviour], reason), reason


WS_REASONS = {
    "ws-hang": r"^no answer to `text_input` on /api/v1/live/ws \(waiting for a frame\) "
               r"within 0.5 s$",
    "ws-text": r"^garbage instead of a JSON frame to `text_input` on /api/v1/live/ws: "
               r"b'garbage, not JSON",
    "ws-bad": r"^garbage instead of a WebSocket frame to `text_input` on /api/v1/live/ws: ",
    "ws-drop": r"^the target closed the connection mid-answer to `text_input` on "
               r"/api/v1/live/ws: ",
}


@pytest.mark.parametrize("behaviour", sorted(WS_REASONS))
def test_the_live_client_after_the_upgrade(behaviour):
    async def talk(url):
        client = await LiveClient.open(url, timeout=TIMEOUT, transcript=Transcript("raw"))
        try:
            await client.send({"t": "text_input", "text": "hello"})
            return await client.recv()
        finally:
            await client.close()

    with RawServer(behaviour) as server, pytest.raises(TargetBroke) as broke:
        asyncio.run(talk(server.url.replace("http", "ws") + "/api/v1/live/ws"))
    assert re.search(WS_REASONS[behaviour], str(broke.value)), str(broke.value)


@pytest.mark.parametrize("behaviour, reason", [
    ("hang", r"^no answer to GET /api/v1/live/ws \(a WebSocket upgrade\) within 0.5 s$"),
    ("garbage", r"^garbage instead of a WebSocket handshake to GET /api/v1/live/ws \(a "
                r"WebSocket upgrade\): b'\\x00\\x17"),
    ("reset", r"^the target closed the connection mid-answer to GET /api/v1/live/ws \(a "
              r"WebSocket upgrade\): "),
])
def test_the_live_client_handshake(behaviour, reason):
    with RawServer(behaviour) as server, pytest.raises(TargetBroke) as broke:
        asyncio.run(LiveClient.open(server.url.replace("http", "ws") + "/api/v1/live/ws",
                                    timeout=TIMEOUT, transcript=Transcript("raw")))
    assert re.search(reason, str(broke.value)), str(broke.value)


def test_a_target_gone_mid_run_fails_every_check_that_needs_it():
    """Connection refused after the preflight passed: "the target stopped accepting
    connections", a FAIL of each check (outcomes.py), on HTTP and WebSocket alike."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there (any more)
    with pytest.raises(TargetBroke, match="^the target stopped accepting connections: GET "
                                          "/api/v1/x: connection refused$"):
        asyncio.run(arequest("GET", url + PATH, timeout=TIMEOUT))
    with pytest.raises(TargetBroke, match="^the target stopped accepting connections: GET "
                                          "/api/v1/live/ws"):
        asyncio.run(LiveClient.open(url.replace("http", "ws") + "/api/v1/live/ws",
                                    timeout=TIMEOUT, transcript=Transcript("raw")))


def test_the_plugin_judges_what_a_check_let_escape():
    """A network exception a check did not translate is still the target's (FAIL / NON-STRICT
    by level); the suite's own faults and an unknown host stay ERROR."""
    async def raw_get(url):
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return await resp.text()

    with RawServer("half") as server, pytest.raises(aiohttp.ClientError) as escaped:
        asyncio.run(raw_get(server.url + PATH))
    assert classify(escaped, True, 1)[0] == FAIL
    assert classify(escaped, False, 1)[0] == NON_STRICT
    assert wire_form(classify(escaped, True, 1)[1])
    with pytest.raises(SuiteError) as ours:
        raise SuiteError("the suite built an invalid frame")
    assert classify(ours, True, 1)[0] == ERROR
    with pytest.raises(aiohttp.ClientError) as unknown_host:
        asyncio.run(raw_get("http://no-such-host.invalid/"))
    assert classify(unknown_host, True, 1)[0] == ERROR


# the suite as a user runs it ------------------------------------------------------------------
CHECKS = "scope_matrix or test_text_turn or test_connect or test_chat_mode"
# requirements every broken family breaks (the personas GETs, the Live API WebSocket)
AFFECTED = ("LIVE-TURN-001", "LIVE-TURN-003", "LIVE-CHAT-001", "LIVE-CHAT-006",
            "V1-SCOPE-001", "V1-SCOPE-002", "V1-SCOPE-003", "V1-SCOPE-004", "V1-SCOPE-005")
# requirements the broken families do not touch: still PASS
HEALTHY = ("V1-ENV-001", "V1-SCOPE-006", "V1-SCOPE-007")


def _judged(doc: dict) -> None:
    """No ERROR anywhere, and every failure of a requirement in the wire rule's words."""
    bad = {r["id"]: r["reason"] for r in doc["requirements"] if r["verdict"] == ERROR}
    assert not bad, bad
    assert not [op for op in doc["operations"] if op["verdict"] == ERROR]
    for r in doc["requirements"]:
        if r["verdict"] in (FAIL, NON_STRICT):
            assert wire_form(r["reason"]), (r["id"], r["reason"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage"])
def test_a_target_that_stops_answering_fails_never_errors(tmp_path, mode):
    with broken_target(mode, tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--timeout", "1", "--setup-admin",
                              "--profile", "live-api,openapi-v1", "-k", CHECKS)
    assert code == EXIT_NOT_CONFORMANT
    _judged(doc)
    found = verdicts(doc)
    for rid in AFFECTED:
        assert found[rid] == FAIL, (rid, found[rid])
    for rid in HEALTHY + (() if mode == "slow" else ("LIVE-AUTH-001",)):  # slow: the upgrade
        assert found[rid] == PASS, (rid, found[rid])
    reasons = " ".join(r["reason"] for r in doc["requirements"])
    expected = {"hang": "no answer to GET /api/v1/personas within 1 s",
                "slow": "no answer to GET /api/v1/live/ws (a WebSocket upgrade) within 1 s",
                "garbage": "garbage instead of an HTTP answer to GET /api/v1/personas: b'"}
    assert expected[mode] in reasons, reasons[:2000]
    if mode == "garbage":
        for form in ("garbage instead of a JSON frame to", "garbage instead of a WebSocket "
                     "frame to", "closed the connection mid-answer to GET /api/v1/personas/"):
            assert form in reasons, form
        turn = next(r for r in doc["requirements"] if r["id"] == "LIVE-TURN-001")
        received = [e["data"] for c in turn["checks"] for ev in c["evidence"]
                    for e in ev["log"] if e["dir"] == "<<"]
        assert {"_raw": NOT_JSON} in received, "the garbage itself is the evidence"
        ElementTree.parse(tmp_path / "report" / "junit.xml")  # still valid XML


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hang", "slow", "garbage"])
def test_the_fuzzing_fails_the_broken_operations_never_errors(tmp_path, mode):
    with broken_target(mode, tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--timeout", "1", "--setup-admin",
                              "--profile", "openapi-v1", "-k", "test_v1_document",
                              "--operations", FAMILY_FUZZED)  # the family and neighbours
    assert code == EXIT_NOT_CONFORMANT
    bad = {r["id"]: r["reason"] for r in doc["requirements"] if r["verdict"] == ERROR}
    assert not bad, bad
    ops = {f"{op['method']} {op['path']}": op for op in doc["operations"]
           if op["document"] == "v1"}
    broken = [label for label in ops if label.startswith("GET /api/v1/personas")]
    assert len(broken) == 4
    for label in broken:
        assert ops[label]["verdict"] == FAIL, (label, ops[label])
    assert wire_form(ops["GET /api/v1/personas"]["reason"]), ops["GET /api/v1/personas"]
    assert not [op for op in ops.values() if op["verdict"] == ERROR]
    assert ops["GET /api/v1/bot-types"]["verdict"] == PASS  # a healthy operation


@pytest.mark.parametrize("behaviour, line", [
    ("hang", "did not answer GET /api/v1/auth/setup-status within 1 s"),
    ("garbage", "garbage instead of an HTTP answer to GET /api/v1/auth/setup-status"),
    ("reset", "the target closed the connection mid-answer to GET /api/v1/auth/setup-status"),
])
def test_a_target_broken_before_any_check_is_not_judged(tmp_path, behaviour, line):
    with RawServer(behaviour) as server:
        code, doc = run_suite(tmp_path, "--base-url", server.url, "--timeout", "1",
                              "--api-key", "abk_for_a_raw_server")
    assert code == EXIT_PREFLIGHT
    assert line in doc["summary"]["preflight"], doc["summary"]["preflight"]
