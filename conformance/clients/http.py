"""A small HTTP client over aiohttp: every request bounded by the target timeout, every
exchange written to a transcript. `request()` is the synchronous entry point the checks use."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp

from ..outcomes import SuiteError, Violation
from .transcript import Transcript

BODY_LOG_LIMIT = 4000


@dataclass
class HttpResult:
    status: int
    headers: dict
    text: str
    json: object  # None when the body is not JSON

    def envelope_message(self) -> str | None:
        return self.json.get("message") if isinstance(self.json, dict) else None


STREAM_READ_LIMIT = 64 * 1024  # an event stream is sampled, never read to its (absent) end
STREAM_READ_SECONDS = 1.0


async def _body_text(resp: aiohttp.ClientResponse, timeout: float) -> str:
    if not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
        return await resp.text(errors="replace")
    try:  # a stream: what arrives within a second, bounded in size
        chunk = await asyncio.wait_for(resp.content.read(STREAM_READ_LIMIT),
                                       min(timeout, STREAM_READ_SECONDS))
    except TimeoutError:
        chunk = b""
    return chunk.decode("utf-8", errors="replace")


async def arequest(method: str, url: str, *, timeout: float, transcript: Transcript | None = None,
                   headers: dict | None = None, json_body=None, data=None,
                   session: aiohttp.ClientSession | None = None) -> HttpResult:
    """One request, bounded by `timeout` (an event stream is sampled, not drained); `data` is
    a raw body or an aiohttp.FormData."""
    own = session is None
    session = session or aiohttp.ClientSession()
    if transcript is not None:
        transcript.add(">>", {"method": method, "url": url, "headers": headers or {},
                              "json": json_body})
    try:
        async with session.request(
            method, url, headers=headers, json=json_body, data=data,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout,
                                          sock_read=timeout),
        ) as resp:
            text = await asyncio.wait_for(_body_text(resp, timeout), timeout)
            result = HttpResult(resp.status, dict(resp.headers), text, _json_or_none(text))
    except TimeoutError as exc:
        if transcript is not None:
            transcript.note(f"no answer within {timeout} s")
        raise TargetTimeout(f"{method} {url}: no answer within {timeout} s") from exc
    except aiohttp.ClientError as exc:
        cause = exc.os_error.strerror if isinstance(exc, aiohttp.ClientConnectorError) \
            else repr(exc)
        if transcript is not None:
            transcript.note(f"network error: {cause}")
        raise SuiteError(f"{method} {url}: network error: {cause}") from exc
    finally:
        if own:
            await session.close()
    if transcript is not None:
        transcript.add("<<", {"status": result.status, "body": text[:BODY_LOG_LIMIT]})
    return result


def request(method: str, url: str, **kwargs) -> HttpResult:
    return asyncio.run(arequest(method, url, **kwargs))


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


class TargetTimeout(Violation):
    """The target did not answer in time: a failure of the target, not of the suite."""
