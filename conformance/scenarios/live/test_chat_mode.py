"""Chat mode over the Live API socket: `/api/v1/live/ws?ct=chat` (seed 001 Unified Chat Mode).
Server frames carry `ct: "chat"` and `type`; chat errors use `t: "error"` with a `code`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import pytest

from conformance.chat_races import (
    interrupt_a_slow_reply,
    is_error,
    judge_busy,
    judge_interrupt,
    parts,
    reply_frames,
    second_send_during_reply,
)
from conformance.clients.http import arequest
from conformance.clients.transcript import Transcript
from conformance.scenario import LIVE_USER, live_key, open_live, run


async def open_chat(target, creds, transcript):
    return await open_live(target, "", key=live_key(creds), transcript=transcript, ct="chat")


@dataclass
class Exchange:
    session_id: str
    bound: dict  # the answer to bind
    frames: list[dict]  # the reply to send, up to its end
    after_end: list[dict]  # what came in a short quiet after that end
    transcript: Transcript


@pytest.fixture(scope="module")
def exchange(target, creds) -> Exchange:
    transcript = Transcript("chat mode: bind, then send")
    session_id = "conformance-" + uuid.uuid4().hex[:12]

    async def go():
        client = await open_chat(target, creds, transcript)
        async with client:
            await client.send({"ct": "chat", "t": "bind", "session_id": session_id})
            bound = await client.recv(waiting_for="session_bound")
            await client.send({"ct": "chat", "t": "send", "session_id": session_id,
                               "message_id": "msg_conformance_1",
                               "message": parts("Please summarize this")})
            frames = await reply_frames(client, "msg_conformance_1")
            return bound, frames, await client.quiet(0.5)

    bound, frames, after_end = run(go(), target)
    return Exchange(session_id, bound, frames, after_end, transcript)


@pytest.mark.requirement("LIVE-CHAT-001")
def test_bind_is_acknowledged(exchange):
    bound = exchange.bound
    assert bound.get("ct") == "chat" and bound.get("type") == "session_bound", \
        f"bind was answered with {bound}"
    assert bound.get("session_id") == exchange.session_id, \
        f"session_bound names {bound.get('session_id')!r}"
    assert isinstance(bound.get("message_id"), str) and bound["message_id"], \
        "session_bound has no message_id"


@pytest.mark.requirement("LIVE-CHAT-001")
def test_each_bind_names_its_own_session(target, creds, evidence):
    """One socket may bind several sessions: each bind is acknowledged for the session it
    names, not for one bound earlier."""
    transcript = Transcript("chat mode: bind two sessions on one socket")
    evidence.append(transcript)
    first, second = ("conformance-bind-" + uuid.uuid4().hex[:8] for _ in range(2))

    async def go():
        client = await open_chat(target, creds, transcript)
        async with client:
            answers = []
            for session_id in (first, second):
                await client.send({"ct": "chat", "t": "bind", "session_id": session_id})
                answers.append(await client.recv(waiting_for=f"session_bound for {session_id}"))
            return answers

    for session_id, bound in zip((first, second), run(go(), target), strict=True):
        assert bound.get("type") == "session_bound" and bound.get("session_id") == session_id, \
            f"bind of {session_id!r} was answered with {bound}"
        assert isinstance(bound.get("message_id"), str) and bound["message_id"], \
            f"session_bound for {session_id!r} has no message_id"


@pytest.mark.requirement("LIVE-CHAT-003")
def test_send_streams_a_reply_that_ends(exchange):
    frames = exchange.frames
    assert not any(is_error(f) for f in frames), f"send was answered with an error: {frames}"
    plains = [f for f in frames if f.get("type") == "plain" and f.get("streaming") is True]
    assert plains, f"no streaming plain frames: {[f.get('type') for f in frames]}"
    assert all(f.get("ct") == "chat" for f in frames), "a chat-mode frame lacks ct=chat"
    complete = next((i for i, f in enumerate(frames) if f.get("type") == "complete"),
                    len(frames))
    flat = [f for f in frames[:complete]
            if f.get("type") == "plain" and f.get("streaming") is not True]
    assert not flat, f"a streamed plain of the reply is not streaming=true: {flat[0]}"
    assert frames[-1].get("type") == "end", "the reply has no end"
    late = [f.get("type") or f.get("t") for f in exchange.after_end]
    assert not late, f"the reply went on after its end: {late}"


@pytest.mark.requirement("LIVE-CHAT-004")
def test_plain_deltas_add_up_to_the_complete_text(exchange):
    frames = exchange.frames
    streamed = "".join(f.get("data") or "" for f in frames
                       if f.get("type") == "plain" and f.get("streaming") is True)
    complete = [f for f in frames if f.get("type") == "complete"]
    if not complete:
        pytest.skip("the reply has no complete frame to compare with")
    assert streamed == complete[0].get("data"), \
        f"streamed {streamed!r} but complete says {complete[0].get('data')!r}"


@pytest.mark.requirement("LIVE-CHAT-005")
def test_message_saved_has_history_ids(exchange):
    saved = [f for f in exchange.frames if f.get("type") == "message_saved"]
    assert saved, "no message_saved frame"
    data = saved[0].get("data") or {}
    assert data.get("id") is not None and isinstance(data.get("created_at"), str), \
        f"message_saved lacks id or created_at: {saved[0]}"


def chat_errors(target, creds, frames_to_send: list, title: str) -> tuple[list, Transcript]:
    transcript = Transcript(title)

    async def go():
        client = await open_chat(target, creds, transcript)
        async with client:
            answers = []
            for frame in frames_to_send:
                await client.send_raw(frame) if isinstance(frame, str) else \
                    await client.send(frame)
                answers.append(await client.recv(waiting_for="the answer"))
            return answers

    return run(go(), target), transcript


@pytest.mark.requirement("LIVE-CHAT-002")
def test_bind_without_session_id_is_a_format_error(target, creds, evidence):
    """Absent and empty `session_id` alike (research CHAT-WS-003)."""
    sent = ['{"ct": "chat", "t": "bind"}', '{"ct": "chat", "t": "bind", "session_id": ""}']
    answers, transcript = chat_errors(target, creds, sent, "bind without session_id")
    evidence.append(transcript)
    for frame, answer in zip(sent, answers, strict=True):
        assert is_error(answer) and answer.get("code") == "INVALID_MESSAGE_FORMAT", \
            f"{frame} got {answer}"
        assert answer.get("ct") == "chat", f"the chat error frame for {frame} lacks ct=chat"


@pytest.mark.requirement("LIVE-CHAT-006")
def test_message_that_is_not_a_list_is_a_format_error(target, creds, evidence):
    sent = ['{"ct": "chat", "t": "send", "session_id": "s-x", "message": 42}',
            '{"ct": "chat", "t": "send", "session_id": "s-x", '
            '"message": {"type": "plain", "text": "hello"}}']
    answers, transcript = chat_errors(target, creds, sent,
                                      "send with a number, then an object, as message")
    evidence.append(transcript)
    for frame, answer in zip(sent, answers, strict=True):
        assert is_error(answer) and answer.get("code") == "INVALID_MESSAGE_FORMAT", \
            f"{frame} got {answer}"
        assert answer.get("data") == "message must be list", \
            f"{frame} got the error {answer.get('data')!r}, not 'message must be list'"
        assert answer.get("ct") == "chat", f"the chat error frame for {frame} lacks ct=chat"


@pytest.mark.requirement("LIVE-CHAT-010")
def test_a_string_message_is_plain_text(target, creds, evidence):
    """Seed 001: `message` uses the message-part schema of POST /api/v1/chat, which takes a
    string as plain text (seeds 003 and 004); research DIFF-009 records 4.26.2 refusing it."""
    transcript = Transcript("chat mode: send with a string message")
    evidence.append(transcript)

    async def go():
        client = await open_chat(target, creds, transcript)
        async with client:
            await client.send_raw('{"ct": "chat", "t": "send", "session_id": "s-str", '
                                  '"message_id": "msg_str", "message": "Hello as a string"}')
            return await reply_frames(client, "msg_str")

    frames = run(go(), target)
    assert not is_error(frames[-1]), f"a string message was refused: {frames[-1]}"
    assert any(f.get("type") == "plain" for f in frames), \
        f"no plain reply: {[f.get('type') for f in frames]}"


@pytest.mark.requirement("LIVE-CHAT-007")
def test_interrupt_stops_the_chat_reply(target, creds, evidence):
    transcript = Transcript("chat mode: interrupt a slow reply")
    evidence.append(transcript)

    async def go():
        client = await open_chat(target, creds, transcript)
        async with client:
            return await interrupt_a_slow_reply(client, target, "s-int")

    judge_interrupt(*run(go(), target))


@pytest.mark.requirement("LIVE-CHAT-008")
def test_a_second_send_while_replying_is_busy(target, creds, evidence):
    transcript = Transcript("chat mode: send during a slow reply")
    evidence.append(transcript)

    async def go():
        client = await open_chat(target, creds, transcript)
        async with client:
            return await second_send_during_reply(client, target, "s-busy")

    judge_busy(run(go(), target))


@dataclass
class Pushes:
    texts: list[str]  # pushed to `session`, in order
    statuses: list[tuple[int, str]]  # each push's HTTP status and body
    got: dict[str, list[dict]]  # socket -> what it received after its session_bound
    logs: list[Transcript]


SOCKETS = ("first", "second", "other")  # first and second bind the session, other another


@pytest.fixture(scope="module")
def pushes(target, creds) -> Pushes:
    """Three chat sockets of one user and key: two bound to one session, one to another;
    then two messages pushed to the first session."""
    logs = {name: Transcript(f"chat mode: socket {name!r}") for name in SOCKETS}
    push_log = Transcript("IM push")
    session_id, other_id = ("conformance-push-" + uuid.uuid4().hex[:8] for _ in range(2))
    tag = uuid.uuid4().hex[:6]
    texts = [f"A proactive hello {tag}", f"A second proactive hello {tag}"]

    async def go():
        async with contextlib.AsyncExitStack() as stack:
            clients = {}
            for name in SOCKETS:
                clients[name] = await stack.enter_async_context(
                    await open_chat(target, creds, logs[name]))
                await clients[name].send({"ct": "chat", "t": "bind",
                                          "session_id": other_id if name == "other"
                                          else session_id})
                await clients[name].recv(waiting_for="session_bound")
            statuses = []
            # the session named bare, then as `webchat!<user>!<session>` (research IM-004)
            for text, name in zip(texts, (session_id, f"webchat!{LIVE_USER}!{session_id}"),
                                  strict=True):
                pushed = await arequest("POST", target.http_url("/api/v1/im/messages"),
                                        timeout=target.timeout, transcript=push_log,
                                        headers={"X-API-Key": creds.key_for("im")},
                                        json_body={"umo": f"webchat:FriendMessage:{name}",
                                                   "message": text})
                statuses.append((pushed.status, pushed.text))
            got = await asyncio.gather(*(clients[name].quiet(1.5) for name in SOCKETS))
            return statuses, dict(zip(SOCKETS, got, strict=True))

    statuses, got = run(go(), target)
    return Pushes(texts, statuses, got, [*logs.values(), push_log])


@pytest.mark.requirement("LIVE-CHAT-009")
def test_a_pushed_message_reaches_the_bound_socket(pushes, evidence):
    """Every push reaches every socket bound to the session, not only the first push or the
    last socket bound, whether the umo names the session bare or as `webchat!<user>!<id>`."""
    evidence += pushes.logs
    for status, body in pushes.statuses:
        assert status == 200, f"the push itself failed: HTTP {status} {body}"
    for name in ("first", "second"):
        frames = pushes.got[name]
        for text in pushes.texts:
            got = [f for f in frames if f.get("ct") == "chat" and f.get("data") == text]
            assert got, f"the push {text!r} did not reach the {name} socket bound to the " \
                f"session; it got {frames}"


@pytest.mark.requirement("LIVE-CHAT-011")
def test_a_push_stays_in_its_session(pushes, evidence):
    evidence += pushes.logs
    leaked = [f for f in pushes.got["other"] if f.get("data") in pushes.texts]
    assert not leaked, "a message pushed to one session reached a socket bound only to " \
        f"another session (same user and key): {leaked}"
