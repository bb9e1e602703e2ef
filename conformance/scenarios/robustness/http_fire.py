"""Hostile JSON bodies and query values (conformance/hostile.py) on the operations of seed 004 and
the legacy Open API document: which operations may get them on this target, the bounded
exchanges (status and a body excerpt, or what the wire did), and the rule for an answer.

What is sent where: a JSON body only to an operation declaring one; on a target the suite did
not start (no --allow-writes) bodies go only to POST /api/v1/auth/login (nothing there can
change) and queries only to reads (GET). Never sent anywhere: what would end the suite's own
session (fuzz.SELF_HARM), restart, update or replace the whole configuration; on a target that
is not sandboxed, nothing that reaches the outside world either (fuzz.OUTSIDE)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from conformance import documents, fuzz, hostile
from conformance.clients.http import read_up_to
from conformance.clients.transcript import Transcript
from conformance.openapi import envelope_problem
from conformance.outcomes import SuiteError, wire_failure

NEVER = fuzz.SELF_HARM | {"PUT /api/v1/system-config", "POST /api/v1/system/restart",
                          "POST /api/v1/updates/core", "POST /api/v1/updates/dashboard",
                          "POST /api/v1/plugins/update", "POST /api/v1/plugins/{plugin_id}/update"}
SAFE_PUBLIC_BODY = {"POST /api/v1/auth/login"}
CONCURRENCY = 8
BODY_EXCERPT = 300
UNDECLARED = "conformance_hostile"  # the query parameter a read without any gets


@dataclass(frozen=True)
class HttpOp:
    document: str  # v1 or legacy
    method: str
    path: str
    public: bool
    body_fields: tuple[str, ...] | None  # None: no JSON body declared
    query: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def url_path(self) -> str:
        return re.sub(r"\{[^}]+\}", "conformance-probe", self.path)


@dataclass
class Exchange:
    op: str
    case: str  # the hostile body's or query value's label
    status: int | None
    body: str = ""
    broke: str = ""  # what the wire did instead of an answer (the wire rule's words)
    seconds: float = 0.0


def _deref(doc: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = doc["components"][section][name]
    return node


def operations() -> list[HttpOp]:
    """Every HTTP operation of both documents (a label in both is seed 004's), public first."""
    found: dict[str, HttpOp] = {}
    for key in ("v1", "legacy"):
        doc = documents.document(key)
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method not in ("get", "put", "post", "patch", "delete") \
                        or op.get("x-websocket") or f"{method.upper()} {path}" in found:
                    continue
                content = (_deref(doc, op.get("requestBody") or {}).get("content") or {})
                schema = _deref(doc, (content.get("application/json") or {}).get("schema", {}))
                fields = tuple(schema.get("properties", {})) \
                    if "application/json" in content else None
                params = [_deref(doc, p) for p in op.get("parameters", []) +
                          item.get("parameters", [])]
                query = tuple(p["name"] for p in params if p.get("in") == "query")
                found[f"{method.upper()} {path}"] = HttpOp(key, method.upper(), path,
                                                           op.get("security") == [],
                                                           fields, query)
    return sorted(found.values(), key=lambda o: not o.public)


def body_exclusion(op: HttpOp, target) -> str:
    """Why no hostile body goes to `op` on this target ("" when it does)."""
    if op.body_fields is None:
        return "takes no JSON body"
    if op.label in NEVER:
        return "never sent a hostile body (ends the suite's session, restarts, updates or " \
               "replaces the configuration)"
    if not target.sandboxed and op.label in fuzz.OUTSIDE:
        return "reaches the outside world in AstrBot (only on a sandboxed target)"
    if not target.allow_writes and op.label not in SAFE_PUBLIC_BODY:
        return "may write: only with --allow-writes"
    return ""


def query_exclusion(op: HttpOp, target) -> str:
    if op.label in NEVER or op.label in fuzz.STREAMING:
        return "never sent (see the module docstring) or a stream"
    if not target.sandboxed and op.label in fuzz.OUTSIDE:
        return "reaches the outside world in AstrBot (only on a sandboxed target)"
    if op.method != "GET" and not (target.allow_writes and op.query):
        return "a write: only with --allow-writes, and only where it declares query parameters"
    return ""


def headers_for(op: HttpOp, creds) -> dict:
    if op.public:
        return {}
    if op.document == "v1" and creds.jwt:  # every v1 operation, JWT-only scopes included
        return {"Authorization": f"Bearer {creds.jwt}"}
    return {"X-API-Key": creds.key("all")}


BODY_CAP = 1 << 20  # bytes of an answer read: an error envelope is judged whole


async def exchange(session: aiohttp.ClientSession, method: str, url: str, *, headers: dict,
                   body: bytes | None, content_type: str, timeout: float, op: str,
                   case: str) -> Exchange:
    """One request, bounded by `timeout`; an event stream's body is not read."""
    sent = dict(headers)
    if body is not None:
        sent["Content-Type"] = content_type
    started = time.monotonic()
    try:
        async with session.request(method, URL(url, encoded=True), headers=sent, data=body,
                                   timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout,
                                                                 sock_read=timeout)) as resp:
            text = ""
            if not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
                raw = await asyncio.wait_for(read_up_to(resp, BODY_CAP), timeout)
                text = raw.decode("utf-8", "replace")
            return Exchange(op, case, resp.status, text, seconds=time.monotonic() - started)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        broke = wire_failure(exc, f"{op} ({case})", timeout)  # op: "METHOD /path"
        if broke is None:
            raise SuiteError(f"{method} {op}: network error: {exc!r}") from exc
        return Exchange(op, case, None, broke=str(broke), seconds=time.monotonic() - started)


