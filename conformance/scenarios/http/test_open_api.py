"""The Open API of seeds 002 and 003: chat over SSE, chat sessions, config files, attachments,
IM. Status codes of business errors are not judged (the seeds declare only 401 and 403); the
error envelope is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import pytest

from conformance.clients.http import arequest, request
from conformance.clients.sse import SseResult, post_sse
from conformance.clients.transcript import Transcript, undocumented_findings
from conformance.scenario import run

CHAT = "/api/v1/chat"


AFTER_END_S = 2.0  # how long the new-session stream is read on after its `end`


def chat(target, creds, body: dict, transcript: Transcript, after_end: float = 0.0
         ) -> SseResult:
    return run(post_sse(target.http_url(CHAT), json_body=body,
                        headers={"X-API-Key": creds.key_for("chat")},
                        timeout=target.timeout, transcript=transcript, after_end=after_end),
               target)


@dataclass
class ChatRun:
    username: str
    result: SseResult
    transcript: Transcript


@pytest.fixture(scope="module")
def new_session_chat(target, creds) -> ChatRun:
    transcript = Transcript("POST /api/v1/chat without session_id")
    username = "conformance-" + uuid.uuid4().hex[:8]
    result = chat(target, creds, {"message": "Hello", "username": username}, transcript,
                  after_end=AFTER_END_S)
    return ChatRun(username, result, transcript)


def session_of(result: SseResult):
    """The session id the stream's `session_id` event names (None without one)."""
    return next((e.get("session_id") for e in result.events
                 if isinstance(e, dict) and e.get("type") == "session_id"), None)


def is_error_envelope(body) -> bool:
    return isinstance(body, dict) and body.get("status") == "error" \
        and isinstance(body.get("message"), str)


@pytest.mark.requirement("OPEN-CHAT-001")
def test_chat_answers_an_event_stream(new_session_chat):
    result = new_session_chat.result
    assert result.status == 200 and result.content_type.startswith("text/event-stream"), \
        f"HTTP {result.status} {result.content_type}: {result.body}"
    assert result.events and not result.malformed, \
        f"not `data: <json>` events: {result.malformed[:3]}"


@pytest.mark.requirement("OPEN-CHAT-002")
def test_a_missing_session_id_is_created_and_named(new_session_chat):
    first = (new_session_chat.result.events or [{}])[0]
    assert first.get("type") == "session_id" and isinstance(first.get("session_id"), str) \
        and first["session_id"], f"the stream does not open with the new session id: {first}"


@pytest.mark.requirement("OPEN-CHAT-003")
def test_the_reply_streams_and_ends(new_session_chat):
    types = new_session_chat.result.types()
    assert "plain" in types, f"no plain event: {types}"
    assert types and types[-1] == "end", f"the stream does not end with end: {types}"
    later = [e.get("type") if isinstance(e, dict) else e
             for e in new_session_chat.result.after_end]
    assert "end" not in later, f"the stream goes on after its end event: {types} then {later}"
    plains = "".join(e.get("data") or "" for e in new_session_chat.result.events
                     if e.get("type") == "plain" and e.get("streaming"))
    complete = [e for e in new_session_chat.result.events if e.get("type") == "complete"]
    if complete:
        assert plains == complete[0].get("data"), \
            f"streamed {plains!r}, complete says {complete[0].get('data')!r}"


@pytest.mark.requirement("OPEN-CHAT-006")
def test_every_event_type_is_in_the_contract(new_session_chat):
    """The plugin's sweep adds every other chat stream of the run to this requirement."""
    findings = undocumented_findings([new_session_chat.transcript])
    assert not findings, "SSE event types the contract does not define:\n" + "\n".join(findings)


@pytest.mark.requirement("OPEN-CHAT-007")
def test_a_non_streaming_chat_is_one_plain_and_ends(target, creds, evidence):
    """`enable_streaming` false (seed 004 ChatRequest): the whole reply in one `plain` with
    `streaming` false, then `end`, and nothing after the end (seed 001: `end` ends the turn;
    research SSE-011 records 4.26.2 sending a second `message_saved` after it)."""
    transcript = Transcript("POST /api/v1/chat with enable_streaming false")
    evidence.append(transcript)
    result = chat(target, creds, {"message": "Hello", "enable_streaming": False,
                                  "username": "conformance-" + uuid.uuid4().hex[:8]},
                  transcript, after_end=AFTER_END_S)
    types = result.types()
    plains = [e for e in result.events if e.get("type") == "plain"]
    assert types and types[-1] == "end", f"the stream does not end with end: {types}"
    assert len(plains) == 1 and plains[0].get("streaming") is False, \
        f"not one plain event with streaming false: {types}, " \
        f"streaming flags {[p.get('streaming') for p in plains]}"
    later = [e.get("type") if isinstance(e, dict) else e for e in result.after_end]
    assert not later, f"the stream goes on after its end event: {types} then {later}"


