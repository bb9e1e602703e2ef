"""Where the contract documents live, and the operation table derived from the v1 OpenAPI doc.

The simulator never hard-codes which operation needs which scope: it reads `x-astrbot-scope`
and `security` from `specs/openapi-v1.yaml`, the same file the conformance suite reads.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Seed 004 gives no x-astrbot-scope to the account and API-key operations (auth/logout, totp,
# account, api-keys). Real AstrBot guards them with `system`, a dashboard-only scope (research
# AUTH-012, AUTH-022): an API key must never manage API keys.
UNSCOPED_DEFAULT = "system"


def specs_dir() -> Path:
    """The `specs/` folder: $ASTRBOT_SPECS_DIR, the source checkout, or the installed copy."""
    env = os.environ.get("ASTRBOT_SPECS_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parent.parent
    for candidate in (root / "specs", root / "conformance" / "_contract"):
        if (candidate / "openapi-v1.yaml").is_file():
            return candidate
    raise FileNotFoundError("cannot find the specs/ folder; set ASTRBOT_SPECS_DIR")


@functools.cache
def openapi_legacy() -> dict:
    with open(specs_dir() / "openapi-open-api-legacy.json", encoding="utf-8") as fh:
        return json.load(fh)


# Seed 003's scope table for the legacy Open API paths (the legacy document has no
# x-astrbot-scope); /api/v1/live/ws reuses `chat` (seed 001).
LEGACY_SCOPES = {"/api/v1/chat": "chat", "/api/v1/chat/sessions": "chat",
                 "/api/v1/configs": "config", "/api/v1/file": "file",
                 "/api/v1/im/message": "im", "/api/v1/im/bots": "im",
                 "/api/v1/live/ws": "chat"}


@functools.cache
def openapi_v1() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
    with open(specs_dir() / "openapi-v1.yaml", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 (a safe loader)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # OpenAPI template, also valid as an aiohttp route
    scope: str | None  # x-astrbot-scope; None when public
    public: bool  # security: []
    websocket: bool
    spec: dict = field(compare=False, hash=False, repr=False)  # the raw operation object
    document: str = "v1"  # "v1" (seed 004) or "legacy" (seed 002: paths v1 does not have)


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of seed 004, then the legacy paths seed 004 does not have."""
    doc = openapi_v1()
    result = []
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            result.append(
                Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    scope=op.get("x-astrbot-scope")
                    or (None if op.get("security") == [] else UNSCOPED_DEFAULT),
                    public=op.get("security") == [],
                    websocket=bool(op.get("x-websocket")),
                    spec=op,
                )
            )
    v1_routes = {(o.method, o.path) for o in result}
    for path, item in openapi_legacy()["paths"].items():
        for method, op in item.items():
            if (method.upper(), path) in v1_routes:
                continue
            result.append(Operation(
                operation_id=op.get("operationId") or f"legacy {method.upper()} {path}",
                method=method.upper(), path=path, scope=LEGACY_SCOPES[path],
                public=op.get("security") == [], websocket=bool(op.get("x-websocket")),
                spec=op, document="legacy"))
    return tuple(result)
