"""Chat history as the engines see it: a small synchronous port over the store, so the
protocol engines stay free of sockets and sleeps (tests give them an in-memory one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


@dataclass(frozen=True)
class Saved:
    id: int
    created_at: str
    llm_checkpoint_id: str

    def as_data(self) -> dict:
        return {"id": self.id, "created_at": self.created_at,
                "llm_checkpoint_id": self.llm_checkpoint_id}


class History(Protocol):
    def save(self, session_id: str, sender: str, role: str, content: list,
             checkpoint: str | None = None, interrupted: bool = False) -> Saved: ...

    def owner(self, session_id: str) -> str | None: ...

    def ensure_session(self, session_id: str, creator: str) -> None: ...

    def save_turn(self, session_id: str, creator: str, messages: list[tuple]) -> None:
        """The session (created when new) and its messages `(sender, role, content,
        interrupted)`, written together; the store may queue them until `flush`."""

    def flush(self) -> None:
        """Commit what `save_turn` queued (before frames that follow a turn are sent)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class StoreHistory:
    def __init__(self, store):
        self.store = store

    def save(self, session_id, sender, role, content, checkpoint=None, interrupted=False):
        checkpoint = checkpoint or str(uuid.uuid4())
        stamp = now_iso()
        row = self.store.save_message(session_id, sender, role, content, stamp, checkpoint,
                                      interrupted)
        return Saved(row, stamp, checkpoint)

    def owner(self, session_id):
        return self.store.chat_session_creator(session_id)

    def ensure_session(self, session_id, creator):
        self.store.add_chat_session(session_id, creator, now_iso())

    def save_turn(self, session_id, creator, messages):
        self.store.save_turn(session_id, creator, now_iso(), messages)

    def flush(self):
        self.store.flush()


@dataclass
class MemoryHistory:
    rows: list[dict] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)

    def save(self, session_id, sender, role, content, checkpoint=None, interrupted=False):
        checkpoint = checkpoint or f"ckpt-{len(self.rows) + 1}"
        self.rows.append({"session_id": session_id, "sender": sender, "role": role,
                          "content": content, "interrupted": interrupted})
        return Saved(len(self.rows), f"2026-01-01T00:00:{len(self.rows):02d}+00:00", checkpoint)

    def owner(self, session_id):
        return self.owners.get(session_id)

    def ensure_session(self, session_id, creator):
        self.owners.setdefault(session_id, creator)

    def save_turn(self, session_id, creator, messages):
        self.ensure_session(session_id, creator)
        for sender, role, content, interrupted in messages:
            self.save(session_id, sender, role, content, interrupted=interrupted)

    def flush(self):
        pass
