"""The response envelopes of seed 004 and the status-code rule of the simulator.

Success: `{"status": "ok", "data": ...}` (plus `message` when there is one: the schema types it as
a string, so the simulator never sends `null`). Error: `{"status": "error", "message": ...}`.

Status codes (the spec declares only 200; this is the rule recorded in specs/requirements.yaml):
400 malformed or invalid input, 401 missing/invalid credentials, 403 insufficient scope,
404 unknown path or resource, 405 wrong method, 409 state conflict, 413 body too large,
501 an operation of the contract the simulator does not implement yet.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ...auth import AuthError
from .methods import allowed_methods

log = logging.getLogger("astrbot_sim.http")


class ApiError(Exception):
    def __init__(self, status: int, message: str, data=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj) -> str:
    """Compact JSON, one shared encoder (this runs for every WebSocket frame)."""
    return _ENCODER.encode(obj)


def ok(data=None, message: str | None = None, status: int = 200) -> web.Response:
    body: dict = {"status": "ok"}
    if message is not None:
        body["message"] = message
    body["data"] = {} if data is None else data
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def error(status: int, message: str, data=None) -> web.Response:
    body: dict = {"status": "error", "message": message}
    if data is not None:
        body["data"] = data
    return web.Response(text=dumps(body), status=status, content_type="application/json")


@web.middleware
async def envelope_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return error(exc.status, exc.message, exc.data)
    except AuthError as exc:
        return error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error(exc.status, exc.reason or "Error")
        if exc.status == 405:  # name the methods the path has (RFC 9110 15.5.6)
            response.headers["Allow"] = ", ".join(allowed_methods(request.path))
        return response
    except HttpProcessingError as exc:  # a malformed multipart part, header or chunk
        return error(400, f"Malformed request: {exc.message}")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error(500, "Internal server error")
