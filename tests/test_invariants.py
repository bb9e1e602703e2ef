"""The frame-order invariants the suite applies to every live frame log."""

from __future__ import annotations

import pytest

from conformance.invariants import live_violations, turn_is_open

M = {"t": "metrics", "data": {}}
U = {"t": "user_msg", "data": {"text": "hi", "ts": 1}}
D = {"t": "bot_delta_chunk", "data": {"text": "Hi."}}
C = {"t": "bot_text_chunk", "data": {"text": "Hi."}}
R = {"t": "response", "data": "UklGRg=="}
B = {"t": "bot_msg", "data": {"text": "Hi.", "ts": 2}}
E = {"t": "end"}
S = {"t": "stop_play"}
BUSY = {"t": "error", "data": "Session is busy", "code": "PROCESSING_ERROR"}
BAD = {"t": "error", "data": "message must be non-empty text", "code": "INVALID_MESSAGE_FORMAT"}
FAILED = {"t": "error", "data": "Processing failed: x", "code": "PROCESSING_ERROR"}


@pytest.mark.parametrize("log", [
    [M, U, D, M, C, R, M, M, E, M],
    [M, U, D, B, E, M, M, U, D, S],
    [BAD, M, U, D, BUSY, D, C, R, E, M, M],
    [M, U, FAILED, M, U, D, B, E],
    [M, U, D, S, M],
])
def test_good_logs(log):
    assert live_violations(log, complete=True) == []


@pytest.mark.parametrize("log, problem", [
    ([M, U, D, E, D], "outside any turn"),
    ([M, U, D, S, R], "outside any turn"),
    ([M, U, D, S, E], "outside any turn"),
    ([M, U, D, U, D, E], "a new turn opened"),
    ([M, U, C, C, R, E], "previous bot_text_chunk got no response"),
    ([M, U, C, E], "last bot_text_chunk got no response"),
    ([M, U, C, R, B, E], "already had audio"),
    ([M, U, B, B, E], "already had a bot_msg"),
    ([E], "outside any turn"),
    ([M, U, D], "never ended"),
])
def test_bad_logs(log, problem):
    problems = live_violations(log, complete=True)
    assert any(problem in p for p in problems), problems


def test_open_turn_is_only_a_problem_for_a_complete_log():
    assert live_violations([M, U, D]) == [] and turn_is_open([M, U, D])
    assert not turn_is_open([M, U, D, E])
