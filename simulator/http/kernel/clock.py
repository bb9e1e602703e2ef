"""The simulator's one clock for stored timestamps: ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
