"""The order of the checks. The spec-driven fuzzing may write (on a disposable target, with
`--allow-writes`): on real AstrBot a fuzzed `PUT /api/v1/system-config` can replace the whole
configuration, JWT secret included, and every JWT socket after it fails. So it runs after every
scenario: what it changes never decides another check's verdict."""

from __future__ import annotations

# the hostile HTTP bodies and queries write too (refused creates, a backup upload): before the
# fuzzing, after every other check
LAST = ("test_http_hostile.py", "test_openapi_fuzz.py")


def pytest_collection_modifyitems(items) -> None:
    # stable: the rest keeps its order, LAST's files in LAST's order at the end
    items.sort(key=lambda item: LAST.index(item.path.name) + 1 if item.path.name in LAST else 0)
