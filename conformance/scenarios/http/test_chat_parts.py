"""Seed 004's own reading of the chat and IM requests, where it says more than seeds 002/003:
the `text` and `audio` message parts (its MessagePart enum), a ChatRequest that needs only
`message` and a session list whose `username` is optional (for the dashboard JWT: seed 003
requires `username` of API-key callers), and ImMessageRequest's `additionalProperties: false`.
Research DIFF-019, DIFF-020 and DIFF-024 record where AstrBot 4.26.2 differs. IM messages are
writes: judged only where writes are allowed (`--allow-writes`, or the suite's own target)."""

from __future__ import annotations

import io
import uuid
import wave

import aiohttp
import pytest

from conformance.clients.http import arequest, request
from conformance.clients.sse import SseResult, post_sse
from conformance.clients.transcript import Transcript
from conformance.scenario import run

CHAT = "/api/v1/chat"
IM = "/api/v1/im/messages"


def streamed_reply(result: SseResult) -> str | None:
    """None when `result` is a reply stream, else what it was instead."""
    if result.status != 200 or not result.content_type.startswith("text/event-stream"):
        return f"HTTP {result.status} {result.content_type}: {str(result.body)[:300]}"
    types = result.types()
    if "plain" not in types or types[-1] != "end":
        return f"the stream is not a reply ending in end: {types}"
    return None


def chat(target, headers: dict, body: dict, transcript: Transcript) -> SseResult:
    return run(post_sse(target.http_url(CHAT), json_body=body, headers=headers,
                        timeout=target.timeout, transcript=transcript), target)


def user() -> str:
    return "conformance-" + uuid.uuid4().hex[:8]


@pytest.mark.requirement("V1-CHAT-001")
def test_a_text_part_is_text(target, creds, evidence):
    transcript = Transcript("POST /api/v1/chat with one `text` part")
    evidence.append(transcript)
    result = chat(target, {"X-API-Key": creds.key_for("chat")},
                  {"username": user(), "message": [{"type": "text", "text": "Hello"}]},
                  transcript)
    problem = streamed_reply(result)
    assert problem is None, f"a `text` part was not taken as text: {problem}"


def silent_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\0\0" * 1600)
    return buffer.getvalue()


@pytest.mark.requirement("V1-CHAT-002")
def test_an_audio_part_is_content(target, creds, evidence):
    transcript = Transcript("POST /api/v1/file (a WAV), then POST /api/v1/chat with `audio`")
    evidence.append(transcript)

    async def upload() -> str:
        form = aiohttp.FormData()
        form.add_field("file", silent_wav(), filename="hello.wav", content_type="audio/wav")
        up = await arequest("POST", target.http_url("/api/v1/file"), data=form,
                            headers={"X-API-Key": creds.key_for("file")},
                            timeout=target.timeout, transcript=transcript)
        data = up.json.get("data") if isinstance(up.json, dict) else None
        if up.status != 200 or not isinstance(data, dict) or not data.get("attachment_id"):
            pytest.skip(f"no attachment to name: the upload answered HTTP {up.status} "
                        f"{up.text[:200]} (judged by OPEN-FILE-001)")
        return data["attachment_id"]

    attachment = run(upload(), target)
    result = chat(target, {"X-API-Key": creds.key_for("chat")},
                  {"username": user(), "message": [{"type": "audio",
                                                    "attachment_id": attachment}]}, transcript)
    assert result.status == 200 and result.events, "an `audio` part naming an uploaded file " \
        f"was not taken as content: HTTP {result.status} {str(result.body)[:300]}"


@pytest.mark.requirement("V1-CHAT-003")
def test_the_dashboard_jwt_needs_no_username(target, creds, evidence):
    """Nor a `session_id` (seed 002: omitted, the server creates one); research CHAT-013
    records 4.26.2 requiring it of JWT callers."""
    transcript = Transcript("POST /api/v1/chat with the dashboard JWT and only `message`")
    evidence.append(transcript)
    result = chat(target, {"Authorization": f"Bearer {creds.require_jwt()}"},
                  {"message": "Hello"}, transcript)
    problem = streamed_reply(result)
    assert problem is None, f"a ChatRequest with only `message` was not streamed: {problem}"


@pytest.mark.requirement("V1-CHAT-004")
def test_sessions_without_username_for_the_dashboard_jwt(target, creds, evidence):
    transcript = Transcript("GET /api/v1/chat/sessions with the dashboard JWT, no username")
    evidence.append(transcript)
    result = request("GET", target.http_url("/api/v1/chat/sessions"), timeout=target.timeout,
                     transcript=transcript,
                     headers={"Authorization": f"Bearer {creds.require_jwt()}"})
    body = result.json if isinstance(result.json, dict) else {}
    assert result.status == 200 and body.get("status") == "ok", \
        f"HTTP {result.status}: {result.text[:300]}"


