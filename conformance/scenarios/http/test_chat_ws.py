"""The Open API chat WebSocket `/api/v1/chat/ws` (seed 004 `openChatWebSocket`; its frames are
not in the seeds, so research OWS-001..OWS-012 and AUTH-024 are the reference)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.clients.live import LiveClient
from conformance.clients.transcript import Transcript, undocumented_findings
from conformance.scenario import run

PATH = "/api/v1/chat/ws"


async def open_chat_ws(target, transcript, key: str | None) -> LiveClient:
    headers = {"X-API-Key": key} if key else None
    return await LiveClient.open(target.ws_url(PATH), timeout=target.timeout,
                                 transcript=transcript, headers=headers, mode="openchat")


@dataclass
class Conversation:
    pong: dict
    bad_user: dict  # the answer to a send without username
    reply: list[dict]  # the answer to a good send, up to its end
    problems: list[str]  # frames off the schema
    transcript: Transcript


@pytest.fixture(scope="module")
def conversation(target, creds) -> Conversation:
    transcript = Transcript("ping, a send without username, then a send")

    async def go():
        client = await open_chat_ws(target, transcript, creds.key_for("chat"))
        async with client:
            await client.send({"t": "ping"})
            pong = await client.recv(waiting_for="pong")
            await client.send_raw('{"t": "send", "message": "hello"}')  # no username
            bad_user = await client.recv(waiting_for="the error for a missing username")
            await client.send({"t": "send", "message": "hello", "username": "conformance-bob"})
            reply = await client.until(lambda f: f.get("type") in ("end", "error"),
                                       waiting_for="the end of the reply")
            return pong, bad_user, reply, client.problems

    return Conversation(*run(go(), target), transcript)


@pytest.mark.requirement("V1-CHATWS-001")
def test_ping_gets_pong(conversation):
    assert conversation.pong == {"type": "pong"}, f"ping was answered with {conversation.pong}"


@pytest.mark.requirement("V1-CHATWS-002")
def test_send_streams_a_reply(conversation):
    types = [f.get("type") for f in conversation.reply]
    assert types and types[0] == "session_id", f"the reply does not open with session_id: {types}"
    assert "plain" in types and types[-1] == "end", f"no streamed reply ending in end: {types}"


@pytest.mark.requirement("V1-CHATWS-003")
def test_missing_key_is_refused(target, evidence):
    transcript = Transcript("connect without an API key")
    evidence.append(transcript)

    async def go():
        client = await open_chat_ws(target, transcript, None)
        try:
            return await client.expect_close()
        finally:
            await client.close()

    frames, code, reason = run(go(), target)
    assert frames and frames[0].get("type") == "error" \
        and frames[0].get("code") == "UNAUTHORIZED", f"expected an UNAUTHORIZED frame: {frames}"
    assert code == 1008, f"closed with {code} ({reason!r}), expected 1008"


@pytest.mark.requirement("V1-CHATWS-004")
def test_missing_username_is_bad_user(conversation):
    bad = conversation.bad_user
    assert bad.get("type") == "error" and bad.get("code") == "BAD_USER", \
        f"a send without username got {bad}"


@pytest.mark.requirement("V1-CHATWS-005")
def test_frames_match_their_schema(conversation):
    assert not conversation.problems, "frames off the contract:\n" + "\n".join(
        conversation.problems)


@pytest.mark.requirement("V1-CHATWS-006")
def test_every_frame_type_is_in_the_contract(conversation):
    """The plugin's sweep adds every other /api/v1/chat/ws log of the run to this one."""
    findings = undocumented_findings([conversation.transcript])
    assert not findings, "frame types the contract does not define:\n" + "\n".join(findings)
