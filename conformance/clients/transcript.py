"""A wire log: what the suite sent and received, with times relative to its start."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field


@dataclass(eq=False)  # two logs are the same log only if they are one object
class Transcript:
    title: str
    entries: list[dict] = field(default_factory=list)
    kind: str = "log"  # "websocket-live", "websocket-chat", "websocket-openchat", "http", "sse"
    path: str | None = None  # the WebSocket path, or the path of an SSE stream
    started: float = field(default_factory=time.monotonic)

    def add(self, direction: str, payload, **extra) -> None:
        entry = {"at_ms": round((time.monotonic() - self.started) * 1000, 1),
                 "dir": direction, "data": payload}
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.entries.append(entry)

    def note(self, text: str) -> None:
        self.add("--", text)

    def mark_sent(self, types: tuple[str, ...], violation: str) -> None:
        """Name the rule the target broke on the last frame of one of `types` the suite sent:
        report.html shows it on that frame of the timeline."""
        for entry in reversed(self.entries):
            data = entry["data"]
            if entry["dir"] == ">>" and isinstance(data, dict) and data.get("t") in types:
                entry["violation"] = violation
                return

    def received(self) -> list:
        """What the target sent, in order (decoded frames or HTTP answers)."""
        return [e["data"] for e in self.entries if e["dir"] == "<<"
                and not (isinstance(e["data"], dict) and "close" in e["data"])]

    def schema_problems(self) -> list[str]:
        """Frames received off their schema, as the client recorded them."""
        return [f"{self.title}: frame at {e['at_ms']} ms: {'; '.join(e['schema_errors'])}"
                for e in self.entries if e.get("schema_errors")]

    def undocumented(self) -> list[dict]:
        """Frames or events received whose type the contract does not define, as recorded."""
        return [e for e in self.entries if e.get("undocumented")]

    def as_evidence(self) -> dict:
        return {"title": self.title, "kind": self.kind, "log": self.entries}


def undocumented_findings(logs: list[Transcript]) -> list[str]:
    """One line per frame or event type the contract does not define, over `logs`: how often
    it came, where first (log title, path, time) and that first frame as the example."""
    seen: dict[str, list] = {}
    for log in logs:
        for entry in log.undocumented():
            seen.setdefault(entry["undocumented"], []).append((log, entry))
    lines = []
    for kind, hits in sorted(seen.items()):
        log, entry = hits[0]
        example = json.dumps(entry["data"], ensure_ascii=False)[:300]
        lines.append(f"type {kind!r} ({len(hits)}x), first on {log.path or '?'} in "
                     f"{log.title!r} at {entry['at_ms']} ms: {example}")
    return lines
