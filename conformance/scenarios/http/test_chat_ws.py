"""The Open API chat WebSocket `/api/v1/chat/ws` (seed 004 `openChatWebSocket`; its frames are
not in the seeds, so research OWS-001..OWS-012 and AUTH-024 are the reference)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from conformance.clients.http import arequest
from conformance.clients.live import LiveClient
from conformance.clients.transcript import Transcript, undocumented_findings
from conformance.outcomes import SuiteError
from conformance.scenario import run

PATH = "/api/v1/chat/ws"


async def open_chat_ws(target, transcript, key: str | None) -> LiveClient:
    headers = {"X-API-Key": key} if key else None
    return await LiveClient.open(target.ws_url(PATH), timeout=target.timeout,
                                 transcript=transcript, headers=headers, mode="openchat")


@dataclass
class Conversation:
    pong: dict
    bad_user: list[dict]  # the answers to a send without username, then with a blank one
    reply: list[dict]  # the answer to a good send, up to its end
    again: list[dict]  # the answer to a send naming the session of `reply`, up to its end
    problems: list[str]  # frames off the schema
    transcript: Transcript


def reply_end(frame: dict) -> bool:
    return frame.get("type") in ("end", "error")


@pytest.fixture(scope="module")
def conversation(target, creds) -> Conversation:
    transcript = Transcript("ping, sends without username, then a send and one in its session")

    async def go():
        client = await open_chat_ws(target, transcript, creds.key_for("chat"))
        async with client:
            await client.send({"t": "ping"})
            pong = await client.recv(waiting_for="pong")
            bad_user = []
            for raw in ('{"t": "send", "message": "hello"}',  # no username
                        '{"t": "send", "message": "hello", "username": "  "}'):
                await client.send_raw(raw)
                bad_user.append(await client.recv(waiting_for="the error for a missing username"))
                if not reply_end(bad_user[-1]):  # served after all: read past that reply
                    await client.until(reply_end, waiting_for="the end of that reply")
            await client.send({"t": "send", "message": "hello", "username": "conformance-bob"})
            reply = await client.until(reply_end, waiting_for="the end of the reply")
            session_id = next((f.get("session_id") for f in reply
                               if f.get("type") == "session_id"), None)
            again = []
            if isinstance(session_id, str) and session_id:
                await client.send({"t": "send", "message": "and again", "session_id": session_id,
                                   "username": "conformance-bob"})
                again = await client.until(reply_end, waiting_for="the end of the second reply")
            return pong, bad_user, reply, again, client.problems

    return Conversation(*run(go(), target), transcript)


@pytest.mark.requirement("V1-CHATWS-001")
def test_ping_gets_pong(conversation):
    assert conversation.pong == {"type": "pong"}, f"ping was answered with {conversation.pong}"


def assert_streamed(frames: list[dict], what: str) -> None:
    types = [f.get("type") for f in frames]
    assert types and types[0] == "session_id", f"{what} does not open with session_id: {types}"
    assert "plain" in types and types[-1] == "end", f"{what}: no streamed reply ending in end: " \
        f"{types}"
    complete = next((i for i, f in enumerate(frames) if f.get("type") == "complete"),
                    len(frames))
    flat = [f for f in frames[:complete]
            if f.get("type") == "plain" and f.get("streaming") is not True]
    assert not flat, f"{what}: a streamed plain is not streaming=true: {flat[0]}"


@pytest.mark.requirement("V1-CHATWS-002")
def test_send_streams_a_reply(conversation):
    """A send in a new session and one naming that session alike (research OWS-008)."""
    assert_streamed(conversation.reply, "the reply")
    session_id = conversation.reply[0].get("session_id")
    assert conversation.again, "the reply's session_id frame names no session"
    assert_streamed(conversation.again, f"the reply to a send in session {session_id!r}")
    assert conversation.again[0].get("session_id") == session_id, \
        f"a send in session {session_id!r} is answered for {conversation.again[0]}"


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


@pytest.mark.requirement("V1-CHATWS-007")
@pytest.mark.parametrize("kind", ["unknown", "revoked"])
def test_invalid_key_is_refused(target, creds, evidence, kind):
    transcript = Transcript(f"connect with a {kind} API key")
    evidence.append(transcript)
    key = "abk_conformance_unknown_" + uuid.uuid4().hex
    key_id = None
    if kind == "revoked":
        key, key_id = revoked_key(target, creds, transcript)

    async def go():
        client = await open_chat_ws(target, transcript, key)
        try:
            return await client.expect_close()
        finally:
            await client.close()

    try:
        frames, code, reason = run(go(), target)
    finally:
        if key_id is not None:
            jwt = {"Authorization": f"Bearer {creds.require_jwt()}"}
            run(arequest("DELETE", target.http_url(f"/api/v1/api-keys/{key_id}"), headers=jwt,
                         timeout=target.timeout, transcript=transcript), target)
    assert frames and frames[0].get("type") == "error" \
        and frames[0].get("code") == "UNAUTHORIZED", \
        f"a {kind} key: expected an UNAUTHORIZED frame: {frames}"
    assert len(frames) == 1, f"a {kind} key: more than one frame before the close: {frames}"
    assert code == 1008, f"a {kind} key: closed with {code} ({reason!r}), expected 1008"


def revoked_key(target, creds, transcript) -> tuple[str, str]:
    """A `chat` key created and then revoked through the API (needs the dashboard JWT)."""
    jwt = {"Authorization": f"Bearer {creds.require_jwt()}"}

    async def go():
        created = await arequest("POST", target.http_url("/api/v1/api-keys"), headers=jwt,
                                 timeout=target.timeout, transcript=transcript,
                                 json_body={"name": "conformance-revoked-ws", "scopes": ["chat"]})
        data = created.json.get("data") if isinstance(created.json, dict) else None
        if created.status != 200 or not isinstance(data, dict) or not data.get("api_key"):
            raise SuiteError(f"creating a key failed: HTTP {created.status} {created.text[:300]}")
        creds.remember_key(data["api_key"])
        revoked = await arequest("POST",
                                 target.http_url(f"/api/v1/api-keys/{data['key_id']}/revoke"),
                                 headers=jwt, timeout=target.timeout, transcript=transcript)
        if revoked.status != 200:
            raise SuiteError(f"revoking a key failed: HTTP {revoked.status} {revoked.text}")
        return data["api_key"], data["key_id"]

    return run(go(), target)


@pytest.mark.requirement("V1-CHATWS-004")
def test_missing_username_is_bad_user(conversation):
    """Absent and blank `username` alike (research OWS-004)."""
    for what, bad in zip(("without username", "with a blank username"), conversation.bad_user,
                         strict=True):
        assert bad.get("type") == "error" and bad.get("code") == "BAD_USER", \
            f"a send {what} got {bad}"


@pytest.mark.requirement("V1-CHATWS-005")
def test_frames_match_their_schema(conversation):
    assert not conversation.problems, "frames off the contract:\n" + "\n".join(
        conversation.problems)


@pytest.mark.requirement("V1-CHATWS-006")
def test_every_frame_type_is_in_the_contract(conversation):
    """The plugin's sweep adds every other /api/v1/chat/ws log of the run to this one."""
    findings = undocumented_findings([conversation.transcript])
    assert not findings, "frame types the contract does not define:\n" + "\n".join(findings)
