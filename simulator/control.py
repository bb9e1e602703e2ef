"""The simulator's own control surface under `/_sim/`, outside every path of the contract.

Every route added with `add_control_route` answers loopback peers only (127.0.0.1, ::1):
anyone else gets 403 with the error envelope. Features that expose controls here (faults,
client reports) share this guard.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from .http.kernel.envelope import error

PREFIX = "/_sim/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def loopback_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not is_loopback(request):
            return error(403, f"{PREFIX} answers loopback clients only")
        return await handler(request)

    return guarded


def add_control_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Route `PREFIX + path` (e.g. "faults") to `handler`, loopback peers only."""
    app.router.add_route(method, PREFIX + path.lstrip("/"), loopback_only(handler))
