"""The order of the checks. The spec-driven fuzzing may write (on a disposable target, with
`--allow-writes`): on real AstrBot a fuzzed `PUT /api/v1/system-config` can replace the whole
configuration, JWT secret included, and every JWT socket after it fails. So it runs after every
scenario: what it changes never decides another check's verdict."""

from __future__ import annotations

LAST = ("test_openapi_fuzz.py",)


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: item.path.name in LAST)  # stable: the rest keeps its order
