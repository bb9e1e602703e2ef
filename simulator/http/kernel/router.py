"""Wire every operation of specs/openapi-v1.yaml to the aiohttp app, table-driven.

For each operation: authenticate and check `x-astrbot-scope` (skipped for `security: []`),
validate the JSON body against the spec schema, then call the simulator's handler for its
operationId (`sim.handlers`, built by simulator/app.py from the handler modules it lists: each
module names its operations with its own `operation = Operations()` table). An operation without
a handler answers 501 with the error envelope, after the same auth checks, so scope behaviour is
uniform across the whole surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ...auth import Principal
from ...contract import Operation, operations
from .envelope import ApiError, ok
from .jsonbody import check_text
from .validation import read_json_body, read_query

Handler = Callable[["Ctx"], Awaitable[Any]]


class Operations:
    """The operations one handler module serves: `operation = Operations()`, then
    `@operation("getBot")` on a handler (stacked for several ids) or `operation.crud(BOTS,
    {"listBots": "list", ...})` for table-driven CRUD (kernel/collections.py)."""

    def __init__(self) -> None:
        self._table: dict[str, Handler] = {}

    def __call__(self, operation_id: str):
        def register(fn):
            self.add(operation_id, fn)
            return fn
        return register

    def add(self, operation_id: str, fn: Handler) -> None:
        if operation_id in self._table:
            raise ValueError(f"{operation_id} has two handlers")
        self._table[operation_id] = fn

    def crud(self, collection, actions: dict[str, str]) -> None:
        for operation_id, action in actions.items():
            self.add(operation_id, getattr(collection, action))

    def table(self) -> dict[str, Handler]:
        return dict(self._table)


def handler_table(modules) -> dict[str, Handler]:
    """{operationId: handler} of the handler modules (each with an `operation` table); an
    operationId served twice is a ValueError."""
    table: dict[str, Handler] = {}
    for module in modules:
        for operation_id, fn in module.operation.table().items():
            if operation_id in table:
                raise ValueError(f"{operation_id} served by two modules ({module.__name__})")
            table[operation_id] = fn
    return table


@dataclass
class Ctx:
    request: web.Request
    op: Operation
    principal: Principal | None
    body: Any
    sim: Any  # simulator.app.Simulator
    query: dict = field(default_factory=dict)  # declared query parameters, typed and checked

    def param(self, name: str) -> str:
        """A path parameter, else a query parameter, else a body field of that name: the
        `/by-id` variants of seed 004 name the same id in the query or the body."""
        if name in self.request.match_info:
            return self.request.match_info[name]
        if self.query.get(name) is not None:
            return str(self.query[name])  # "" is a valid string that names nothing: 404 later
        if isinstance(self.body, dict) and self.body.get(name) is not None:
            return str(self.body[name])
        raise ApiError(400, f"Missing key: {name}")

    @property
    def username(self) -> str:
        return self.principal.username if self.principal else "guest"


def _route_order(op: Operation) -> tuple:
    # literal segments before {parameters}, so /plugins/market wins over /plugins/{plugin_id}
    segments = op.path.strip("/").split("/")
    return tuple((seg.startswith("{"), seg) for seg in segments)


def make_handler(op: Operation, sim) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = None
        if not op.public:
            principal = sim.auth.authenticate(
                request.headers, request.query, request.cookies, op.scope
            )
        impl = sim.handlers.get(op.operation_id)
        if impl is None:
            raise ApiError(501, f"Not implemented by the simulator: {op.operation_id}")
        check_text("path parameter", request.match_info.items())
        check_text("query parameter", request.query.items())
        query = read_query(request, op)
        body = await read_json_body(request, op)
        result = await impl(Ctx(request, op, principal, body, sim, query))
        if isinstance(result, web.StreamResponse):
            return result
        return ok(result)

    handle.__name__ = op.operation_id
    return handle


async def _ws_not_implemented(request: web.Request) -> web.StreamResponse:
    raise ApiError(501, f"WebSocket not implemented by the simulator: {request.path}")


def add_operation_routes(app: web.Application, sim, websocket_handlers: dict) -> None:
    for op in sorted(operations(), key=_route_order):
        if op.websocket:
            app.router.add_get(op.path, websocket_handlers.get(op.path, _ws_not_implemented))
        else:
            app.router.add_route(op.method, op.path, make_handler(op, sim))
