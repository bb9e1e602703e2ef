"""What shapes the agent's replies (seed 004 tags Personas, Subagents, T2I): the persona folder
tree with move and reorder, the subagent orchestrator configuration, and text-to-image
templates. Imported by configured.py.

Personas and folders are the store resources of collections.py; a persona's `folder_id` and a
folder's `parent_id` place it (absent, or naming a folder that no longer exists: the root) and
`sort_order` orders siblings (then creation order). A move into an unknown folder is a 400, of
an unknown item a 404, of a folder into itself or its own subtree a 400. Reorder checks every
item before it writes any.

Subagent configuration is a JSON setting; its agents' names are unique and their tools,
persona and provider must exist (400 otherwise). The available tools are the built-in ones plus
those of every enabled MCP server.

T2I templates are files `<data_dir>/t2i_templates/<name>.html`. The built-in `base` template
always exists: updating it writes an override, reset removes the override and activates it
again; it cannot be deleted (409), nor can the active template (409). Names are one path
segment of letters, digits, `_`, `-`, `.` (anything else, `..` or a separator: 400); `active`
and `default` are reserved by the routes. The active template is a setting.
"""

from __future__ import annotations

import copy
import json
import re
import uuid

from .collections import MCP_SERVERS, PERSONA_FOLDERS, PERSONAS, PROVIDERS
from .configured_catalogue import (
    BASE_T2I_TEMPLATE,
    BUILTIN_TOOLS,
    DEFAULT_T2I_TEMPLATE,
    mcp_tool_names,
)
from .envelope import ApiError
from .paths import escapes, inside, lookup, safe_name, sanitize_name
from .router import Ctx, operation


def load_setting(store, key: str, default):
    raw = store.setting(key)
    return json.loads(raw) if raw else copy.deepcopy(default)


def save_setting(store, key: str, value) -> None:
    store.set_setting(key, json.dumps(value, ensure_ascii=False))


# -- persona tree --------------------------------------------------------------------------
def sort_order(doc: dict) -> int:
    value = doc.get("sort_order")
    return value if type(value) is int else 0


@operation("getPersonaTree")
async def get_persona_tree(ctx: Ctx):
    store = ctx.sim.store
    folders = sorted(store.list_resources(PERSONA_FOLDERS.kind), key=sort_order)
    personas = sorted(store.list_resources(PERSONAS.kind), key=sort_order)
    ids = {f["folder_id"] for f in folders}
    children: dict = {}
    members: dict = {}
    for folder in folders:
        parent = folder.get("parent_id")
        parent = parent if parent in ids and parent != folder["folder_id"] else None
        children.setdefault(parent, []).append(folder)
    for persona in personas:
        where = persona.get("folder_id")
        members.setdefault(where if where in ids else None, []).append(persona)
    seen: set = set()

    def node(folder: dict) -> dict:
        seen.add(folder["folder_id"])
        return {**folder, "personas": members.get(folder["folder_id"], []),
                "children": [node(c) for c in children.get(folder["folder_id"], [])
                             if c["folder_id"] not in seen]}

    roots = [node(f) for f in children.get(None, [])]
    # folders caught in a parent cycle (possible through a PATCH) show at the root
    roots += [node(f) for f in folders if f["folder_id"] not in seen]
    return {"folders": roots, "personas": members.get(None, [])}


def target_folder(ctx: Ctx) -> str | None:
    body = ctx.body
    target = body["folder_id"] if "folder_id" in body else body.get("parent_id")
    if target in (None, ""):
        return None
    if not isinstance(target, str) or ctx.sim.store.get_resource(
            PERSONA_FOLDERS.kind, target) is None:
        raise ApiError(404, f"Unknown target folder: {target}")
    return target


