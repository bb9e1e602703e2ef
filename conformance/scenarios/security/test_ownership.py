"""Object-level authorization (OWASP API1:2023) between the users an API-key caller names.

Seed 004 makes a chat-scoped key a trusted backend credential that declares the user
(ChatRequest.username: "Caller-declared WebChat sender/session owner"), so the boundary is the
username: a session made for user A (fresh names each run) is not listed for user B, not read,
renamed or deleted with B's name, and B cannot chat into it. Attachments carry no owner in the
contract (research FILE-006: any `file` key reads any attachment), so they are not judged here.
Everything made is deleted again as its owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from conformance.clients.live import LiveClient
from conformance.clients.sse import post_sse
from conformance.clients.transcript import Transcript
from conformance.outcomes import SuiteError
from conformance.scenario import run
from conformance.scenarios.security.common import call, fresh_user, ok_data, said, served

HIJACKED = "conformance-sec-hijacked"
# a short reply: the simulator's directives make it quick, a real model reads a greeting
QUICK = "[[sim:first_delay=0]] [[sim:delay=0]] [[sim:sentences=1]] Hello"


@dataclass
class Owned:
    target: object
    alice: str
    bob: str
    session_id: str
    key: str
    log: Transcript

    def as_user(self, user: str, method: str, path: str, body=None):
        return call(self.target, self.log, method, path, headers={"X-API-Key": self.key},
                    body=body, query=f"?username={quote(user)}")

    def listing(self, user: str) -> list[dict]:
        result = self.as_user(user, "GET", "/api/v1/chat/sessions")
        data = ok_data(result)
        sessions = data.get("sessions") if isinstance(data, dict) else data
        if not isinstance(sessions, list):
            raise SuiteError(f"listChatSessions for {user!r} answered no session list: "
                             f"{said(result)}")
        return [s for s in sessions if isinstance(s, dict)]

    def listed_for(self, user: str) -> list[str]:
        return [s.get("session_id") for s in self.listing(user)]

    def session_for_alice(self) -> dict | None:
        """The session as A's own listing shows it (None: it is gone)."""
        return next((s for s in self.listing(self.alice)
                     if s.get("session_id") == self.session_id), None)


def chat_as(target, log: Transcript, key: str, username: str, session_id: str):
    """One non-streaming chat turn naming `username` and `session_id` (seed 004 ChatRequest:
    the username is the session's owner; research CHAT-006 creates the session for it)."""
    return run(post_sse(target.http_url("/api/v1/chat"), headers={"X-API-Key": key},
                        json_body={"username": username, "session_id": session_id,
                                   "message": QUICK, "enable_streaming": False},
                        timeout=target.timeout, transcript=log), target)


@pytest.fixture(scope="module")
def alice(target, creds):
    """A fresh user A and the sessions made for it in this module, deleted as A at the end."""
    name, made = fresh_user("alice"), []
    yield name, made
    log = Transcript("delete user A's sessions")
    for sid in made:
        call(target, log, "DELETE", f"/api/v1/chat/sessions/{sid}",
             headers={"X-API-Key": creds.key_for("chat")}, query=f"?username={quote(name)}")


def session_of_alice(target, creds, alice) -> Owned:
    """A chat session of user A, made by a chat turn naming A."""
    log = Transcript("a chat session of user A, then B's attempts on it")
    key = creds.key_for("chat")
    name, made = alice
    sid = str(uuid.uuid4())
    turn = chat_as(target, log, key, name, sid)
    made.append(sid)
    if turn.status != 200:
        raise SuiteError(f"user A's chat turn failed (judged by OPEN-CHAT-*): HTTP "
                         f"{turn.status}")
    return Owned(target, name, fresh_user("bob"), sid, key, log)


@pytest.fixture(scope="module")
def owned(target, creds, alice) -> Owned:
    """User A's session for the attempts that cannot remove it (list, read, rename, chat)."""
    return session_of_alice(target, creds, alice)


