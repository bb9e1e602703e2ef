"""Which sockets are bound to which chat session, so that a message pushed over HTTP
(`POST /api/v1/im/messages`) reaches them (seed 001 `bind`; research CHAT-WS-005, IM-004)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


class Hub:
    def __init__(self):
        self._subscribers: dict[str, dict[int, Callable[[str], None]]] = defaultdict(dict)

    def subscribe(self, session_id: str, owner: int, deliver: Callable[[str], None]) -> None:
        self._subscribers[session_id][owner] = deliver

    def unsubscribe_all(self, owner: int) -> None:
        for session_id in list(self._subscribers):
            self._subscribers[session_id].pop(owner, None)
            if not self._subscribers[session_id]:
                del self._subscribers[session_id]

    def publish(self, session_id: str, text: str) -> int:
        """Deliver `text` to every socket bound to `session_id`; how many got it."""
        targets = list(self._subscribers.get(session_id, {}).values())
        for deliver in targets:
            deliver(text)
        return len(targets)
