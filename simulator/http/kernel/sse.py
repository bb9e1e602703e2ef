"""Server-sent events: one `data: {...}` line per event and a `: heartbeat` comment for each
silent second (research SSE-001..SSE-003), written from an async iterator of events."""

from __future__ import annotations

import contextlib
import json

from aiohttp import web


def encode(event: dict) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def stream(request: web.Request, events) -> web.StreamResponse:
    """Write every event of `events` (an async generator of dicts; None means "a silent
    second": a heartbeat comment), then end the body. A client that goes away closes the
    generator, so its cleanup (a partial reply kept) still runs."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    async with contextlib.aclosing(events):
        async for event in events:
            await response.write(b": heartbeat\n\n" if event is None else encode(event))
    await response.write_eof()
    return response
