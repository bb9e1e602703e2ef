"""The order of the checks. The spec-driven fuzzing may write (on a disposable target, with
`--allow-writes`): on real AstrBot a fuzzed `PUT /api/v1/system-config` can replace the whole
configuration, JWT secret included, and every JWT socket after it fails. So it runs after every
scenario: what it changes never decides another check's verdict."""

from __future__ import annotations

# the hostile HTTP bodies and queries write too (refused creates, a backup upload): before the
# fuzzing, after every other check
LAST = ("test_http_hostile.py", "test_openapi_fuzz.py")

# on workers (`--workers`), a scenario file is one unit: its module fixtures made once. These
# files' module fixture is parametrized instead (a firing per socket), so each parameter is a
# unit of its own: the hostile WebSocket frames on seven sockets took 190 s in one unit at full
# depth on 2 cores, most of the run's wall time.
PER_PARAMETER = ("test_ws_hostile.py",)

# on workers, these files' units go first among the scenario files: the longest at full depth
# (2 cores: the random sequences 44 s in one check, the hostile frames ~27 s a socket, the JWT
# paths 18 s), and the malformed Live API frames (7 s, five turns on fresh sockets: last of a
# quick run's files when xdist's order sent them late). xdist orders the units by their number
# of checks, which sent the random sequences, one check, last: the fuzzing it should have
# overlapped waited for it.
LONG = ("test_random_sequences.py", "test_ws_hostile.py", "test_jwt_paths.py",
        "test_robustness.py")


def pytest_collection_modifyitems(items) -> None:
    # stable: the rest keeps its order, LAST's files in LAST's order at the end
    items.sort(key=lambda item: LAST.index(item.path.name) + 1 if item.path.name in LAST else 0)