@operation("movePersonaItem")
async def move_persona_item(ctx: Ctx):
    """Body {persona_id, folder_id}; `type: "folder"` moves the folder named by `id` (or
    `persona_id`) under `folder_id` (or `parent_id`). No target folder: the root."""
    store, body = ctx.sim.store, ctx.body
    item_type = body.get("type", "persona")
    if item_type not in ("persona", "folder"):
        raise ApiError(400, "type must be persona or folder")
    target = target_folder(ctx)
    if item_type == "persona":
        rid, persona = PERSONAS.existing(ctx)
        persona.pop("folder_id", None)
        return PERSONAS.save(ctx, rid, {**persona, **({"folder_id": target} if target else {})})
    fid = body.get("id") if isinstance(body.get("id"), str) and body["id"] else body["persona_id"]
    folder = store.get_resource(PERSONA_FOLDERS.kind, fid)
    if folder is None:
        raise ApiError(404, f"{PERSONA_FOLDERS.kind} {fid} not found")
    walk, seen = target, set()
    while walk is not None and walk not in seen:
        if walk == fid:
            raise ApiError(400, f"Cannot move folder {fid} into itself or its subfolders")
        seen.add(walk)
        parent = store.get_resource(PERSONA_FOLDERS.kind, walk)
        walk = parent.get("parent_id") if parent else None
    folder.pop("parent_id", None)
    return PERSONA_FOLDERS.save(ctx, fid, {**folder, **({"parent_id": target} if target else {})})


@operation("reorderPersonaItems")
async def reorder_persona_items(ctx: Ctx):
    store, changes = ctx.sim.store, {}
    for item in ctx.body["items"]:
        collection = PERSONAS if item["type"] == "persona" else PERSONA_FOLDERS
        key = (collection.kind, item["id"])
        doc = changes[key][1] if key in changes else store.get_resource(*key)
        if doc is None:
            raise ApiError(404, f"{collection.kind} {item['id']} not found")
        changes[key] = (collection, {**doc, "sort_order": item["sort_order"]})
    for (_, rid), (collection, doc) in changes.items():
        collection.save(ctx, rid, doc)
    return {"updated": [{"id": rid, "type": "persona" if kind == PERSONAS.kind else "folder",
                         "sort_order": doc["sort_order"]}
                        for (kind, rid), (_, doc) in changes.items()]}


# -- subagents -----------------------------------------------------------------------------
SUBAGENTS = "subagent_config"
DEFAULT_SUBAGENTS = {"main_enable": False, "remove_main_duplicate_tools": False, "agents": []}
AGENT_FIELDS = {"name": str, "description": str, "enabled": bool, "persona_id": str,
                "provider_id": str, "system_prompt": str, "tools": list}


def available_tools(store) -> list[dict]:
    tools = copy.deepcopy(BUILTIN_TOOLS)
    for server in store.list_resources(MCP_SERVERS.kind):
        if MCP_SERVERS.value(server, "enabled"):
            tools += [{"name": name, "description": f"Tool of MCP server {server['name']}",
                       "source": "mcp", "server": server["name"]}
                      for name in mcp_tool_names(server["name"])]
    return tools


def check_agent(store, agent, index: int, tool_names: set) -> None:
    where = f"agents[{index}]"
    if not isinstance(agent, dict):
        raise ApiError(400, f"{where} must be an object")
    for field, kind in AGENT_FIELDS.items():
        if field in agent and not isinstance(agent[field], kind):
            raise ApiError(400, f"{where}.{field} must be a {kind.__name__}")
    if not (agent.get("name") or "").strip():
        raise ApiError(400, f"{where}.name is required")
    if not all(isinstance(t, str) for t in agent.get("tools", [])):
        raise ApiError(400, f"{where}.tools must be a list of tool names")
    unknown = [t for t in agent.get("tools", []) if t not in tool_names]
    if unknown:
        raise ApiError(400, f"{where}.tools: unknown tool {unknown[0]!r}")
    for field, collection in (("persona_id", PERSONAS), ("provider_id", PROVIDERS)):
        if agent.get(field) and store.get_resource(collection.kind, agent[field]) is None:
            raise ApiError(400, f"{where}.{field}: unknown {collection.kind} {agent[field]}")


@operation("getSubagentConfig")
async def get_subagent_config(ctx: Ctx):
    return {**DEFAULT_SUBAGENTS, **load_setting(ctx.sim.store, SUBAGENTS, {})}


