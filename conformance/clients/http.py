"""A small HTTP client over aiohttp: every request bounded by the target timeout, every
exchange written to a transcript. `request()` is the synchronous entry point the checks use."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from ..outcomes import SuiteError, TargetTimeout, wire_failure
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


async def read_up_to(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body to its end, or its first `cap` bytes. One `read(n)` gives only what is
    buffered: a body in two TCP segments came back cut (and an envelope cut short is judged
    as no JSON)."""
    data = b""
    while len(data) < cap and (chunk := await resp.content.read(cap - len(data))):
        data += chunk
    return data


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
    what = f"{method} {_shown(url)}"
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
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:  # the wire rule (outcomes.py)
        broke = wire_failure(exc, what, timeout)
        if transcript is not None:
            transcript.note(str(broke) if broke else f"network error: {exc!r}")
            if broke is not None and broke.raw is not None:
                transcript.add("<<", {"raw": repr(broke.raw)})
        if broke is None:  # an unknown host, a local resource: not the target's doing
            raise SuiteError(f"{what}: network error: {_cause(exc)}") from exc
        broke.transcript = transcript
        raise broke from exc
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


def _shown(url: str) -> str:
    """The path of `url`, as the wire rule's reasons name an exchange (no query: it may hold
    a credential)."""
    return urlsplit(url).path or "/"


def _cause(exc: BaseException) -> str:
    return exc.os_error.strerror or str(exc.os_error) \
        if isinstance(exc, aiohttp.ClientConnectorError) else repr(exc)


__all__ = ["HttpResult", "TargetTimeout", "arequest", "request"]
