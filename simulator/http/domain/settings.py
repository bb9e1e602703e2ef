"""Settings documents (JSON in the store's settings table) and the text-to-image template
files `<data_dir>/t2i_templates/<name>.html` with the active template, shared by the System
Config, Subagents, T2I and Bot Config Routes handlers."""

from __future__ import annotations

import copy
import json

from ..kernel.paths import inside
from .catalogue import BASE_T2I_TEMPLATE, DEFAULT_T2I_TEMPLATE


def load_setting(store, key: str, default):
    raw = store.setting(key)
    return json.loads(raw) if raw else copy.deepcopy(default)


def save_setting(store, key: str, value) -> None:
    store.set_setting(key, json.dumps(value, ensure_ascii=False))


# -- text-to-image templates ---------------------------------------------------------------
T2I_ACTIVE = "t2i_active_template"


def template_dir(sim):
    return sim.config.data_dir / "t2i_templates"


def template_file(sim, name: str):
    return inside(template_dir(sim), f"{name}.html", "template name")


def template_content(sim, name: str) -> str | None:
    path = template_file(sim, name)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return BASE_T2I_TEMPLATE if name == DEFAULT_T2I_TEMPLATE else None


def active_t2i_template(sim) -> str:
    name = sim.store.setting(T2I_ACTIVE) or DEFAULT_T2I_TEMPLATE
    return name if template_content(sim, name) is not None else DEFAULT_T2I_TEMPLATE
