"""A Live engine driven the way the adapter (`simulator/live/ws.py`) drives it, for tests that
call it directly: a refused event (`ProtocolError`) comes back as its error frame, and history
writes are carried out at once on an in-memory (or given) history, the frame announcing a
saved message in its place. No sockets, no sleeps."""

from __future__ import annotations

from simulator.history import MemoryHistory
from simulator.live.effects import SaveMessage, SaveTurn, Send, write_history
from simulator.live.engine import LiveSession
from simulator.live.states import ProtocolError

# the LiveSession methods an adapter calls (each returns effects)
ENGINE_METHODS = frozenset({"receive_text", "receive_bytes", "llm_delta", "llm_done",
                            "llm_failed", "spoken", "speak_failed", "transcribed",
                            "transcribe_failed", "pushed", "disconnected"})


class Driven:
    """`LiveSession` with the adapter's part done; every other attribute is the session's."""

    def __init__(self, session: LiveSession, history=None):
        self.session = session
        self.history = history if history is not None else MemoryHistory()

    def __getattr__(self, name):
        attr = getattr(self.session, name)
        if name not in ENGINE_METHODS:
            return attr

        def call(*args):
            try:
                effects = attr(*args)
            except ProtocolError as refused:
                return [Send(refused.frame)]
            return self.settle(effects)
        return call

    def settle(self, effects) -> list:
        out = []
        for effect in effects:
            if isinstance(effect, (SaveMessage, SaveTurn)):
                frame = write_history(self.history, effect)
                if frame is not None:
                    out.append(Send(frame))
            else:
                out.append(effect)
        return out


def driven(username: str = "alice", history=None, **kwargs) -> Driven:
    return Driven(LiveSession(username=username, **kwargs), history)
