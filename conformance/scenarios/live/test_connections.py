"""Connections are independent and clean up after themselves (seed 000 `run_ws_session`: one
session per connection; research LIVE-002 and LIVE-028)."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenario import live_key, open_live, run, start_slow_turn


@pytest.mark.requirement("LIVE-CONN-003")
def test_disconnect_mid_turn_leaves_the_user_able_to_talk(target, creds, evidence):
    first, second = Transcript("disconnect mid-turn"), Transcript("the same user reconnects")
    evidence += [first, second]

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=first)
        await start_slow_turn(client, target)
        client.transcript.note("the client drops the TCP connection (no closing handshake)")
        client.ws.transport.abort()
        again = await open_live(target, "", key=live_key(creds), transcript=second)
        async with again:
            await again.send({"t": "text_input", "text": "I am back"})
            return await again.turn()

    turn = run(go(), target)
    assert turn.terminal == "end", f"after a disconnect mid-turn, the same user's new turn " \
        f"ended with {turn.terminal!r}: {turn.types()}"


@pytest.mark.requirement("LIVE-CONN-004")
def test_two_sockets_of_one_user_are_independent(target, creds, evidence):
    log_a, log_b = Transcript("socket A: a slow turn"), Transcript("socket B: a short turn")
    evidence += [log_a, log_b]

    async def go():
        a = await open_live(target, "", key=live_key(creds), transcript=log_a)
        b = await open_live(target, "", key=live_key(creds), transcript=log_b)
        async with a, b:
            await start_slow_turn(a, target)
            await b.send({"t": "text_input", "text": "Only for socket B"})
            turn_b = await b.turn()
            await a.send({"t": "interrupt"})
            await a.turn()
            return turn_b

    turn_b = run(go(), target)
    assert turn_b.terminal == "end", f"socket B's turn ended with {turn_b.terminal!r} while " \
        f"socket A was busy: {turn_b.types()}"
    users = [(f.get("data") or {}).get("text") for f in turn_b.of("user_msg")]
    assert users == ["Only for socket B"], f"socket B saw user_msg {users}"