@operation("updateSubagentConfig")
async def update_subagent_config(ctx: Ctx):
    store, body = ctx.sim.store, ctx.body
    for flag in ("main_enable", "remove_main_duplicate_tools"):
        if flag in body and not isinstance(body[flag], bool):
            raise ApiError(400, f"{flag} must be a boolean")
    agents = body.get("agents", [])
    if not isinstance(agents, list):
        raise ApiError(400, "agents must be a list")
    tool_names = {tool["name"] for tool in available_tools(store)}
    names = set()
    for index, agent in enumerate(agents):
        check_agent(store, agent, index, tool_names)
        if agent["name"] in names:
            raise ApiError(400, f"Duplicate subagent name: {agent['name']}")
        names.add(agent["name"])
    document = {**DEFAULT_SUBAGENTS, **body}
    save_setting(store, SUBAGENTS, document)
    return document


@operation("listSubagentAvailableTools")
async def list_subagent_available_tools(ctx: Ctx):
    return {"tools": available_tools(ctx.sim.store)}


# -- text-to-image templates ---------------------------------------------------------------
T2I_ACTIVE = "t2i_active_template"
TEMPLATE_NAME = re.compile(r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,63}$")
RESERVED = ("active", "default")


def template_dir(ctx: Ctx):
    return ctx.sim.config.data_dir / "t2i_templates"


def template_name(raw: str) -> str:
    name = safe_name(raw, "template name")
    if not TEMPLATE_NAME.match(name):
        raise ApiError(400, f"Invalid template name {raw!r}: one printable file name segment "
                            "of at most 64 characters, not starting with a dot")
    return name


def template_file(ctx: Ctx, name: str):
    return inside(template_dir(ctx), f"{name}.html", "template name")


def template_content(ctx: Ctx, name: str) -> str | None:
    path = template_file(ctx, name)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return BASE_T2I_TEMPLATE if name == DEFAULT_T2I_TEMPLATE else None


def active_t2i_template(ctx: Ctx) -> str:
    name = ctx.sim.store.setting(T2I_ACTIVE) or DEFAULT_T2I_TEMPLATE
    return name if template_content(ctx, name) is not None else DEFAULT_T2I_TEMPLATE


def template_view(ctx: Ctx, name: str, content: str) -> dict:
    return {"name": name, "content": content, "is_default": name == DEFAULT_T2I_TEMPLATE,
            "is_active": name == active_t2i_template(ctx)}


def existing_template(ctx: Ctx) -> tuple[str, str]:
    name = lookup(template_name, ctx.param("name"), "Template")
    content = template_content(ctx, name)
    if content is None:
        raise ApiError(404, f"Template {name} not found")
    return name, content


def write_template(ctx: Ctx, name: str, content: str) -> None:
    path = template_file(ctx, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


@operation("listT2iTemplates")
async def list_t2i_templates(ctx: Ctx):
    folder = template_dir(ctx)
    custom = sorted(p.stem for p in folder.glob("*.html")) if folder.is_dir() else []
    names = [DEFAULT_T2I_TEMPLATE, *(n for n in custom if n != DEFAULT_T2I_TEMPLATE)]
    active = active_t2i_template(ctx)
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
    if template_content(ctx, name) is not None:
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
    if name == active_t2i_template(ctx):
        raise ApiError(409, f"Template {name} is active; activate another template first")
    template_file(ctx, name).unlink()
    return {}


@operation("getActiveT2iTemplate")
async def get_active_t2i_template(ctx: Ctx):
    return {"active_template": active_t2i_template(ctx)}


@operation("setActiveT2iTemplate")
async def set_active_t2i_template(ctx: Ctx):
    name, _ = existing_template(ctx)
    ctx.sim.store.set_setting(T2I_ACTIVE, name)
    return {"active_template": name}


@operation("resetDefaultT2iTemplate")
async def reset_default_t2i_template(ctx: Ctx):
    template_file(ctx, DEFAULT_T2I_TEMPLATE).unlink(missing_ok=True)
    ctx.sim.store.set_setting(T2I_ACTIVE, DEFAULT_T2I_TEMPLATE)
    return {**template_view(ctx, DEFAULT_T2I_TEMPLATE, BASE_T2I_TEMPLATE),
            "active_template": DEFAULT_T2I_TEMPLATE}