@pytest.mark.requirement("OPEN-CHAT-004")
def test_chat_without_username_is_refused(target, creds, evidence):
    transcript = Transcript("POST /api/v1/chat without username")
    evidence.append(transcript)
    result = chat(target, creds, {"message": "Hello"}, transcript)
    assert not result.events, "a chat without username was streamed anyway"
    assert is_error_envelope(result.body), f"not the error envelope: {result.body}"


@pytest.mark.requirement("OPEN-CHAT-005")
def test_reply_only_message_is_refused(target, creds, evidence):
    transcript = Transcript("POST /api/v1/chat with only a reply part")
    evidence.append(transcript)
    result = chat(target, creds, {"username": "conformance-r", "message": [
        {"type": "reply", "message_id": "1"}]}, transcript)
    assert not result.events, "a reply-only message was streamed anyway"
    assert is_error_envelope(result.body), f"not the error envelope: {result.body}"


def _sessions_page(target, creds, username: str, page: int, page_size: int,
                   transcript: Transcript) -> tuple[dict | None, str]:
    """The `data` of one page of U's sessions (None when it is not a success envelope), and
    what was answered, for the reason."""
    result = request("GET", target.http_url(
        f"/api/v1/chat/sessions?username={username}&page={page}&page_size={page_size}"),
        timeout=target.timeout, transcript=transcript,
        headers={"X-API-Key": creds.key_for("chat")})
    data = result.json.get("data") if isinstance(result.json, dict) \
        and result.json.get("status") == "ok" else None
    return (data if isinstance(data, dict) else None), f"HTTP {result.status}: " \
        f"{result.text[:300]}"


@pytest.mark.requirement("OPEN-SESS-001")
def test_the_new_session_is_listed_for_its_user(target, creds, evidence, new_session_chat):
    """Then a second chat of the same user (and one of another user), and its two sessions
    one per page: each page holds `page_size` sessions, `total` counts both and no other
    user's, the pages together list both, and a page past the last is an empty list
    (SESS-003, SESS-004), not an error."""
    transcript = Transcript("GET /api/v1/chat/sessions for the chat's username")
    evidence.append(transcript)
    username = new_session_chat.username
    session_id = session_of(new_session_chat.result)
    data, answer = _sessions_page(target, creds, username, 1, 10, transcript)
    assert data is not None, f"not the success envelope: {answer}"
    assert (data.get("page"), data.get("page_size")) == (1, 10) and isinstance(
        data.get("total"), int), f"not the paginated shape of seed 002: {data}"
    ids = [s.get("session_id") for s in data.get("sessions") or []]
    assert session_id in ids, f"session {session_id} not listed: {ids}"
    second_log = Transcript("POST /api/v1/chat: a second session of the same username")
    evidence.append(second_log)
    second = chat(target, creds, {"message": "Hello again", "username": username}, second_log)
    second_id = session_of(second)
    assert second_id and second_id != session_id, \
        f"the second chat did not open a new session: {second.types()}"
    other_log = Transcript("POST /api/v1/chat: a session of another username")
    evidence.append(other_log)
    other = chat(target, creds, {"message": "Hello", "username": username + "-other"},
                 other_log)
    other_id = session_of(other)
    pages = []
    for page in (1, 2, 3):
        data, answer = _sessions_page(target, creds, username, page, 1, transcript)
        assert data is not None, f"page {page} of page_size 1 is not the success envelope " \
            f"(a page past the last is an empty list): {answer}"
        listed = [s.get("session_id") for s in data.get("sessions") or []]
        assert data.get("total") == 2, f"page {page}: total {data.get('total')!r}, but the " \
            f"user has 2 sessions ({session_id}, {second_id})"
        assert other_id is None or other_id not in listed, \
            f"page {page} lists {other_id}, the session of user {username}-other"
        assert len(listed) == (1 if page < 3 else 0), f"page {page} of page_size 1 lists " \
            f"{len(listed)} sessions ({listed}); the user has 2"
        pages += listed
    assert sorted(pages) == sorted([session_id, second_id]), \
        f"pages 1 and 2 of page_size 1 list {pages}, not the user's two sessions " \
        f"{[session_id, second_id]}"


@pytest.mark.requirement("OPEN-CFG-001")
def test_config_files_are_listed(target, creds, evidence):
    transcript = Transcript("GET /api/v1/configs")
    evidence.append(transcript)
    result = request("GET", target.http_url("/api/v1/configs"), timeout=target.timeout,
                     transcript=transcript, headers={"X-API-Key": creds.key_for("config")})
    configs = (result.json.get("data") or {}).get("configs") \
        if isinstance(result.json, dict) else None
    assert result.status == 200 and isinstance(configs, list) and configs, \
        f"HTTP {result.status}: {result.text[:300]}"
    for item in configs:
        assert {"id", "name", "path", "is_default"} <= set(item), f"a config lacks fields: {item}"


