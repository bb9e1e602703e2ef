"""Helpers for writing checks: run an async scenario within a time budget, open Live API
connections with a fresh transcript."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import Awaitable

from .bootstrap import Credentials
from .clients.http import TargetTimeout
from .clients.live import LiveClient
from .clients.transcript import Transcript
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
            raise TargetTimeout(f"the scenario did not finish within {budget} s") from exc

    return asyncio.run(bounded())


async def open_live(target: TargetSettings, title: str, *, key: str | None = None,
                    username: str | None = LIVE_USER, headers: dict | None = None,
                    transcript: Transcript | None = None, **query) -> LiveClient:
    transcript = transcript or Transcript(title)
    url = target.ws_url(LIVE_PATH, api_key=key, username=username, **query)
    return await LiveClient.open(url, timeout=target.timeout, transcript=transcript,
                                 headers=headers)


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
