"""Frame types on /api/v1/live/ws: a frame whose type the contract does not define (no message of
its own in specs/live-api.asyncapi.yaml) is reported, not absorbed by the generic fallback.
This check reads one text turn and one chat reply; the plugin's sweep adds every other live log
of the run to the same requirement."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript, undocumented_findings
from conformance.scenario import live_key, open_live, run


@pytest.mark.requirement("LIVE-FRAME-002")
def test_every_frame_type_is_in_the_contract(target, creds, evidence):
    live, chat = Transcript("live: a text turn, frame types"), \
        Transcript("chat mode: a reply, frame types")
    evidence += [live, chat]

    async def go():
        async with await open_live(target, "", key=live_key(creds), transcript=live) as client:
            await client.send({"t": "text_input", "text": "Hello, what is the weather today?"})
            await client.turn()
        async with await open_live(target, "", key=live_key(creds), transcript=chat,
                                   ct="chat") as client:
            await client.send({"ct": "chat", "t": "send", "session_id": "s-types",
                               "message_id": "msg_types",
                               "message": [{"type": "plain", "text": "Hello"}]})
            await client.until(lambda f: f.get("type") == "end" or f.get("t") == "error",
                               waiting_for="the end of the chat reply")
            await client.quiet(0.3)

    run(go(), target)
    findings = undocumented_findings([live, chat])
    assert not findings, "frame types the contract does not define:\n" + "\n".join(findings)
