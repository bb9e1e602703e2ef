"""The dashboard-JWT WebSocket paths (seed 001 "Endpoint" and "Legacy dashboard endpoints";
seed 004 adds the /api/v1 aliases): `token` in the query, then the same runtime behaviour as
the Open API endpoint (seed 001 Compatibility Notes). `live` paths force live mode; `unified`
paths route each frame by its `ct`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid

import pytest

from conformance.chat_races import (
    interrupt_a_slow_reply,
    judge_busy,
    judge_interrupt,
    second_send_during_reply,
)
from conformance.clients.http import TargetTimeout
from conformance.clients.live import LiveClient
from conformance.clients.transcript import Transcript, undocumented_findings
from conformance.invariants import CONTENT
from conformance.outcomes import Unimplemented, Violation
from conformance.scenario import JWT_PATHS, open_jwt, require_placed, run, send_audio

PATHS = list(JWT_PATHS)
RACE_PATH = "/api/v1/live-chat/ws"


def refused(target, path: str, token: str | None, transcript: Transcript):
    async def go():
        client = await open_jwt(target, path, token, transcript)
        try:
            return await client.expect_close()
        except TargetTimeout as exc:
            raise Violation(f"the socket stayed open, a session without a valid token: {exc}") \
                from exc
        finally:
            await client.close()

    return run(go(), target)


@pytest.mark.requirement("JWT-AUTH-001")
@pytest.mark.parametrize("path", PATHS)
def test_missing_token_closes_with_1008(target, evidence, path):
    transcript = Transcript(f"{path} without token")
    evidence.append(transcript)
    _, code, reason = refused(target, path, None, transcript)
    assert code == 1008, f"closed with {code} ({reason!r}), expected 1008"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _claims(real_jwt: str | None) -> dict:
    """The claims of the run's own dashboard JWT (read, not verified: the suite has no
    secret), or a plausible admin's; `exp` an hour ahead either way."""
    claims = {"username": "admin"}
    with contextlib.suppress(ValueError, IndexError, TypeError, AttributeError):
        payload = (real_jwt or "").split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if isinstance(decoded, dict) and isinstance(decoded.get("username"), str):
            claims = {**decoded}
    return {**claims, "exp": int(time.time()) + 3600}


def forged_token(kind: str, real_jwt: str | None) -> str:
    """A token that is not valid although it may look so: garbage; the right claims signed
    HS256 with a secret the target does not have; the right claims unsigned (`alg: none`)."""
    if kind == "garbage":
        return "not-a-jwt"
    header = {"alg": "HS256" if kind == "other-secret" else "none", "typ": "JWT"}
    signing_input = (_b64url(json.dumps(header).encode()) + "."
                     + _b64url(json.dumps(_claims(real_jwt)).encode()))
    if kind == "alg-none":
        return signing_input + "."
    secret = ("conformance-not-the-target-secret-" + uuid.uuid4().hex).encode()
    return signing_input + "." + _b64url(hmac.new(secret, signing_input.encode(),
                                                  hashlib.sha256).digest())


INVALID_TOKENS = {"garbage": "a string that is not a JWT",
                  "other-secret": "the run's JWT claims signed with another secret",
                  "alg-none": "the run's JWT claims unsigned (alg none)"}


@pytest.mark.requirement("JWT-AUTH-002")
@pytest.mark.parametrize("kind", list(INVALID_TOKENS))
@pytest.mark.parametrize("path", PATHS)
def test_invalid_token_closes_with_1008(target, creds, evidence, path, kind):
    """Seed 000 closes 1008 "Invalid token" on any token that does not verify: garbage, and
    JWTs that decode but are not the target's own (research AUTH-027: 4.26.2 does)."""
    transcript = Transcript(f"{path} with an invalid token: {INVALID_TOKENS[kind]}")
    evidence.append(transcript)
    _, code, reason = refused(target, path, forged_token(kind, creds.jwt), transcript)
    assert code == 1008, \
        f"{INVALID_TOKENS[kind]}: closed with {code} ({reason!r}), expected 1008"


def voice_turn(target, creds, path: str, transcript: Transcript):
    async def go():
        client = await open_jwt(target, path, creds.require_jwt(), transcript)
        async with client:
            await send_audio(client, "Hello over the dashboard socket")
            return await client.turn()

    return run(go(), target)


