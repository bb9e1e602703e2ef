"""Seed 004 tag Personas: the persona and folder collections (CRUD from domain/resources.py)
and the folder tree with move and reorder. A persona's `folder_id` and a folder's `parent_id`
place it (absent, or naming a folder that no longer exists: the root) and `sort_order` orders
siblings (then creation order). A move into an unknown folder is a 400, of an unknown item a
404, of a folder into itself or its own subtree a 400. Reorder checks every item first."""

from __future__ import annotations

from ..domain.resources import PERSONA_FOLDERS, PERSONAS
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(PERSONA_FOLDERS, {
    "listPersonaFolders": "list", "createPersonaFolder": "create", "updatePersonaFolder": "merge",
    "deletePersonaFolder": "delete"})
operation.crud(PERSONAS, {
    "listPersonas": "list", "createPersona": "create", "getPersona": "get",
    "getPersonaById": "get", "updatePersona": "replace", "updatePersonaById": "merge",
    "deletePersona": "delete", "deletePersonaById": "delete"})


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
