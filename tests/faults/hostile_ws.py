"""Faults in how the WebSocket paths take hostile frames (ROB-WS-*): the defects found by hand
(issue 15) planted back one at a time."""

from __future__ import annotations

FAULTS = ()