@pytest.mark.requirement("JWT-LIVE-001")
@pytest.mark.parametrize("path", PATHS)
def test_voice_turn(target, creds, evidence, path):
    transcript = Transcript(f"voice turn on {path}")
    evidence.append(transcript)
    turn = voice_turn(target, creds, path, transcript)
    assert turn.index("user_msg") is not None, f"no user_msg: {turn.types()}"
    assert turn.terminal == "end", f"the turn ended with {turn.terminal!r}: {turn.types()}"


def voice_and_chat(target, creds, path: str, transcript: Transcript) -> list[str]:
    """A voice turn on `path` and, on a unified path, a chat reply too; every frame the
    socket sent (from the handshake on) is checked against its schema as it arrives: the
    problems found."""
    async def go():
        client = await open_jwt(target, path, creds.require_jwt(), transcript)
        async with client:
            await send_audio(client, "Hello over the dashboard socket")
            await client.turn()
            if JWT_PATHS[path] == "unified":
                await chat_reply(client, [{"type": "plain", "text": "Hello"}], "msg_frames")
            await client.quiet(0.3)
            return list(client.problems)

    return run(go(), target)


@pytest.mark.requirement("JWT-FRAME-001")
@pytest.mark.parametrize("path", PATHS)
def test_frames_match_their_schema(target, creds, evidence, path):
    kinds = "a voice turn and a chat reply" if JWT_PATHS[path] == "unified" else "a voice turn"
    transcript = Transcript(f"{kinds} on {path}, frames against their schemas")
    evidence.append(transcript)
    problems = voice_and_chat(target, creds, path, transcript)
    assert not problems, f"frames off the contract on {path}:\n" + "\n".join(problems)


@pytest.mark.requirement("JWT-LIVE-002")
@pytest.mark.parametrize("path", PATHS)
def test_text_input(target, creds, evidence, path):
    transcript = Transcript(f"text_input on {path}")
    evidence.append(transcript)

    async def go():
        client = await open_jwt(target, path, creds.require_jwt(), transcript)
        async with client:
            await client.send({"t": "text_input", "text": "Hello, what is the weather today?"})
            return await client.turn()

    turn = run(go(), target)
    assert turn.terminal == "end" and turn.index("user_msg") is not None, \
        f"text_input did not get a turn: {turn.types()}"


async def start_slow_voice_turn(client, target) -> None:
    """Speak `slow_text` and wait for the turn's user_msg: the races below start there."""
    await send_audio(client, target.slow_text, stamp="seg_1")
    await client.until(lambda f: f.get("t") == "user_msg", waiting_for="user_msg")


@pytest.mark.requirement("JWT-LIVE-003")
def test_end_speaking_while_busy(target, creds, evidence):
    transcript = Transcript(f"a second voice input while a slow voice turn runs on {RACE_PATH}")
    evidence.append(transcript)

    async def go():
        client = await open_jwt(target, RACE_PATH, creds.require_jwt(), transcript)
        async with client:
            await start_slow_voice_turn(client, target)
            await send_audio(client, "A second question", stamp="seg_2")
            sent = time.monotonic()
            rest = await client.turn(trailing_grace=1.0)
            return rest, rest.ended_at - sent

    turn, elapsed = run(go(), target)
    busy = [f for f in turn.frames + turn.trailing if f.get("t") == "error"
            and f.get("code") == "PROCESSING_ERROR"]
    require_placed(bool(busy), elapsed)
    assert busy, f"no busy error for end_speaking during a turn: {turn.types()}"


@pytest.mark.requirement("JWT-LIVE-004")
def test_interrupt_a_voice_turn(target, creds, evidence):
    transcript = Transcript(f"interrupt a slow voice turn on {RACE_PATH}")
    evidence.append(transcript)

    async def go():
        client = await open_jwt(target, RACE_PATH, creds.require_jwt(), transcript)
        async with client:
            await start_slow_voice_turn(client, target)
            sent = time.monotonic()
            await client.send({"t": "interrupt"})
            rest = await client.turn(trailing_grace=0.5)
            return rest, rest.ended_at - sent

    turn, elapsed = run(go(), target)
    require_placed(turn.terminal == "stop_play", elapsed)
    assert turn.terminal == "stop_play", f"no stop_play: the turn went on {turn.types()}"
    late = [f.get("t") for f in turn.trailing if f.get("t") in (*CONTENT, "end")]
    assert not late, f"stop_play did not end the turn: {late} of it came after stop_play"


