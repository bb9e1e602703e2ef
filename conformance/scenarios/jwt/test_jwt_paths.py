"""The dashboard-JWT WebSocket paths (seed 001 "Endpoint" and "Legacy dashboard endpoints";
seed 004 adds the /api/v1 aliases): `token` in the query, then the same runtime behaviour as
the Open API endpoint (seed 001 Compatibility Notes). `live` paths force live mode; `unified`
paths route each frame by its `ct`."""

from __future__ import annotations

import time

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenario import JWT_PATHS, open_jwt, require_placed, run, send_audio

PATHS = list(JWT_PATHS)
RACE_PATH = "/api/v1/live-chat/ws"


def refused(target, path: str, token: str | None, transcript: Transcript):
    async def go():
        client = await open_jwt(target, path, token, transcript)
        try:
            return await client.expect_close()
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


@pytest.mark.requirement("JWT-AUTH-002")
@pytest.mark.parametrize("path", PATHS)
def test_invalid_token_closes_with_1008(target, evidence, path):
    transcript = Transcript(f"{path} with an invalid token")
    evidence.append(transcript)
    _, code, reason = refused(target, path, "not-a-jwt", transcript)
    assert code == 1008, f"closed with {code} ({reason!r}), expected 1008"


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


@pytest.mark.requirement("JWT-FRAME-001")
def test_frames_match_their_schema(target, creds, evidence):
    transcript = Transcript(f"voice turn on {RACE_PATH}, frames against their schemas")
    evidence.append(transcript)
    turn = voice_turn(target, creds, RACE_PATH, transcript)
    assert not turn.problems, "frames off the contract:\n" + "\n".join(turn.problems)


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
            return bound, await client.turn()

    bound, turn = run(go(), target)
    assert bound.get("ct") == "chat" and bound.get("type") == "session_bound", \
        f"a ct=chat bind got {bound}"
    assert turn.index("user_msg") is not None and turn.terminal == "end", \
        f"a frame without ct was not handled as live: {turn.types()}"
