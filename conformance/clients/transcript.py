"""A wire log: what the suite sent and received, with times relative to its start."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(eq=False)  # two logs are the same log only if they are one object
class Transcript:
    title: str
    entries: list[dict] = field(default_factory=list)
    kind: str = "log"  # "websocket-live", "websocket-chat", "websocket-openchat", "http"
    path: str | None = None  # the WebSocket path, for WebSocket logs
    started: float = field(default_factory=time.monotonic)

    def add(self, direction: str, payload, **extra) -> None:
        entry = {"at_ms": round((time.monotonic() - self.started) * 1000, 1),
                 "dir": direction, "data": payload}
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.entries.append(entry)

    def note(self, text: str) -> None:
        self.add("--", text)

    def received(self) -> list:
        """What the target sent, in order (decoded frames or HTTP answers)."""
        return [e["data"] for e in self.entries if e["dir"] == "<<"
                and not (isinstance(e["data"], dict) and "close" in e["data"])]

    def schema_problems(self) -> list[str]:
        """Frames received off their schema, as the client recorded them."""
        return [f"{self.title}: frame at {e['at_ms']} ms: {'; '.join(e['schema_errors'])}"
                for e in self.entries if e.get("schema_errors")]

    def as_evidence(self) -> dict:
        return {"title": self.title, "kind": self.kind, "log": self.entries}
