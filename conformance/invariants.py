"""Frame-order invariants of the Live API, checked on a whole connection's server frames.

A turn opens with `user_msg` and closes with its terminal frame: `end`, `stop_play`, or an
`error` that is neither the busy answer nor an input-format error. Rules (seed 001 Live Mode
and Recommended Client Strategy; order of seed 000):
- content frames (`bot_delta_chunk`, `bot_text_chunk`, `response`, `bot_msg`) and terminal
  frames only inside a turn: nothing of a turn after its `end` or `stop_play`;
- a `user_msg` never opens a turn while another is open;
- each `bot_text_chunk` is followed by its `response` before the next `bot_text_chunk` or the
  turn's end;
- `bot_msg` only in a turn that streamed no `response`, and at most once.
Text equality (deltas vs. final text) is judged by its own requirements, not here.
`metrics` may come anywhere (they open and trail turns) and so may non-terminal errors.
"""

from __future__ import annotations

CONTENT = ("bot_delta_chunk", "bot_text_chunk", "response", "bot_msg")
BUSY_TEXT = "Session is busy"
NON_TERMINAL_CODES = ("INVALID_MESSAGE_FORMAT",)


def is_terminal_error(frame: dict) -> bool:
    return frame.get("t") == "error" and frame.get("data") != BUSY_TEXT \
        and frame.get("code") not in NON_TERMINAL_CODES


class _Turn:
    def __init__(self, index: int):
        self.index = index
        self.bot_msg_seen = False
        self.responses = 0
        self.awaiting_audio = False


def live_violations(frames: list[dict], complete: bool = False) -> list[str]:
    """Every invariant broken in `frames` (server frames of one connection, in order). With
    `complete`, the log is known to be whole, so a turn still open at its end never ended."""
    problems, turn = _walk(frames)
    if complete and turn is not None:
        problems.append(f"the turn opened at frame #{turn.index + 1} never ended")
    return problems


def turn_is_open(frames: list[dict]) -> bool:
    """Whether the last turn in `frames` still waits for its terminal frame."""
    return _walk(frames)[1] is not None


def _walk(frames: list[dict]) -> tuple[list[str], _Turn | None]:
    problems: list[str] = []
    turn: _Turn | None = None
    for i, frame in enumerate(frames):
        t = frame.get("t")
        where = f"frame #{i + 1} ({t})"
        if t == "user_msg":
            if turn is not None:
                problems.append(f"{where}: a new turn opened while the turn opened at frame "
                                f"#{turn.index + 1} had no terminal frame")
            turn = _Turn(i)
            continue
        if turn is None:
            if t in CONTENT or t in ("end", "stop_play"):
                problems.append(f"{where}: outside any turn (after its terminal frame, or "
                                "before a user_msg)")
            continue
        if t == "bot_text_chunk":
            if turn.awaiting_audio:
                problems.append(f"{where}: the previous bot_text_chunk got no response")
            turn.awaiting_audio = True
        elif t == "response":
            turn.responses += 1
            turn.awaiting_audio = False
        elif t == "bot_msg":
            if turn.bot_msg_seen or turn.responses:
                problems.append(f"{where}: bot_msg in a turn that already had "
                                + ("a bot_msg" if turn.bot_msg_seen else "audio"))
            turn.bot_msg_seen = True
        elif t == "end":
            if turn.awaiting_audio:
                problems.append(f"{where}: the last bot_text_chunk got no response")
            turn = None
        elif t == "stop_play" or is_terminal_error(frame):
            turn = None
    return problems, turn
