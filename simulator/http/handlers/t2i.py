"""Seed 004 tag T2I: text-to-image templates (files, domain/settings.py). The built-in `base`
template always exists: updating it writes an override, reset removes the override and
activates it again; it cannot be deleted (409), nor can the active template (409). Names are one
path segment of letters, digits, `_`, `-`, `.` (else 400); `active` and `default` are reserved."""

from __future__ import annotations

import re
import uuid

from ..domain.catalogue import BASE_T2I_TEMPLATE, DEFAULT_T2I_TEMPLATE
from ..domain.settings import (
    T2I_ACTIVE,
    active_t2i_template,
    template_content,
    template_dir,
    template_file,
)
from ..kernel.envelope import ApiError
from ..kernel.paths import escapes, lookup, safe_name, sanitize_name
from ..kernel.router import Ctx, Operations

operation = Operations()
TEMPLATE_NAME = re.compile(r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,63}$")
RESERVED = ("active", "default")


def template_name(raw: str) -> str:
    name = safe_name(raw, "template name")
    if not TEMPLATE_NAME.match(name):
        raise ApiError(400, f"Invalid template name {raw!r}: one printable file name segment "
                            "of at most 64 characters, not starting with a dot")
    return name


def template_view(ctx: Ctx, name: str, content: str) -> dict:
    return {"name": name, "content": content, "is_default": name == DEFAULT_T2I_TEMPLATE,
            "is_active": name == active_t2i_template(ctx.sim)}


def existing_template(ctx: Ctx) -> tuple[str, str]:
    name = lookup(template_name, ctx.param("name"), "Template")
    content = template_content(ctx.sim, name)
    if content is None:
        raise ApiError(404, f"Template {name} not found")
    return name, content


def write_template(ctx: Ctx, name: str, content: str) -> None:
    path = template_file(ctx.sim, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


@operation("listT2iTemplates")
async def list_t2i_templates(ctx: Ctx):
    folder = template_dir(ctx.sim)
    custom = sorted(p.stem for p in folder.glob("*.html")) if folder.is_dir() else []
    names = [DEFAULT_T2I_TEMPLATE, *(n for n in custom if n != DEFAULT_T2I_TEMPLATE)]
    active = active_t2i_template(ctx.sim)
    return [{"name": n, "is_default": n == DEFAULT_T2I_TEMPLATE, "is_active": n == active}
            for n in names]


@operation("createT2iTemplate")
async def create_t2i_template(ctx: Ctx):
    raw = ctx.body["name"]
    if escapes(raw):
        template_name(raw)  # a way out: 400
    # made a file name as AstrBot does with upload names (FILE-003): empty -> a generated one
    name = template_name(sanitize_name(raw, f"template-{uuid.uuid4().hex[:8]}").lstrip(".")[:64]
                         or f"template-{uuid.uuid4().hex[:8]}")
    if name in RESERVED:
        raise ApiError(400, f"Template name {name!r} is reserved")
    if template_content(ctx.sim, name) is not None:
        raise ApiError(409, f"Template {name} already exists")
    write_template(ctx, name, ctx.body["content"])
    return template_view(ctx, name, ctx.body["content"])


@operation("getT2iTemplate")
async def get_t2i_template(ctx: Ctx):
    return template_view(ctx, *existing_template(ctx))


@operation("updateT2iTemplate")
async def update_t2i_template(ctx: Ctx):
    name, _ = existing_template(ctx)
    write_template(ctx, name, ctx.body["content"])
    return template_view(ctx, name, ctx.body["content"])


@operation("deleteT2iTemplate")
async def delete_t2i_template(ctx: Ctx):
    name, _ = existing_template(ctx)
    if name == DEFAULT_T2I_TEMPLATE:
        raise ApiError(409, "The default template cannot be deleted; reset it instead")
    if name == active_t2i_template(ctx.sim):
        raise ApiError(409, f"Template {name} is active; activate another template first")
    template_file(ctx.sim, name).unlink()
    return {}


@operation("getActiveT2iTemplate")
async def get_active_t2i_template(ctx: Ctx):
    return {"active_template": active_t2i_template(ctx.sim)}


@operation("setActiveT2iTemplate")
async def set_active_t2i_template(ctx: Ctx):
    name, _ = existing_template(ctx)
    ctx.sim.store.set_setting(T2I_ACTIVE, name)
    return {"active_template": name}


@operation("resetDefaultT2iTemplate")
async def reset_default_t2i_template(ctx: Ctx):
    template_file(ctx.sim, DEFAULT_T2I_TEMPLATE).unlink(missing_ok=True)
    ctx.sim.store.set_setting(T2I_ACTIVE, DEFAULT_T2I_TEMPLATE)
    return {**template_view(ctx, DEFAULT_T2I_TEMPLATE, BASE_T2I_TEMPLATE),
            "active_template": DEFAULT_T2I_TEMPLATE}
