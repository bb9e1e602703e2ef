"""Is an operation absent from the target, or did it answer a business error? One rule, used by
the spec fuzzing (conformance/fuzz.py) and the scope matrix alike.

Evidence, strongest first:
1. The target's own route list: the OpenAPI document it serves (`/api/v1/openapi.json`, as
   AstrBot's FastAPI app does: research REST-011, or `/openapi.json`). An operation it lists
   exists, whatever it answered. A route it does not list may still be hidden
   (`include_in_schema=False`: /api/v1/configs, /api/v1/im/message), so not listed is no proof.
2. The answers' shape: an operation is absent only when every answer was a route-level miss:
   405, or a 404 that names nothing: a framework body (`{"detail": "Not Found"}`), HTML or
   plain text, or AstrBot's catch-all envelope `{"status":"error","message":"Not Found"}`
   (research REST-007). A 404 (or 400) envelope naming a missing thing is a route that exists.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field

ROUTE_DOCUMENTS = ("/api/v1/openapi.json", "/openapi.json")
BARE_NOT_FOUND = {"", "not found", "404: not found", "404 not found"}


@dataclass(frozen=True)
class Answer:
    """One answer to an operation: its status and a short excerpt of its body."""
    status: int
    body: str = ""


def route_miss(answer: Answer) -> bool:
    """Whether this answer says "no such route" rather than anything about a resource."""
    if answer.status == 405:
        return True
    if answer.status != 404:
        return False
    text = answer.body.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return True  # HTML or plain text: a server's default page, not the API speaking
    if body is None:
        return True
    if not isinstance(body, dict):
        return False
    if set(body) == {"detail"}:  # FastAPI / Starlette: a route-level miss
        return str(body["detail"]).strip().lower() in BARE_NOT_FOUND
    message = body.get("message")
    return body.get("status") == "error" and str(message or "").strip().lower() in BARE_NOT_FOUND


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


@dataclass
class RouteList:
    """The (method, path template) pairs a target's own OpenAPI document lists."""
    source: str = ""
    operations: set[tuple[str, str]] = field(default_factory=set)
    document: dict | None = field(default=None, repr=False, compare=False)  # as served

    def lists(self, method: str, path: str) -> bool:
        return (method.upper(), _template(path)) in self.operations

    @classmethod
    def parse(cls, source: str, document) -> RouteList | None:
        paths = document.get("paths") if isinstance(document, dict) else None
        if not isinstance(paths, dict) or not paths:
            return None
        ops = {(method.upper(), _template(path)) for path, item in paths.items()
               if isinstance(item, dict)
               for method in item if method in ("get", "put", "post", "patch", "delete")}
        return cls(source, ops, document) if ops else None


def discover(base_url: str, headers: dict, timeout: float) -> RouteList | None:
    """The route list the target serves, or None when it serves none we can read."""
    for path in ROUTE_DOCUMENTS:
        request = urllib.request.Request(base_url.rstrip("/") + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
                if resp.status != 200:
                    continue
                found = RouteList.parse(path, json.loads(resp.read(8_000_000)))
        except (OSError, ValueError):
            continue
        if found:
            return found
    return None


def absent(method: str, path: str, answers: list[Answer], routes: RouteList | None) -> bool:
    """The target has no such operation: it does not list it, and every answer was a miss."""
    if routes is not None and routes.lists(method, path):
        return False
    return bool(answers) and all(route_miss(a) for a in answers)


def why_absent(routes: RouteList | None) -> str:
    listed = (f"not in the route list the target serves at {routes.source}, and "
              if routes else "")
    return (f"{listed}every request answered 405 or a 404 that names nothing "
            "(no AstrBot error naming a missing thing): no such route")
