"""What one load turn's frames say, with the suite's own frame-order rules
(`conformance.invariants`): no gevent, no Locust, so it is the same in every process.

A turn is read until its terminal frame (`end`, `stop_play` or a terminal `error`) after its
`user_msg`; frames left over from the previous turn (its trailing `metrics`, or anything a
broken server sends after `end`) are read as the start of the next one, so a stray content
frame after `end` is caught as "outside any turn".
"""

from __future__ import annotations

import json
import re

from conformance.invariants import is_terminal_error, live_violations

TERMINAL = ("end", "stop_play", "error")
_WHERE = re.compile(r"^frame #\d+ \([^)]*\): ")
_NUMBER = re.compile(r"#\d+")


def parse_frame(raw) -> dict:
    """A server message as a frame dict; anything else as a marker frame (never an exception)."""
    if isinstance(raw, bytes):
        return {"t": "<binary>"}
    try:
        frame = json.loads(raw)
    except ValueError:
        return {"t": "<invalid JSON>"}
    return frame if isinstance(frame, dict) else {"t": "<not an object>"}


def ends_turn(frames: list[dict]) -> bool:
    """Whether the last frame closes a turn that opened in `frames`: a terminal frame after a
    `user_msg` (or a terminal error with no turn at all: a refused input)."""
    last = frames[-1] if frames else {}
    kind = last.get("t")
    if kind == "error":
        return is_terminal_error(last)
    if kind not in TERMINAL:
        return False
    return any(f.get("t") == "user_msg" for f in frames)


def rule(problem: str) -> str:
    """A violation message without its frame numbers: one name per broken rule."""
    return _NUMBER.sub("#N", _WHERE.sub("", problem))


def turn_problems(frames: list[dict]) -> list[str]:
    """The frame-order rules these frames (one turn, read to its terminal frame) break."""
    return [rule(p) for p in live_violations(frames)]


def failure_of(frames: list[dict]) -> str | None:
    """The Locust failure text of a finished turn: None when it is clean, `violation: <rule>`
    for the first broken rule, `error frame: ...` when the turn ended with an error."""
    problems = turn_problems(frames)
    if problems:
        return f"violation: {problems[0]}"
    last = frames[-1] if frames else {}
    if last.get("t") == "error":
        return f"error frame: {str(last.get('code') or last.get('data'))[:80]}"
    if not any(f.get("t") == "user_msg" for f in frames):
        return "violation: a turn closed without a user_msg"
    return None


def sse_failure(events: list) -> str | None:
    """The failure text of a POST /api/v1/chat stream read to its end: `end` must come once,
    last, and nothing undecodable before it."""
    types = [e.get("type") if isinstance(e, dict) else None for e in events]
    if not types or types[-1] != "end":
        return "violation: the chat stream ended without an end event"
    if types.count("end") != 1:
        return "violation: more than one end event in a chat stream"
    if None in types:
        return "violation: a chat stream event that is not a JSON object"
    return None
