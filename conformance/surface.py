"""Served-surface drift: the OpenAPI document a target serves about itself (AstrBot's FastAPI
app serves `/api/v1/openapi.json`; conformance/routes.py fetches it) against the contract
(specs/openapi-v1.yaml and the legacy document).

- **undocumented**: an operation the target lists that neither contract document has;
- **not listed**: a contract operation the target's document lacks. Not listed is no proof of
  absence (AstrBot hides routes with `include_in_schema=False`: /api/v1/configs,
  /api/v1/im/message; FastAPI never lists WebSocket routes), so each is cross-checked with
  what the run saw: `served` (it answered: a judged verdict, a status that is not a route-level
  miss, or WebSocket frames), `absent` (the run judged it UNIMPLEMENTED), else `unknown`;
- **scope differences**: the contract's `x-astrbot-scope` of an operation against the served
  document's (when it declares any), each with what the scope matrix saw (`wire`);
- **scope names** each document declares: `x-astrbot-scope` values, `x-astrbot-sensitive-
  scopes`, `enum`s of a `scopes` property (the API-key create schema), OAuth2 flow scopes and
  security requirements; and those the served document has that the contract lacks.

Paths are compared as templates with their parameters normalised (`/bots/{bot_id}` and
`/bots/{id}` are one route: routes.py's `_template`), methods per path.
`summarize(...)` gives results.json's `served_surface`.
"""

from __future__ import annotations

from .contract import load_json, load_yaml
from .routes import _template

CONTRACT_DOCUMENTS = {"v1": "openapi-v1.yaml", "legacy": "openapi-open-api-legacy.json"}
METHODS = ("get", "put", "post", "patch", "delete")
LIST_LIMIT = 200
ANSWERED = "served"
ABSENT = "absent"
UNKNOWN = "unknown"
ROUTE_MISS_STATUSES = {404, 405}


def contract_operations() -> dict[tuple[str, str], dict]:
    """(METHOD, template) -> the contract operation (the v1 document's first, else legacy's)."""
    found: dict[tuple[str, str], dict] = {}
    for key, name in CONTRACT_DOCUMENTS.items():
        doc = load_yaml(name) if name.endswith(".yaml") else load_json(name)
        for path, method, op in _operations(doc):
            found.setdefault((method.upper(), _template(path)), {
                "document": key, "method": method.upper(), "path": path,
                "operation_id": op.get("operationId") or f"{method.upper()} {path}",
                "scope": _scope(op), "websocket": bool(op.get("x-websocket"))})
    return found


def contract_scopes() -> list[str]:
    names: set[str] = set()
    for name in CONTRACT_DOCUMENTS.values():
        names |= declared_scopes(load_yaml(name) if name.endswith(".yaml") else load_json(name))
    return sorted(names)


def declared_scopes(doc: dict) -> set[str]:
    """Every scope name an OpenAPI document declares (see the module docstring)."""
    names: set[str] = set()
    for _path, _method, op in _operations(doc):
        names.update(_scope_list(op.get("x-astrbot-scope")))
        names.update(_scope_list(op.get("x-astrbot-sensitive-scopes")))
        for requirement in op.get("security") or []:
            if isinstance(requirement, dict):
                for scopes in requirement.values():
                    names.update(_scope_list(scopes))
    components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
    for scheme in (components.get("securitySchemes") or {}).values():
        for flow in ((scheme or {}).get("flows") or {}).values() if isinstance(scheme, dict) \
                else ():
            names.update(str(s) for s in ((flow or {}).get("scopes") or {}))
    _scope_enums(components.get("schemas") or {}, names, depth=0)
    return names


