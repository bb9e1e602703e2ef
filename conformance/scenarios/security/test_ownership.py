"""Object-level authorization (OWASP API1:2023) between the users an API-key caller names.

Seed 004 makes a chat-scoped key a trusted backend credential that declares the user
(ChatRequest.username: "Caller-declared WebChat sender/session owner"), so the boundary is the
username: a session made for user A (fresh names each run) is not listed for user B, not read,
renamed or deleted with B's name, and B cannot chat into it. Attachments carry no owner in the
contract (research FILE-006: any `file` key reads any attachment), so they are not judged here.
Everything made is deleted again as its owner."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest

from conformance.clients.transcript import Transcript
from conformance.outcomes import SuiteError
from conformance.scenarios.security.common import call, fresh_user, ok_data, said, served

HIJACKED = "conformance-sec-hijacked"


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

    def listed_for(self, user: str) -> list[str]:
        result = self.as_user(user, "GET", "/api/v1/chat/sessions")
        data = ok_data(result)
        sessions = data.get("sessions") if isinstance(data, dict) else data
        if not isinstance(sessions, list):
            raise SuiteError(f"listChatSessions for {user!r} answered no session list: "
                             f"{said(result)}")
        return [s.get("session_id") for s in sessions if isinstance(s, dict)]

    def session_for_alice(self) -> dict | None:
        data = ok_data(self.as_user(self.alice, "GET",
                                    f"/api/v1/chat/sessions/{self.session_id}"))
        return data.get("session") if isinstance(data, dict) else None


@pytest.fixture
def owned(target, creds):
    """A chat session created for a fresh user A; deleted again as A when the check ends."""
    log = Transcript("a chat session of user A, then B's attempts on it")
    key = creds.key_for("chat")
    alice, bob = fresh_user("alice"), fresh_user("bob")
    made = call(target, log, "GET", "/api/v1/chat/sessions/new", headers={"X-API-Key": key},
                query=f"?username={quote(alice)}")
    data = ok_data(made)
    sid = data.get("session_id") if isinstance(data, dict) else None
    if not isinstance(sid, str):
        raise SuiteError(f"could not create a chat session for user A: {said(made)}")
    found = Owned(target, alice, bob, sid, key, log)
    yield found
    found.as_user(alice, "DELETE", f"/api/v1/chat/sessions/{sid}")


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
def test_another_users_session_is_out_of_reach(owned, evidence, attempt):
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