@pytest.mark.requirement("JWT-UNI-001")
@pytest.mark.parametrize("path", [p for p, mode in JWT_PATHS.items() if mode == "unified"])
def test_unified_socket_routes_by_ct(target, creds, evidence, path):
    transcript = Transcript(f"chat and live frames on {path}")
    evidence.append(transcript)

    async def go():
        client = await open_jwt(target, path, creds.require_jwt(), transcript)
        async with client:
            await client.send({"ct": "chat", "t": "bind", "session_id": "uc-conformance"})
            bound = await client.recv(waiting_for="session_bound")
            await send_audio(client, "And now a voice turn")
            try:
                return bound, await client.turn()
            except TargetTimeout as exc:
                answered = [_short_frame(f) for f in client.received[1:6]]
                raise Violation("a voice turn (frames without ct) after a chat bind got no end: "
                                f"{exc}; it got {answered}") from exc

    bound, turn = run(go(), target)
    assert bound.get("ct") == "chat" and bound.get("type") == "session_bound", \
        f"a ct=chat bind got {bound}"
    assert turn.index("user_msg") is not None and turn.terminal == "end", \
        f"a frame without ct was not handled as live: {turn.types()}"


def _short_frame(frame: dict) -> str:
    return json.dumps(frame, ensure_ascii=False)[:120]


async def chat_reply(client, message, message_id: str) -> list[dict]:
    """Send one chat-mode request on a unified socket; its frames up to `end` or an error."""
    await client.send_raw(json.dumps({"ct": "chat", "t": "send", "session_id": "uc-send",
                                      "message_id": message_id, "message": message}))
    return await client.until(lambda f: f.get("type") == "end" or f.get("t") == "error",
                              waiting_for=f"the end of the reply to {message_id}")


def unified_send(target, creds, path: str, message, transcript: Transcript) -> list[dict]:
    async def go():
        client = await open_jwt(target, path, creds.require_jwt(), transcript)
        async with client:
            return await chat_reply(client, message, "msg_" + uuid.uuid4().hex[:8])

    return run(go(), target)


UNIFIED = [p for p, mode in JWT_PATHS.items() if mode == "unified"]


@pytest.mark.requirement("JWT-UNI-002")
@pytest.mark.parametrize("path", UNIFIED)
def test_unified_chat_send_streams_a_reply(target, creds, evidence, path):
    transcript = Transcript(f"chat-mode send (a part list) on {path}")
    evidence.append(transcript)
    frames = unified_send(target, creds, path, [{"type": "plain", "text": "Hello"}], transcript)
    types = [f.get("type") or f.get("t") for f in frames]
    assert frames[-1].get("type") == "end" and "plain" in types, \
        f"no streamed reply ending in end: {types} (last {frames[-1]})"


@pytest.mark.requirement("JWT-UNI-003")
@pytest.mark.parametrize("path", UNIFIED)
def test_unified_chat_send_takes_a_string_message(target, creds, evidence, path):
    """Seed 001: `message` uses the message-part schema of POST /api/v1/chat, which takes a
    string (seeds 003, 004); research DIFF-009 records 4.26.2 refusing it."""
    transcript = Transcript(f"chat-mode send with a string message on {path}")
    evidence.append(transcript)
    frames = unified_send(target, creds, path, "Hello as a string", transcript)
    assert frames[-1].get("t") != "error", f"a string message was refused: {frames[-1]}"
    assert "plain" in [f.get("type") for f in frames], f"no plain reply: {frames}"


def unified_race(target, creds, path: str, transcript: Transcript, race):
    """One chat-mode race of conformance/chat_races.py on a unified JWT socket."""
    async def go():
        client = await open_jwt(target, path, creds.require_jwt(), transcript)
        async with client:
            return await race(client, target, "uc-race")

    return run(go(), target)


@pytest.mark.requirement("JWT-UNI-004")
@pytest.mark.parametrize("path", UNIFIED)
def test_unified_chat_interrupt_stops_the_reply(target, creds, evidence, path):
    """LIVE-CHAT-007 on the unified JWT paths (seed 001: the same runtime behaviour after
    authentication)."""
    transcript = Transcript(f"chat-mode interrupt of a slow reply on {path}")
    evidence.append(transcript)

    judge_interrupt(*unified_race(target, creds, path, transcript, interrupt_a_slow_reply))