async def fire(plan: list[tuple[HttpOp, str, str, bytes | None, str]], target, creds,
               transcript: Transcript) -> list[Exchange]:
    """plan: (operation, case label, URL path and query, body or None, content type)."""
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:
        async def one(op, case, where, body, ctype):
            async with limit:
                return await exchange(session, op.method, target.http_url(where),
                                      headers=headers_for(op, creds), body=body,
                                      content_type=ctype, timeout=target.timeout,
                                      op=op.label, case=case)
        results = await asyncio.gather(*(one(*p) for p in plan))
    transcript.note(f"{len(results)} hostile requests over "
                    f"{len({p[0].label for p in plan})} operations")
    return list(results)


def bad_envelope(op: HttpOp, ex: Exchange) -> str:
    """What is wrong with a 4xx answer's body ("" when it is the document's error envelope)."""
    if documents.platform_format(op.document, op.label):
        return ""  # the platform webhooks answer in their caller's format
    try:
        parsed = json.loads(ex.body)
    except ValueError:
        return f"HTTP {ex.status} without a JSON body: {ex.body[:80]!r}"
    if op.document == "v1":
        problem = envelope_problem(parsed, "ErrorEnvelope")
        return f"HTTP {ex.status} off the ErrorEnvelope: {problem}" if problem else ""
    if isinstance(parsed, dict) and parsed.get("status") == "error" \
            and isinstance(parsed.get("message"), str):
        return ""
    return f"HTTP {ex.status} off the error envelope: {ex.body[:80]!r}"


def no_5xx(ex: Exchange) -> str:
    """What is wrong ("" for an answer below 500)."""
    if ex.broke:
        return ex.broke
    return f"HTTP {ex.status}: {ex.body[:100]!r}" if ex.status >= 500 else ""


def record(transcript: Transcript, exchanges: list[Exchange], bad: set[int], cap: int = 40):
    """The failing exchanges as evidence (up to `cap`), and the first few good ones."""
    shown_good = 0
    for i, ex in enumerate(exchanges):
        if i in bad and cap > 0:
            cap -= 1
        elif i not in bad and shown_good < 5:
            shown_good += 1
        else:
            continue
        transcript.add(">>", {"request": ex.op, "case": ex.case})
        transcript.add("<<", {"status": ex.status, "body": ex.body[:BODY_EXCERPT],
                              "broke": ex.broke or None, "seconds": round(ex.seconds, 3)})


def body_plan(ops: list[HttpOp], target, depth: str):
    plan = []
    for op in ops:
        if body_exclusion(op, target):
            continue
        for b in hostile.json_bodies(depth, fields=op.body_fields or ()):
            plan.append((op, b.label, op.url_path, b.body, b.content_type))
    return plan


def query_plan(ops: list[HttpOp], target, depth: str):
    plan = []
    values = hostile.query_values(depth)
    for op in ops:
        if query_exclusion(op, target):
            continue
        for name in op.query or (UNDECLARED,):
            for q in values:
                query = "&".join([f"{name}={q.encoded}"] * q.repeat)
                plan.append((op, f"{name}: {q.label}", f"{op.url_path}?{query}", None, ""))
    return plan

