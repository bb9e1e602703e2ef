"""Reading a chat answer that streams as Server-Sent Events: line by line, every read bounded
by the timeout, at most MAX_EVENTS, stopping at the `end` event. A JSON answer (an error
envelope instead of a stream) is returned as such. An event whose `type` the contract does not
define (`conformance.frames.sse_types`) is marked `undocumented` in the wire log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from ..frames import sse_types
from ..outcomes import SuiteError, TargetTimeout, no_answer, wire_failure
from .transcript import Transcript

MAX_EVENTS = 5000


@dataclass
class SseResult:
    status: int
    content_type: str
    events: list = field(default_factory=list)  # decoded `data:` payloads, in order
    heartbeats: int = 0  # comment lines (`: heartbeat`)
    body: object = None  # the JSON body when the answer was not a stream
    malformed: list[str] = field(default_factory=list)  # lines that are not SSE
    after_end: list = field(default_factory=list)  # events after `end` (read when asked)

    def types(self) -> list:
        return [e.get("type") if isinstance(e, dict) else None for e in self.events]


async def post_sse(url: str, *, json_body: dict, headers: dict, timeout: float,
                   transcript: Transcript, after_end: float = 0.0) -> SseResult:
    """`after_end` > 0: the body is read on after `end`, until it ends or for that many
    seconds, its events kept in `after_end`."""
    transcript.add(">>", {"method": "POST", "url": url, "headers": headers, "json": json_body})
    transcript.kind, transcript.path = "sse", urlsplit(url).path
    try:
        async with aiohttp.ClientSession() as session, session.post(
                url, json=json_body, headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout,
                                              sock_read=timeout)) as resp:
            result = SseResult(resp.status, resp.headers.get("Content-Type", ""))
            transcript.add("<<", {"status": resp.status, "content_type": result.content_type})
            if not result.content_type.startswith("text/event-stream"):
                text = await asyncio.wait_for(resp.text(), timeout)
                try:
                    result.body = json.loads(text)
                except ValueError:
                    result.body = text
                transcript.add("<<", {"body": text[:2000]})
                return result
            await _read_events(resp, result, timeout, transcript)
            if after_end > 0 and result.types()[-1:] == ["end"]:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_read_after_end(resp, result, transcript),
                                           after_end)
            return result
    except TimeoutError as exc:  # the stream stalled: the wire rule's first form
        reason = no_answer(f"POST {transcript.path} (the next line of its event stream)",
                           timeout)
        transcript.note(reason)
        raise TargetTimeout(reason) from exc
    except (aiohttp.ClientError, OSError) as exc:  # the wire rule (outcomes.py)
        broke = wire_failure(exc, f"POST {transcript.path}", timeout)
        transcript.note(str(broke) if broke else f"network error: {exc!r}")
        if broke is None:  # an unknown host, a local resource: not the target's doing
            raise SuiteError(f"POST {transcript.path}: network error: {exc!r}") from exc
        raise broke from exc


async def _read_events(resp, result: SseResult, timeout: float, transcript: Transcript) -> None:
    data_lines: list[str] = []
    while len(result.events) < MAX_EVENTS:
        raw = await asyncio.wait_for(resp.content.readline(), timeout)
        if not raw:
            return  # end of the body
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith(":"):
            result.heartbeats += 1
        elif line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
        elif line == "" and data_lines:
            payload = "\n".join(data_lines)
            data_lines = []
            try:
                event = json.loads(payload)
            except ValueError:
                event = {"_raw": payload}
                result.malformed.append(payload[:200])
            result.events.append(event)
            kind = event.get("type") if isinstance(event, dict) else None
            transcript.add("<<", event, undocumented=kind if isinstance(kind, str)
                           and kind not in sse_types() else None)
            if isinstance(event, dict) and event.get("type") == "end":
                return
        elif line and not line.startswith(("event:", "id:", "retry:")):
            result.malformed.append(line[:200])


async def _read_after_end(resp, result: SseResult, transcript: Transcript) -> None:
    data_lines: list[str] = []
    while len(result.after_end) < MAX_EVENTS:
        raw = await resp.content.readline()
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
        elif line == "" and data_lines:
            try:
                event = json.loads("\n".join(data_lines))
            except ValueError:
                event = {"_raw": "\n".join(data_lines)}
            data_lines = []
            result.after_end.append(event)
            transcript.add("<<", event, note="after end")
