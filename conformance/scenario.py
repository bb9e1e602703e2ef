"""Helpers for writing checks: run an async scenario within a time budget, open Live API
connections with a fresh transcript."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import Awaitable

from .audio import chunks_b64, speech_pcm
from .bootstrap import Credentials
from .clients.http import TargetTimeout
from .clients.live import LiveClient, ends_turn
from .clients.transcript import Transcript
from .outcomes import SuiteError, no_answer
from .target import TargetSettings

LIVE_PATH = "/api/v1/live/ws"
LIVE_USER = "conformance-alice"
# how many single waits a whole scenario may take before it is called hung
SCENARIO_BUDGET_WAITS = 6


def run(coro: Awaitable, target: TargetSettings, waits: int = SCENARIO_BUDGET_WAITS):
    """Run one scenario; a target that hangs past the budget fails the check, it never hangs
    the run."""
    budget = target.timeout * waits

    async def bounded():
        try:
            return await asyncio.wait_for(coro, budget)
        except TimeoutError as exc:
            raise TargetTimeout(no_answer(f"the scenario's exchanges ({waits} waits of "
                                          f"{target.timeout:g} s)", budget)) from exc

    return asyncio.run(bounded())


async def open_live(target: TargetSettings, title: str, *, key: str | None = None,
                    username: str | None = LIVE_USER, headers: dict | None = None,
                    transcript: Transcript | None = None, **query) -> LiveClient:
    transcript = transcript or Transcript(title)
    url = target.ws_url(LIVE_PATH, api_key=key, username=username, **query)
    return await LiveClient.open(url, timeout=target.timeout, transcript=transcript,
                                 headers=headers,
                                 mode="chat" if query.get("ct") == "chat" else "live")


# The dashboard-JWT WebSocket paths (seed 001 "Endpoint"; seed 004 adds the /api/v1 aliases):
# path -> how frames are routed ("live" forced, or "unified": each frame's `ct`).
JWT_PATHS = {"/api/v1/live-chat/ws": "live", "/api/live_chat/ws": "live",
             "/api/v1/unified-chat/ws": "unified", "/api/unified_chat/ws": "unified"}


async def open_jwt(target: TargetSettings, path: str, token: str | None,
                   transcript: Transcript) -> LiveClient:
    return await LiveClient.open(target.ws_url(path, token=token), timeout=target.timeout,
                                 transcript=transcript, mode=JWT_PATHS[path])


def live_key(creds: Credentials) -> str:
    return creds.key_for("chat")


def wav_problem(b64: str) -> str | None:
    """None when `b64` is Base64 of a readable RIFF/WAVE file, else what is wrong."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError as exc:
        return f"not Base64: {exc}"
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return f"not a RIFF/WAVE file (starts with {raw[:12]!r})"
    try:
        with wave.open(io.BytesIO(raw)) as wav:
            if wav.getnframes() == 0:
                return "a WAV file without audio frames"
    except (wave.Error, EOFError) as exc:
        return f"unreadable WAV: {exc}"
    return None


# Races ------------------------------------------------------------------------------------
# A race is placed, not hoped for: the suite sends its second input only once the turn is
# visibly running (after user_msg, or after the first delta), on a turn made slow by the
# target's `slow_text`. If the turn still ends within RACE_MARGIN of that send, the suite
# cannot tell "ignored" from "too late", so it reports ERROR (never a verdict on the target).
RACE_MARGIN = 0.5


def race_not_placed(seconds: float) -> SuiteError:
    return SuiteError(
        f"race not placed: the turn ended {seconds * 1000:.0f} ms after the second input was "
        f"sent (< {RACE_MARGIN * 1000:.0f} ms), too soon to judge; give the target a slower "
        "reply with --slow-text")


FIRST_CONTENT = ("bot_delta_chunk", "bot_text_chunk", "response", "bot_msg")


def require_placed(answered: bool, elapsed: float) -> None:
    """Judge a race only if it was placed: when the awaited answer (busy error, stop_play) did
    not come, the turn must have run on for RACE_MARGIN after the second input was sent."""
    if not answered and elapsed < RACE_MARGIN:
        raise race_not_placed(elapsed)


async def start_slow_turn(client: LiveClient, target: TargetSettings,
                          until: tuple[str, ...] = FIRST_CONTENT) -> list[dict]:
    """Send `slow_text` and read up to the first frame of its turn whose type is in `until`.
    A turn that ends before that leaves no room for a race: ERROR, not a verdict."""
    await client.send({"t": "text_input", "text": target.slow_text})
    frames = await client.until(lambda f: f.get("t") in until or ends_turn(f),
                                waiting_for=f"the first of {'/'.join(until)} of a slow turn")
    if ends_turn(frames[-1]) and frames[-1].get("t") not in until:
        raise SuiteError(f"race not placed: the slow turn ended ({frames[-1]}) before any of "
                         f"{'/'.join(until)}")
    return frames


async def send_audio(client: LiveClient, transcript: str, stamp: str = "seg_001") -> None:
    await client.send({"t": "start_speaking", "stamp": stamp})
    for part in chunks_b64(speech_pcm(transcript)):
        await client.send({"t": "speaking_part", "data": part})
    await client.send({"t": "end_speaking", "stamp": stamp})
