"""Hooks a fault's `patch` uses to change one behaviour of the simulator, in its own process.

    wrap(owner, name)           replace a function or method; the new one gets the original
    handler(operation_id)       replace the handler of one seed-004 operation (gets the original)
    middleware(mw, outer=False) add an aiohttp middleware when the app is built: inside the
                                envelope middleware (like a handler: its ApiError becomes the
                                error envelope) or, with outer, before everything
    frames(fn, cls)             rewrite what a socket engine sends: fn(session, method, effects)
                                -> effects, for every method of `cls` that returns effects (an
                                event the engine refuses comes as its error frame)
    sent(effects, kind)         the frames among effects
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from simulator import app, cli
from simulator.live import engine
from simulator.live.engine import Send
from simulator.live.states import ProtocolError

__all__ = ["Send", "frames", "handler", "middleware", "sent", "wrap"]


def wrap(owner, name: str):
    """Decorator: `owner.name` becomes the decorated function, called with the original first
    (async when the original is)."""
    def install(fn):
        original = getattr(owner, name)
        if inspect.iscoroutinefunction(original):
            @functools.wraps(original)
            async def replaced(*args, **kwargs):
                return await fn(original, *args, **kwargs)
        else:
            @functools.wraps(original)
            def replaced(*args, **kwargs):
                return fn(original, *args, **kwargs)
        setattr(owner, name, replaced)
        return replaced
    return install


def handler(operation_id: str):
    """Decorator: the operation's handler becomes `fn(original, ctx)` (async), in the handler
    table of every simulator built from now on (simulator.app.handler_table)."""
    if operation_id not in app.handler_table():
        raise KeyError(f"no handler for {operation_id}")

    def install(fn):
        @wrap(app, "handler_table")
        def table(build):
            handlers = build()
            original = handlers[operation_id]

            async def replaced(ctx):
                return await fn(original, ctx)
            handlers[operation_id] = replaced
            return handlers
        return fn
    return install


def middleware(mw: Callable, outer: bool = False) -> None:
    build = cli.create_app

    def create_app(config):
        app = build(config)
        if outer:
            app.middlewares.insert(0, mw)
        else:
            app.middlewares.append(mw)
        return app
    cli.create_app = create_app


# LiveSession methods a socket adapter calls that return effects
ENGINE_METHODS = ("receive_text", "receive_bytes", "llm_delta", "llm_done", "llm_failed",
                  "spoken", "speak_failed", "transcribed", "transcribe_failed", "pushed",
                  "disconnected")


def frames(fn: Callable[[object, str, list], list], cls=engine.LiveSession) -> None:
    """Every effect list the engine (`cls`: LiveSession, or chat_ws.ChatSocket for
    /api/v1/chat/ws) returns goes through `fn(session, method_name, effects)` first."""
    for name in ENGINE_METHODS:
        if not hasattr(cls, name):
            continue

        def install(method_name: str) -> None:
            @wrap(cls, method_name)
            def rewritten(original, self, *args, **kwargs):
                try:
                    effects = original(self, *args, **kwargs)
                except ProtocolError as refused:  # sent as its frame, as the adapter does
                    effects = [Send(refused.frame)]
                return fn(self, method_name, list(effects or []))
        install(name)


def sent(effects: list, kind: str | None = None) -> list[dict]:
    """The frames among `effects` (of one `t`/`type` when given)."""
    out = [e.frame for e in effects if isinstance(e, Send)]
    return [f for f in out if kind is None or kind in (f.get("t"), f.get("type"))]