def _scope_enums(node, names: set[str], depth: int) -> None:
    """`enum`s of any property named `scopes` (or its array items), anywhere in the schemas."""
    if depth > 12:
        return
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and isinstance(props.get("scopes"), dict):
            scopes = props["scopes"]
            for holder in (scopes, scopes.get("items")):
                if isinstance(holder, dict) and isinstance(holder.get("enum"), list):
                    names.update(str(s) for s in holder["enum"])
        for value in node.values():
            _scope_enums(value, names, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _scope_enums(value, names, depth + 1)


def summarize(document: dict | None, source: str = "", *, operations: list[dict] | None = None,
              observed: dict | None = None, requirements: list[dict] | None = None,
              reason: str = "") -> dict:
    """results.json's `served_surface`: the served `document` (as fetched from `source`)
    against the contract, cross-checked with the run's per-operation verdicts (`operations`),
    its requirement verdicts (a WebSocket handshake judged UNIMPLEMENTED) and what it saw on
    the wire (`observed`, conformance/observed.py)."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return {"document": None,
                "reason": reason or "the target serves no OpenAPI document the suite can read "
                "(tried " + ", ".join(_documents_tried()) + ")"}
    contract = contract_operations()
    served: dict[tuple[str, str], dict] = {}
    for path, method, op in _operations(document):
        served.setdefault((method.upper(), _template(path)), {"path": path, "op": op})
    rows = {(row["method"], _template(row["path"])): row for row in operations or []}
    info = document.get("info") if isinstance(document.get("info"), dict) else {}

    undocumented = [{"method": m, "path": s["path"],
                     **({"scope": _scope(s["op"])} if _scope(s["op"]) else {})}
                    for (m, t), s in sorted(served.items()) if (m, t) not in contract]
    not_listed = []
    for key, c in sorted(contract.items()):
        if key in served:
            continue
        status, why = _cross_check(c, rows.get(key), observed or {}, requirements or [])
        not_listed.append({"method": c["method"], "path": c["path"], "document": c["document"],
                           "operation_id": c["operation_id"], "status": status, "why": why})
    differences = []
    for key, c in sorted(contract.items()):
        s = served.get(key)
        theirs = _scope(s["op"]) if s else None
        if s is None or theirs is None or theirs == c["scope"]:
            continue
        differences.append({"method": c["method"], "path": c["path"],
                            "contract": c["scope"], "served": theirs,
                            "wire": _wire(c["scope"], theirs, rows.get(key))})
    sensitive: dict[str, list[str]] = {}
    for (m, _t), s in sorted(served.items()):
        for name in _scope_list(s["op"].get("x-astrbot-sensitive-scopes")):
            sensitive.setdefault(name, []).append(f"{m} {s['path']}")
    ours, theirs = set(contract_scopes()), declared_scopes(document)
    return {
        "document": source or "?",
        "title": str(info.get("title", ""))[:120], "version": str(info.get("version", ""))[:60],
        "served_operations": len(served), "contract_operations": len(contract),
        "served_with_scope": sum(1 for s in served.values() if _scope(s["op"])),
        "counts": {"undocumented": len(undocumented), "not_listed": len(not_listed),
                   ABSENT: sum(r["status"] == ABSENT for r in not_listed),
                   ANSWERED: sum(r["status"] == ANSWERED for r in not_listed),
                   "scope_differences": len(differences)},
        "undocumented": undocumented[:LIST_LIMIT],
        "not_listed": not_listed[:LIST_LIMIT],
        "scope_differences": differences[:LIST_LIMIT],
        "scopes": {"contract": sorted(ours), "served": sorted(theirs),
                   "served_only": sorted(theirs - ours),
                   "sensitive": {k: v[:20] for k, v in sorted(sensitive.items())}},
    }


def of(doc: dict) -> dict | None:
    """A results document's `served_surface`, None for a run older than it."""
    found = doc.get("served_surface")
    return found if isinstance(found, dict) else None


def headline(surface: dict | None) -> str:
    """`Served surface: 22 undocumented operations, 5 contract operations not listed (1
    absent, 3 seen answering), 2 scope differences` (summary.md, report.html)."""
    if not surface:
        return "Served surface: not recorded in this run"
    if surface.get("document") is None:
        return f"Served surface: no document ({surface.get('reason', 'none served')})"
    c = surface["counts"]
    extra = ", ".join(f"{c[k]} {label}" for k, label in ((ABSENT, "absent"),
                                                           (ANSWERED, "seen answering"))
                      if c.get(k))
    names = surface.get("scopes", {}).get("served_only") or []
    return (f"Served surface ({surface['document']}): {c['undocumented']} undocumented "
            f"operations, {c['not_listed']} contract operations not listed"
            + (f" ({extra})" if extra else "")
            + f", {c['scope_differences']} scope differences"
            + (f"; scope names the contract lacks: {', '.join(names)}" if names else ""))


# helpers ---------------------------------------------------------------------------------

def _operations(doc: dict):
    paths = doc.get("paths") if isinstance(doc, dict) else None
    for path, item in (paths or {}).items():
        if isinstance(item, dict):
            for method, op in item.items():
                if method in METHODS and isinstance(op, dict):
                    yield path, method, op


def _scope(op: dict) -> str | None:
    value = op.get("x-astrbot-scope")
    if isinstance(value, list):
        value = ",".join(sorted(str(v) for v in value))
    return str(value) if value else None


def _scope_list(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def _cross_check(c: dict, row: dict | None, observed: dict,
                 requirements: list[dict]) -> tuple[str, str]:
    """Whether a contract operation the target does not list answered in this run."""
    if c["websocket"]:
        channel = (observed.get("channels") or {}).get(f"ws {c['path']}") or {}
        if channel.get("received") or channel.get("close_codes"):
            return ANSWERED, "a WebSocket route (never in an OpenAPI route list); the run " \
                "exchanged frames on it"
        refused = sorted(r["id"] for r in requirements if r.get("verdict") == "UNIMPLEMENTED"
                         and f"handshake to {c['path']} " in str(r.get("reason", "")))
        if refused:
            return ABSENT, f"a WebSocket route the run judged UNIMPLEMENTED ({refused[0]}" \
                + (f" and {len(refused) - 1} more" if len(refused) > 1 else "") \
                + ": its handshake was refused as no such endpoint)"
    if row is not None:
        if row.get("verdict") == "UNIMPLEMENTED":
            return ABSENT, "not listed, and the run judged it UNIMPLEMENTED (" \
                + (row.get("reason") or "route-level misses only")[:160] + ")"
        judged = sorted({rid for rid, v in (row.get("requirements") or {}).items()
                         if v in ("PASS", "FAIL", "NON-STRICT")})
        if judged:
            return ANSWERED, f"hidden from the route list, but answered ({', '.join(judged[:4])}" \
                + (" ..." if len(judged) > 4 else "") + " judged)"
        matrix = {k: v for k, v in (row.get("scope_matrix") or {}).items()
                  if isinstance(v, int) and v and v not in ROUTE_MISS_STATUSES}
        if matrix:
            name, status = next(iter(sorted(matrix.items())))
            return ANSWERED, f"hidden from the route list, but answered HTTP {status} ({name})"
    statuses = (observed.get("http_statuses") or {}).get(f"{c['method']} {c['path']}") or []
    answered = [s for s in statuses if s not in ROUTE_MISS_STATUSES]
    if answered:
        return ANSWERED, f"hidden from the route list, but answered HTTP {answered[0]}"
    return UNKNOWN, "not listed; the run saw no answer that decides whether it exists" \
        + (" (WebSocket routes are never in an OpenAPI route list)" if c["websocket"] else "")


def _wire(contract: str | None, served: str, row: dict | None) -> str:
    """What the scope matrix saw for an operation whose scopes the documents disagree on: a key
    with only the served scope (`lacking <served> key`) and one with only the contract's
    (`exact key`, GET operations only)."""
    matrix = (row or {}).get("scope_matrix") or {}
    only_served = matrix.get(f"lacking {served} key")
    only_contract = matrix.get("exact key")
    served_ok = isinstance(only_served, int) and 200 <= only_served < 300
    contract_ok = isinstance(only_contract, int) and 200 <= only_contract < 300
    seen = ", ".join(f"a key with only {name}: HTTP {status}" for name, status in
                     ((served, only_served), (contract, only_contract)) if status is not None)
    if not seen:
        return "not probed by the scope matrix"
    if served_ok and not contract_ok:
        return f"the wire agrees with the served document ({seen})"
    if contract_ok and not served_ok:
        return f"the wire agrees with the contract ({seen})"
    return f"the wire does not decide ({seen})"


def _documents_tried() -> list[str]:
    from .routes import ROUTE_DOCUMENTS

    return list(ROUTE_DOCUMENTS)

