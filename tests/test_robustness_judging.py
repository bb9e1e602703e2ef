"""The robustness profile's HTTP judging on exchanges the wire broke: a body that got no answer
is ROB-HTTP-001's FAIL (the wire rule's words), never an ERROR of the envelope check
(ROB-HTTP-005 judges only answered 4xx), as real AstrBot 4.29.3 showed."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenarios.robustness import http_fire as hf
from conformance.scenarios.robustness import test_http_hostile as judging

OP = "POST /api/v1/sessions/rules/delete"
HUNG = hf.Exchange(OP, "field/umo/surrogate", None,
                   broke=f"no answer to {OP} (field/umo/surrogate) within 10 s")


def bodies(*exchanges):
    return {OP: object()}, list(exchanges), Transcript("hostile bodies", kind="http")


def test_a_body_without_an_answer_fails_the_status_rule_with_the_wire_words():
    evidence: list = []
    with pytest.raises(AssertionError) as failed:
        judging.test_hostile_bodies_never_get_a_5xx(bodies(HUNG), evidence)
    assert "1 of 1 hostile bodies got a 5xx or no answer" in str(failed.value)
    assert evidence and evidence[0].entries


def test_the_envelope_rule_judges_only_answered_refusals():
    judging.test_a_refused_hostile_body_gets_the_error_envelope(bodies(HUNG), [])
    served = hf.Exchange(OP, "deep/list/2000", 200, '{"status": "ok", "data": null}')
    judging.test_a_refused_hostile_body_gets_the_error_envelope(bodies(served), [])


async def test_an_answer_in_two_segments_is_read_whole_before_its_envelope_is_judged():
    """One `read(n)` gives what is buffered: a 400 envelope whose second half came 50 ms later
    was judged on its first half, no JSON, a false ROB-HTTP-005. Over a real socket."""
    import asyncio
    import json

    import aiohttp
    from aiohttp import web

    envelope = json.dumps({"status": "error", "message": "bad umo: " + "x" * 3000}).encode()

    async def slow_halves(request):
        resp = web.StreamResponse(status=400, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(envelope[:1000])
        await asyncio.sleep(0.05)
        await resp.write(envelope[1000:])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/api/v1/sessions/rules/delete", slow_halves)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    op = next(o for o in hf.operations() if o.label == OP)
    try:
        async with aiohttp.ClientSession() as session:
            ex = await hf.exchange(session, "POST", f"http://127.0.0.1:{port}{op.path}",
                                   headers={}, body=b"{}", content_type="application/json",
                                   timeout=5, op=OP, case="two segments")
    finally:
        await runner.cleanup()
    assert ex.status == 400 and ex.body.encode() == envelope
    assert hf.bad_envelope(op, ex) == ""
