"""Each seed-004 tag's operations are served from the one handler module (or package) named
after the tag (`Plugin Pages` -> simulator/http/handlers/plugin_pages.py, `Plugins` ->
handlers/plugins/), the legacy Open API's from handlers/legacy_open_api.py: a newcomer finds an
operation's handler from its tag."""

from __future__ import annotations

import re

from simulator.app import HANDLER_MODULES, handler_table
from simulator.contract import operations

HANDLERS = "simulator.http.handlers."


def slug(tag: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", tag.lower()).strip("_")


def home(op) -> str:
    """The handler module or package an operation belongs in."""
    if op.document == "legacy":
        return "legacy_open_api"
    tags = op.spec.get("tags") or []
    assert len(tags) == 1, f"{op.operation_id} has tags {tags}"
    return slug(tags[0])


def served_by() -> dict[str, str]:
    """operationId -> the tag module (or package) of the handler module that serves it."""
    found = {}
    for module in HANDLER_MODULES:
        assert module.__name__.startswith(HANDLERS), module.__name__
        unit = module.__name__[len(HANDLERS):].split(".")[0]
        for operation_id in module.operation.table():
            found[operation_id] = unit
    return found


def test_every_operation_is_served_from_the_module_named_after_its_tag():
    served = served_by()
    wrong = {op.operation_id: (served.get(op.operation_id), home(op)) for op in operations()
             if not op.websocket and served.get(op.operation_id) != home(op)}
    assert wrong == {}


def test_every_handler_module_serves_one_tag_only():
    by_module: dict[str, set[str]] = {}
    for op in operations():
        if not op.websocket:
            by_module.setdefault(served_by()[op.operation_id], set()).add(home(op))
    assert {m: tags for m, tags in by_module.items() if len(tags) != 1} == {}


def test_the_app_lists_every_handler_module_once():
    from pathlib import Path

    names = [m.__name__ for m in HANDLER_MODULES]
    assert len(names) == len(set(names))
    root = Path(__file__).resolve().parent.parent / "simulator" / "http" / "handlers"
    on_disk = {".".join(("simulator", "http", "handlers",
                         *p.relative_to(root).with_suffix("").parts))
               for p in root.rglob("*.py") if p.name != "__init__.py"}
    assert on_disk == set(names)
    assert set(handler_table()) == set(served_by())
