"""Deliberately broken targets, to prove the suite reports what they break (and nothing it
did itself). Each is the real simulator with one behaviour replaced by a middleware, or a bare
server without the endpoint; run one as a process:

    python -m tests.broken_targets MODE --port P --data-dir D

Modes:
    no-live   the Live API WebSocket path answers 404 (the endpoint does not exist)
    closes    /api/v1/live/ws accepts the upgrade, then closes at once without a frame
    silent    /api/v1/live/ws accepts and never sends anything
    bare      an HTTP server that answers 404 to everything (not AstrBot at all)
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

from simulator.app import create_app
from simulator.config import SimConfig

LIVE_PATH = "/api/v1/live/ws"
MODES = ("no-live", "closes", "silent", "bare")


def live_override(mode: str):
    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path != LIVE_PATH:
            return await handler(request)
        if mode == "no-live":
            return web.Response(status=404, text="Not Found")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if mode == "closes":
            await ws.close()
        else:
            async for _ in ws:
                await asyncio.sleep(0)
        return ws

    return middleware


def build(mode: str, data_dir: str) -> web.Application:
    if mode == "bare":
        return web.Application()
    app = create_app(SimConfig(data_dir=data_dir))
    app.middlewares.insert(0, live_override(mode))
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    web.run_app(build(args.mode, args.data_dir), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