@pytest.mark.requirement("JWT-UNI-005")
@pytest.mark.parametrize("path", UNIFIED)
def test_unified_chat_second_send_is_busy(target, creds, evidence, path):
    """LIVE-CHAT-008 on the unified JWT paths."""
    transcript = Transcript(f"chat-mode send during a slow reply on {path}")
    evidence.append(transcript)

    judge_busy(unified_race(target, creds, path, transcript, second_send_during_reply))


V1_JWT_PATHS = ["/api/v1/live-chat/ws", "/api/v1/unified-chat/ws"]
CARRIERS = ("query api_key", "query token", "X-API-Key", "Authorization: Bearer")


async def refused_key(target, path: str, key: str, carrier: str, transcript,
                      listen: float | None = None) -> str | None:
    """How a connection with `key` (and no token) was refused, or None if it was not: a
    socket still open after `listen` seconds (default: the timeout), or one that sent frames,
    has a session."""
    query = {"api_key": key} if carrier == "query api_key" else \
        {"token": key} if carrier == "query token" else {}
    headers = {"X-API-Key": key} if carrier == "X-API-Key" else \
        {"Authorization": f"Bearer {key}"} if carrier.startswith("Authorization") else None
    try:
        client = await LiveClient.open(target.ws_url(path, **query), timeout=target.timeout,
                                       transcript=transcript, headers=headers,
                                       mode=JWT_PATHS[path])
    except (Unimplemented, Violation) as exc:  # a refused handshake opens no session either
        return f"handshake refused ({exc})"
    async with client:
        try:
            frames, code, _ = await client.expect_close(timeout=listen)
        except TargetTimeout:
            return None
    return None if frames or code != 1008 else f"closed {code}"


@pytest.mark.requirement("JWT-AUTH-003")
@pytest.mark.parametrize("path", V1_JWT_PATHS)
def test_a_key_without_chat_scope_opens_no_session(target, creds, evidence, path):
    """Seed 004 gives these paths the scope `chat` and a required `token` (research DIFF-022:
    4.26.2 takes only the JWT; AUTH-027: a key in `token` is an invalid token). A key lacking
    `chat` must never get a session, by any carrier, `token` itself included; what a `chat`
    key gets is logged as evidence, not judged (the seed requires the token)."""
    transcript = Transcript(f"API keys without token on {path}")
    evidence.append(transcript)

    async def go():
        outcomes = {}
        for carrier in CARRIERS:
            transcript.note(f"a key with only `im`, in {carrier}")
            outcomes[carrier] = await refused_key(target, path, creds.key("im"), carrier,
                                                  transcript)
        transcript.note("for the record: a `chat` key in X-API-Key (not judged)")
        with contextlib.suppress(Violation):
            await refused_key(target, path, creds.key("chat"), "X-API-Key", transcript, 2.0)
        return outcomes

    outcomes = run(go(), target, waits=20)
    opened = [carrier for carrier, how in outcomes.items() if how is None]
    assert not opened, f"a key without the chat scope got frames or no 1008 close via {opened}"


@pytest.mark.requirement("JWT-FRAME-002")
@pytest.mark.parametrize("path", PATHS)
def test_every_frame_type_is_in_the_contract(target, creds, evidence, path):
    kinds = "a voice turn and a chat reply" if JWT_PATHS[path] == "unified" else "a voice turn"
    transcript = Transcript(f"{kinds} on {path}, frame types")
    evidence.append(transcript)
    voice_and_chat(target, creds, path, transcript)
    findings = undocumented_findings([transcript])
    assert not findings, "frame types the contract does not define:\n" + "\n".join(findings)


@pytest.fixture(scope="module")
def jwt_voice(target, creds):
    """One voice turn on /api/v1/live-chat/ws, judged frame by frame below."""
    transcript = Transcript(f"voice turn on {RACE_PATH}, frame by frame")
    turn = voice_turn(target, creds, RACE_PATH, transcript)
    turn.transcript = transcript  # the evidence of the checks below
    return turn


@pytest.mark.requirement("JWT-LIVE-005")
def test_voice_reply_streams_deltas(jwt_voice):
    turn = jwt_voice
    assert turn.of("bot_delta_chunk"), f"no bot_delta_chunk in the reply: {turn.types()}"


@pytest.mark.requirement("JWT-LIVE-006")
def test_voice_turn_metrics_say_audio(jwt_voice):
    turn = jwt_voice
    kinds = [(f.get("data") or {}).get("input_type") for f in turn.of("metrics")
             if isinstance(f.get("data"), dict)]
    assert "audio" in kinds, f"no metrics with input_type audio: {turn.of('metrics')}"