def im_write(target, creds, body: dict, title: str, evidence: list):
    if not target.allow_writes:
        pytest.skip("POST /api/v1/im/messages is a write: pass --allow-writes on a disposable "
                    "target")
    transcript = Transcript(title)
    evidence.append(transcript)
    return request("POST", target.http_url(IM), timeout=target.timeout, transcript=transcript,
                   headers={"X-API-Key": creds.key_for("im")}, json_body=body)


@pytest.mark.requirement("V1-IM-001")
def test_im_message_with_an_undeclared_field_is_refused(target, creds, evidence):
    result = im_write(target, creds, {"umo": "webchat:FriendMessage:conformance-im",
                                      "message": "extra field probe", "type": "plain"},
                      "POST /api/v1/im/messages with a field ImMessageRequest lacks", evidence)
    body = result.json if isinstance(result.json, dict) else {}
    assert 400 <= result.status < 500 and body.get("status") == "error", \
        f"an undeclared field was accepted: HTTP {result.status} {result.text[:300]}"


@pytest.mark.requirement("V1-IM-002")
def test_im_message_with_a_text_part(target, creds, evidence):
    result = im_write(target, creds, {"umo": "webchat:FriendMessage:conformance-im",
                                      "message": [{"type": "text", "text": "text part probe"}]},
                      "POST /api/v1/im/messages with one `text` part", evidence)
    body = result.json if isinstance(result.json, dict) else {}
    assert result.status == 200 and body.get("status") == "ok", \
        f"a `text` part was refused: HTTP {result.status} {result.text[:300]}"


@pytest.mark.requirement("V1-CHAT-005")
def test_a_project_update_is_stored(target, creds, evidence):
    """Create a ChatUI project, rename it, read it back (then delete it, not judged)."""
    if not target.allow_writes:
        pytest.skip("creating and updating a chat project are writes: pass --allow-writes on "
                    "a disposable target")
    transcript = Transcript("POST, PATCH, GET /api/v1/chat/projects/{project_id}")
    evidence.append(transcript)
    headers = {"Authorization": f"Bearer {creds.require_jwt()}"}
    projects = target.http_url("/api/v1/chat/projects")

    def call(method: str, url: str, body=None):
        result = request(method, url, timeout=target.timeout, transcript=transcript,
                         headers=headers, json_body=body)
        data = result.json.get("data") if isinstance(result.json, dict) \
            and result.json.get("status") == "ok" else None
        return result, data

    created, data = call("POST", projects, {"title": "conformance " + uuid.uuid4().hex[:8]})
    project_id = data.get("project_id") if isinstance(data, dict) else None
    if not isinstance(project_id, str) or not project_id:
        pytest.skip(f"no project to update: the create answered HTTP {created.status} "
                    f"{created.text[:200]} (judged by V1-FUZZ-006)")
    title = "conformance renamed " + uuid.uuid4().hex[:8]
    try:
        updated, _ = call("PATCH", f"{projects}/{project_id}", {"title": title})
        assert updated.status == 200 and (updated.json or {}).get("status") == "ok", \
            f"the update was refused: HTTP {updated.status} {updated.text[:300]}"
        read, data = call("GET", f"{projects}/{project_id}")
        assert isinstance(data, dict) and data.get("title") == title, \
            f"the update answered ok, but the project reads back as HTTP {read.status} " \
            f"{read.text[:300]} (title {title!r} expected)"
    finally:
        call("DELETE", f"{projects}/{project_id}")


def admin_ids(target, creds, transcript: Transcript) -> list[str]:
    """The administrator user ids the target's system config declares (`admins_id`), or []."""
    result = request("GET", target.http_url("/api/v1/system-config"), timeout=target.timeout,
                     transcript=transcript, headers={"X-API-Key": creds.key_for("config")})
    data = result.json.get("data") if isinstance(result.json, dict) else None
    config = data.get("config", data) if isinstance(data, dict) else None
    admins = config.get("admins_id") if isinstance(config, dict) else None
    return [a for a in admins if isinstance(a, str) and a.strip()] \
        if isinstance(admins, list) else []


@pytest.mark.requirement("V1-CHAT-006")
def test_any_declared_username_is_taken(target, creds, evidence):
    """Seed 004 ChatRequest.username: the caller declares the sender; it "may participate in
    sender-ID-based command permission checks", and chat-scoped keys are trusted backend
    credentials that map usernames themselves. So no username is reserved, an
    administrator's id included (AstrBot 4.29.3 reserves those for keys with `chat:admin`)."""
    transcript = Transcript("POST /api/v1/chat as a configured administrator id")
    evidence.append(transcript)
    admins = admin_ids(target, creds, transcript)
    if not admins:
        pytest.skip("the target's system config declares no administrator ids (admins_id)")
    result = chat(target, {"X-API-Key": creds.key_for("chat")},
                  {"username": admins[0], "message": "Hello"}, transcript)
    problem = streamed_reply(result)
    assert problem is None, \
        f"a chat as username {admins[0]!r} (an administrator id) was refused: {problem}"