@pytest.fixture
def doomed(target, creds, alice) -> Owned:
    """A session of its own for each attempt that may remove it (delete, batch-delete)."""
    return session_of_alice(target, creds, alice)


@pytest.mark.requirement("SEC-BOLA-001")
def test_another_users_sessions_are_not_listed(owned, evidence):
    evidence.append(owned.log)
    if owned.session_id not in owned.listed_for(owned.alice):
        raise SuiteError("the session is not even listed for its own user (judged by "
                         "OPEN-SESS-*): nothing to compare B's listing with")
    leaked = owned.session_id in owned.listed_for(owned.bob)
    assert not leaked, "user A's chat session is listed for user B (listChatSessions " \
        "?username=B)"


ATTEMPTS = {
    "read": ("GET", "/api/v1/chat/sessions/{sid}", None),
    "rename": ("PATCH", "/api/v1/chat/sessions/{sid}", {"display_name": HIJACKED}),
    "delete": ("DELETE", "/api/v1/chat/sessions/{sid}", None),
    "batch-delete": ("POST", "/api/v1/chat/sessions/batch-delete", {"session_ids": ["{sid}"]}),
}


def _filled(value, sid: str):
    if isinstance(value, str):
        return value.replace("{sid}", sid)
    if isinstance(value, list):
        return [_filled(v, sid) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, sid) for k, v in value.items()}
    return value


@pytest.mark.requirement("SEC-BOLA-002")
@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_another_users_session_is_out_of_reach(request, evidence, attempt):
    owned: Owned = request.getfixturevalue("doomed" if "delete" in attempt else "owned")
    evidence.append(owned.log)
    method, path, body = ATTEMPTS[attempt]
    result = owned.as_user(owned.bob, method, _filled(path, owned.session_id),
                           _filled(body, owned.session_id))
    after = owned.session_for_alice()
    if attempt == "read":
        data = ok_data(result)
        leaked = served(result) and isinstance(data, dict) and (
            (data.get("session") or {}).get("session_id") == owned.session_id)
        assert not leaked, f"user B read user A's session by its id: {said(result)}"
    elif attempt == "rename":
        renamed = isinstance(after, dict) and after.get("display_name") == HIJACKED
        assert not renamed, f"user B renamed user A's session: {said(result)}"
    else:
        assert after is not None, f"user B's {attempt} removed user A's session: {said(result)}"
    if attempt != "batch-delete":  # batch-delete reports per id inside a success envelope
        assert not served(result), \
            f"user B's {attempt} of user A's session was answered as done: {said(result)}"


@pytest.mark.requirement("SEC-BOLA-003")
def test_no_chat_into_another_users_session(target, owned, evidence):
    evidence.append(owned.log)
    result = call(target, owned.log, "POST", "/api/v1/chat", headers={"X-API-Key": owned.key},
                  body={"username": owned.bob, "session_id": owned.session_id,
                        "message": "conformance: a message into another user's session",
                        "enable_streaming": False})
    assert not served(result), \
        f"user B's chat into user A's session was taken: {said(result)}"


@pytest.mark.requirement("SEC-BOLA-003")
def test_no_chat_ws_send_into_another_users_session(target, owned, evidence):
    """/api/v1/chat/ws (seed 004 openChatWebSocket): the same send, refused with an error
    frame (research OWS-004: `session_id belongs to another username`, SESSION_ERROR)."""
    evidence.append(owned.log)

    async def go():
        client = await LiveClient.open(target.ws_url("/api/v1/chat/ws"), timeout=target.timeout,
                                       transcript=owned.log, headers={"X-API-Key": owned.key},
                                       mode="openchat")
        async with client:
            await client.send({"t": "send", "username": owned.bob,
                               "session_id": owned.session_id,
                               "message": "conformance: a message into another user's session"})
            return await client.until(lambda f: f.get("type") in ("end", "error"),
                                      waiting_for="the answer to the send")

    frames = run(go(), target)
    assert frames[-1].get("type") == "error", \
        f"user B's send into user A's session was answered: {[f.get('type') for f in frames]}"