@pytest.mark.requirement("OPEN-FILE-001")
def test_upload_then_download_returns_the_same_bytes(target, creds, evidence):
    transcript = Transcript("POST /api/v1/file, then GET /api/v1/file")
    evidence.append(transcript)
    content = f"conformance {uuid.uuid4().hex}\n".encode()
    headers = {"X-API-Key": creds.key_for("file")}

    async def go():
        form = aiohttp.FormData()
        form.add_field("file", content, filename="note.txt", content_type="text/plain")
        up = await arequest("POST", target.http_url("/api/v1/file"), data=form,
                            headers=headers, timeout=target.timeout, transcript=transcript)
        data = up.json.get("data") if isinstance(up.json, dict) else None
        assert up.status == 200 and isinstance(data, dict) \
            and isinstance(data.get("attachment_id"), str), \
            f"upload failed: HTTP {up.status} {up.text[:300]}"
        return await arequest("GET", target.http_url(
            f"/api/v1/file?attachment_id={data['attachment_id']}"), timeout=target.timeout,
            transcript=transcript, headers=headers)

    got = run(go(), target)
    assert got.status == 200 and got.text.encode() == content, \
        f"download gave HTTP {got.status}: {got.text[:200]!r}"


@pytest.mark.requirement("OPEN-FILE-002")
def test_file_names_are_not_paths(target, creds, evidence):
    """Research FILE-003: only the base name of an upload is kept (`../../evil.txt` becomes
    `evil.txt`); FILE-005: an id the store does not know is an error, never a file read."""
    transcript = Transcript("POST /api/v1/file named ../<name>, then GET /api/v1/file")
    evidence.append(transcript)
    content = f"conformance path {uuid.uuid4().hex}\n".encode()
    name = f"conformance-{uuid.uuid4().hex[:8]}.txt"
    headers = {"X-API-Key": creds.key_for("file")}

    async def go():
        # the name as curl and browsers send it, unencoded (aiohttp would percent-encode it)
        boundary = "conformance" + uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"../{name}\"\r\nContent-Type: text/plain\r\n\r\n").encode() \
            + content + f"\r\n--{boundary}--\r\n".encode()
        up = await arequest("POST", target.http_url("/api/v1/file"), data=body,
                            headers={**headers, "Content-Type":
                                     f"multipart/form-data; boundary={boundary}"},
                            timeout=target.timeout, transcript=transcript)
        data = up.json.get("data") if isinstance(up.json, dict) else None
        assert up.status == 200 and isinstance(data, dict) \
            and isinstance(data.get("attachment_id"), str), \
            f"an upload named ../{name} failed: HTTP {up.status} {up.text[:300]}"
        stored = data.get("filename")
        assert isinstance(stored, str) and "/" not in stored and "\\" not in stored \
            and stored not in (".", ".."), \
            f"an upload named ../{name} was stored as {stored!r}, a path, not a base name"
        back = await arequest("GET", target.http_url(
            f"/api/v1/file?attachment_id={data['attachment_id']}"), timeout=target.timeout,
            transcript=transcript, headers=headers)
        assert back.status == 200 and back.text.encode() == content, \
            f"the upload named ../{name} does not read back: HTTP {back.status} " \
            f"{back.text[:200]!r}"
        probe = quote(f"../attachments/{data['attachment_id']}", safe="")
        by_path = await arequest("GET", target.http_url(f"/api/v1/file?attachment_id={probe}"),
                                 timeout=target.timeout, transcript=transcript,
                                 headers=headers)
        assert content not in by_path.text.encode(), \
            f"GET /api/v1/file?attachment_id=../attachments/{data['attachment_id']} returned " \
            "the stored file: the attachment id was read as a path"

    run(go(), target)


@pytest.mark.requirement("OPEN-IM-001")
def test_im_message_to_webchat_is_accepted(target, creds, evidence):
    transcript = Transcript("POST /api/v1/im/message")
    evidence.append(transcript)
    result = request("POST", target.http_url("/api/v1/im/message"), timeout=target.timeout,
                     transcript=transcript, headers={"X-API-Key": creds.key_for("im")},
                     json_body={"umo": "webchat:FriendMessage:openapi_probe",
                                "message": "ping from api key"})
    body = result.json if isinstance(result.json, dict) else {}
    assert result.status == 200 and body.get("status") == "ok", \
        f"HTTP {result.status}: {result.text[:300]}"


@pytest.mark.requirement("OPEN-BOTS-001")
def test_im_bots_lists_bot_ids(target, creds, evidence):
    transcript = Transcript("GET /api/v1/im/bots")
    evidence.append(transcript)
    result = request("GET", target.http_url("/api/v1/im/bots"), timeout=target.timeout,
                     transcript=transcript, headers={"X-API-Key": creds.key_for("im")})
    data = result.json.get("data") if isinstance(result.json, dict) else None
    assert result.status == 200 and isinstance(data, dict) \
        and isinstance(data.get("bot_ids"), list), f"HTTP {result.status}: {result.text[:300]}"
