"""Both sides of every declared constraint, sent deterministically (whatever the fuzzer draws).

For every operation of a document, each constraint of a query parameter (GET operations, on
every target: reads are safe) or of a JSON body's top-level field (write operations, only where
writes are allowed) gives two cases: a value just inside and one just outside. `minimum` /
`maximum` (and the exclusive ones), `minLength` / `maxLength`, `enum`, `format` (date-time,
uri), `required`, and `additionalProperties: false` (one extra field).

Cases are differential: each is the operation's base request (required parameters, the
document's example body, or a minimal valid body) with one value changed, and is judged only
when the base request itself was accepted, so a refusal can be put down to that value. Outside
the bound the answer must be a rejection (a 4xx, or AstrBot's 200 error envelope: FUZZ-003,
MUST); inside it must not be a 400/422 (FUZZ-004, SHOULD) unless a contract note
(specs/contract-notes.yaml) allows the refusal. Every verdict names the document and the
constraint it used, and the note when the two documents disagree (seed 002 vs seed 004).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp

from . import notes
from .clients.http import read_up_to
from .outcomes import cut_off, no_answer, wire_failure

PLACEHOLDER = "conformance-boundary"
CONCURRENCY = 8
EXTRA_FIELD = "conformance_extra_field"
SEED = {"v1": "openapi-v1.yaml, seed 004", "legacy": "openapi-open-api-legacy.json, seed 002"}
# bodies whose example the documents do not give, taken from the documents' own examples for the
# same call (seed 002's im/message example), so the base request can be accepted
BASE_BODIES = {"POST /api/v1/im/messages": {"umo": "webchat:FriendMessage:conformance",
                                            "message": "ping from the conformance suite"}}
# the user the suite's own stream reads chat as (test_openapi_fuzz.py), so that the session
# listing's base request lists sessions and its items' schema is judged
FUZZ_USER = "conformance-fuzz"
BASE_QUERIES = {"GET /api/v1/chat/sessions": {"username": FUZZ_USER}}
# an integer with no maximum gets this too (2**63: past a signed 64-bit column or OFFSET)
HUGE = 2**63
# never sent a base request: sign-in and setup (rate limits, slow refusals, account changes)
NOT_SENT = re.compile(r"^(POST|PUT|PATCH) /api/v1/auth/")
FORMAT_VALUES = {"date-time": ("2026-01-01T00:00:00Z", "not-a-date-time"),
                 "uri": ("https://example.invalid/conformance", "not a uri")}


@dataclass(frozen=True)
class Case:
    label: str  # "GET /api/v1/chat/sessions"
    where: str  # "query" or "body"
    name: str
    value: object  # ABSENT: the field left out
    inside: bool
    constraint: str  # "maximum 100 (openapi-open-api-legacy.json, seed 002)"
    probe: bool = False  # schema-valid but extreme: judged only for 5xx and the answer schema

    def describe(self) -> str:
        shown = " absent" if self.value is ABSENT else f"={json.dumps(self.value)[:60]}"
        return f"{self.where} {self.name}{shown} ({'inside' if self.inside else 'outside'} " \
               f"{self.constraint})"


ABSENT = object()


@dataclass
class Outcome:
    case: Case
    status: int
    body: str
    accepted: bool
    curl: str
    broken: str = ""  # the wire rule's reason (outcomes.py) when the target did not answer


@dataclass
class Operation:
    label: str
    base: dict  # {"query": {...}, "body": ... or None}
    path: str  # concrete path, placeholders filled
    cases: list[Case] = field(default_factory=list)


def _resolve(node, doc: dict):
    while isinstance(node, dict) and "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = doc["components"][section][name]
    return node


def _sample(schema: dict, doc: dict):
    """A simple valid value of `schema` (required properties only)."""
    schema = _resolve(schema or {}, doc)
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return _sample(schema[key][0], doc)
    if schema.get("allOf"):
        merged: dict = {}
        for part in schema["allOf"]:
            value = _sample(part, doc)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _sample(props.get(name, {}), doc) for name in schema.get("required", [])}
    if kind == "array":
        return [_sample(schema.get("items", {}), doc)] * max(schema.get("minItems", 0), 0)
    if kind in ("integer", "number"):
        low = 1
        if "minimum" in schema:
            low = schema["minimum"]
        elif isinstance(schema.get("exclusiveMinimum"), int | float):
            low = schema["exclusiveMinimum"] + 1
        low = min(low, schema.get("maximum", low))
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return True
    if schema.get("format") in FORMAT_VALUES:
        return FORMAT_VALUES[schema["format"]][0]
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    text = "conformance" if len("conformance") >= shortest else "c" * shortest
    if longest is not None and len(text) > longest:
        text = "c" * max(shortest, min(1, longest))
    return text


def _bounds(name: str, schema: dict, doc: dict, where: str, label: str, source: str):
    """(value, inside, constraint) for both sides of each constraint of one field."""
    schema = _resolve(schema or {}, doc)
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    found = []

    def add(value, inside, what):
        note = notes.conflict(label, name)
        cited = (f"; {note.cite()}: the documents disagree, each document's own bound is used"
                 if note and what.startswith(note.raw.get("constraint", "")) else "")
        found.append((value, inside, f"{what} ({source}{cited})"))

    if kind == "integer" and "maximum" not in schema and "exclusiveMaximum" not in schema:
        add(HUGE, True, "no maximum: 2**63, past a signed 64-bit integer")
    if kind in ("integer", "number"):
        step = 1
        if "minimum" in schema:
            add(schema["minimum"], True, f"minimum {schema['minimum']}")
            add(schema["minimum"] - step, False, f"minimum {schema['minimum']}")
        if "maximum" in schema:
            add(schema["maximum"], True, f"maximum {schema['maximum']}")
            add(schema["maximum"] + step, False, f"maximum {schema['maximum']}")
        if isinstance(schema.get("exclusiveMinimum"), int | float):
            low = schema["exclusiveMinimum"]
            add(low + step, True, f"exclusiveMinimum {low}")
            add(low, False, f"exclusiveMinimum {low}")
        if isinstance(schema.get("exclusiveMaximum"), int | float):
            high = schema["exclusiveMaximum"]
            add(high - step, True, f"exclusiveMaximum {high}")
            add(high, False, f"exclusiveMaximum {high}")
    if kind == "string":
        if schema.get("minLength"):
            n = schema["minLength"]
            add("c" * n, True, f"minLength {n}")
            add("c" * (n - 1), False, f"minLength {n}")
        if "maxLength" in schema:
            n = schema["maxLength"]
            add("c" * n, True, f"maxLength {n}")
            add("c" * (n + 1), False, f"maxLength {n}")
        if schema.get("format") in FORMAT_VALUES:
            good, bad = FORMAT_VALUES[schema["format"]]
            add(good, True, f"format {schema['format']}")
            add(bad, False, f"format {schema['format']}")
    if schema.get("enum") and all(isinstance(v, str) for v in schema["enum"]):
        add(schema["enum"][-1], True, f"enum {schema['enum']}")
        add("conformance-not-in-enum", False, f"enum {schema['enum']}")
    return found


def _parameters(op: dict, doc: dict) -> list[dict]:
    return [_resolve(p, doc) for p in op.get("parameters", [])]


def _json_body_schema(op: dict, doc: dict) -> tuple[dict | None, object]:
    content = (_resolve(op.get("requestBody") or {}, doc)).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None, None
    example = media.get("example")
    if example is None and media.get("examples"):
        first = next(iter(media["examples"].values()))
        example = _resolve(first, doc).get("value")
    return _resolve(media.get("schema") or {}, doc), example


def plan(key: str, doc: dict, sent: set[str], writes: bool) -> list[Operation]:
    """The boundary cases of document `key` for the operations in `sent` (labels)."""
    source, planned = SEED[key], []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            label = f"{method.upper()} {path}"
            if method not in ("get", "put", "post", "patch") or label not in sent \
                    or op.get("x-websocket") or NOT_SENT.match(label):
                continue
            params = _parameters(op, doc)
            query = {p["name"]: _sample(p.get("schema", {}), doc) for p in params
                     if p.get("in") == "query" and p.get("required")}
            query.update({k: v for k, v in BASE_QUERIES.get(label, {}).items() if k in query})
            concrete = re.sub(r"\{[^}]+\}", PLACEHOLDER, path)
            planned_op = Operation(label, {"query": query, "body": None}, concrete)
            if method == "get":
                for p in params:
                    if p.get("in") != "query":
                        continue
                    for value, inside, what in _bounds(p["name"], p.get("schema", {}), doc,
                                                       "query", label, source):
                        planned_op.cases.append(Case(label, "query", p["name"], value, inside,
                                                     what, probe=value is HUGE))
                    if p.get("required"):
                        planned_op.cases.append(Case(label, "query", p["name"], ABSENT, False,
                                                     f"required ({source})"))
            elif writes:
                schema, example = _json_body_schema(op, doc)
                if not schema or _resolve(schema, doc).get("type", "object") != "object":
                    continue
                schema = _resolve(schema, doc)
                base = BASE_BODIES.get(label, example)
                if not isinstance(base, dict):
                    base = _sample(schema, doc)
                if not isinstance(base, dict):
                    continue
                planned_op.base["body"] = base
                props = schema.get("properties", {})
                for name, sub in props.items():
                    for value, inside, what in _bounds(name, sub, doc, "body", label, source):
                        planned_op.cases.append(Case(label, "body", name, value, inside, what,
                                                     probe=value is HUGE))
                for name in schema.get("required", []):
                    planned_op.cases.append(Case(label, "body", name, ABSENT, False,
                                                 f"required ({source})"))
                if schema.get("additionalProperties") is False:
                    planned_op.cases.append(Case(label, "body", EXTRA_FIELD, 1, False,
                                                 f"additionalProperties: false ({source})"))
            if planned_op.cases:
                planned.append(planned_op)
    return planned


def _request_of(op: Operation, case: Case | None) -> tuple[dict, object]:
    query, body = dict(op.base["query"]), op.base["body"]
    body = dict(body) if isinstance(body, dict) else body
    if case is not None:
        target = query if case.where == "query" else body
        if case.value is ABSENT:
            target.pop(case.name, None)
        else:
            target[case.name] = case.value
    return query, body


def _query_text(query: dict) -> str:
    def text(v):
        return str(v).lower() if isinstance(v, bool) else str(v)
    return "&".join(f"{quote(k)}={quote(text(v))}" for k, v in query.items())


STREAM_CAP, JSON_CAP = 4000, 1 << 20  # bytes of an answer read


def accepted(status: int, body: str) -> bool:
    """A 2xx that is not AstrBot's 200 error envelope (research REST-003)."""
    if not 200 <= status < 300:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return True
    return not (isinstance(parsed, dict) and parsed.get("status") == "error")


async def _send(session, base_url: str, op: Operation, case: Case | None, headers: dict,
                timeout: float) -> Outcome | None:
    query, body = _request_of(op, case)
    qs = _query_text(query)
    url = f"{base_url.rstrip('/')}{op.path}" + (f"?{qs}" if qs else "")
    method = op.label.split(" ", 1)[0]
    curl = f"curl -X {method} '{url}'" + (
        f" -H 'Content-Type: application/json' -d '{json.dumps(body)}'" if body is not None
        else "")
    try:
        async with session.request(method, url, headers=headers,
                                   json=body if body is not None else None,
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            # a JSON answer is read whole (an envelope cut short is no longer JSON, and would
            # be judged as no envelope); a stream only as far as the judging needs
            cap = JSON_CAP if "json" in resp.content_type else STREAM_CAP
            data = await read_up_to(resp, cap)
            status, length = resp.status, resp.content_length
        if length is not None and len(data) < min(length, cap):  # the wire rule: cut short
            return Outcome(case, 0, repr(data), False, curl, cut_off(
                f"{method} {op.path}", f"{len(data)} of its {length} bytes came"))
        text = data.decode("utf-8", "replace")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        broke = wire_failure(exc, f"{method} {op.path}", timeout)
        return Outcome(case, 0, repr(broke.raw or b""), False, curl, str(broke)) \
            if broke is not None else None
    return Outcome(case, status, text, accepted(status, text), curl)


async def _run(base_url: str, ops: list[Operation], headers: dict, timeout: float,
               results: dict) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(session, op: Operation) -> None:
        async with limit:
            base = await _send(session, base_url, op, None, headers, timeout)
            outcomes = []
            if base is not None and base.accepted:
                for case in op.cases:
                    got = await _send(session, base_url, op, case, headers, timeout)
                    if got is not None:
                        outcomes.append(got)
                    if got is not None and got.broken:
                        break  # the operation is broken already: no more waits on it
        results[op.label] = (base, outcomes)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, op) for op in ops))


def run(key: str, doc: dict, base_url: str, headers: dict, *, sent: set[str], writes: bool,
        timeout: float) -> dict[str, tuple[Outcome | None, list[Outcome]]]:
    """label -> (the base request's outcome, the judged cases' outcomes; none when the base
    request was refused or unanswered)."""
    ops = plan(key, doc, sent, writes)
    results: dict[str, tuple[Outcome | None, list[Outcome]]] = {}
    budget = timeout * (len(ops) + 2)
    try:
        asyncio.run(asyncio.wait_for(_run(base_url, ops, headers, timeout, results), budget))
    except TimeoutError:  # the wire rule: what did not finish in the budget was not answered
        for op in ops:
            results.setdefault(op.label, (Outcome(None, 0, "", False, "", no_answer(
                f"the boundary cases of {op.label}", budget)), []))
    return {op.label: results[op.label] for op in ops}  # the plan's order: a stable report


def excused(outcome: Outcome) -> str:
    """The contract note that lets a target refuse this inside value, if any."""
    query, body = _request_of_case(outcome)
    note = notes.excusing(outcome.case.label, notes.Request(query, {}, body))
    return note.cite() if note else ""


def _request_of_case(outcome: Outcome) -> tuple[dict, object]:
    case = outcome.case
    values = {} if case.value is ABSENT else {case.name: case.value}
    return (values, None) if case.where == "query" else ({}, values)


# --- resource lifecycles (FUZZ-006), sent whatever the stateful phase draws --------------------

@dataclass
class Lifecycle:
    create: str  # "POST /api/v1/chat/projects"
    item: str  # "/api/v1/chat/projects/{project_id}"
    param: str  # "project_id"
    body: dict
    steps: list[Outcome] = field(default_factory=list)  # create, read, delete, read again
    problem: str = ""  # what went wrong ("" when the resource behaved)


def lifecycle_plan(doc: dict, allowed: set[str]) -> list[Lifecycle]:
    """Every `POST P` with a JSON body whose `P/{id}` has a GET and a DELETE, all three in
    `allowed` (labels): create, read back, delete, read again."""
    planned = []
    for path, item in doc["paths"].items():
        op = item.get("post")
        if op is None or "{" in path or f"POST {path}" not in allowed:
            continue
        for other, sub in doc["paths"].items():
            match = re.fullmatch(re.escape(path) + r"/\{([^}/]+)\}", other)
            if not match or not {"get", "delete"} <= set(sub) \
                    or not {f"GET {other}", f"DELETE {other}"} <= allowed:
                continue
            schema, example = _json_body_schema(op, doc)
            if not schema:
                continue
            body = BASE_BODIES.get(f"POST {path}", example)
            if not isinstance(body, dict):
                body = _sample(_resolve(schema, doc), doc)
            if isinstance(body, dict):
                planned.append(Lifecycle(f"POST {path}", other, match.group(1), body))
    return planned


def _created_id(outcome: Outcome, param: str):
    try:
        data = json.loads(outcome.body).get("data")
    except (ValueError, AttributeError):
        return None
    value = data.get(param) if isinstance(data, dict) else None
    return value if isinstance(value, str | int) and not isinstance(value, bool) \
        and str(value) else None


async def _one_lifecycle(session, base_url: str, life: Lifecycle, headers: dict,
                         timeout: float) -> None:
    def op(label: str, path: str, body=None) -> Operation:
        return Operation(label, {"query": {}, "body": body}, path)

    created = await _send(session, base_url, op(life.create, life.create.split(" ", 1)[1],
                                                life.body), None, headers, timeout)
    if created is not None and created.broken:  # the wire rule: fails the lifecycle
        life.steps.append(created)
        life.problem = created.broken
        return
    if created is None or not created.accepted:
        return  # nothing created: not judged
    life.steps.append(created)
    rid = _created_id(created, life.param)
    if rid is None:
        return  # the id is not named where the path names it: not judged
    concrete = life.item.replace("{" + life.param + "}", quote(str(rid), safe=""))
    read = await _send(session, base_url, op(f"GET {life.item}", concrete), None, headers,
                       timeout)
    if read is None:
        return
    life.steps.append(read)
    if read.broken:
        life.problem = read.broken
        return
    if not read.accepted:
        life.problem = (f"{life.create} created {life.param} {rid!r}, but GET {concrete} "
                        f"answered HTTP {read.status}: the created resource cannot be read")
        return
    deleted = await _send(session, base_url, op(f"DELETE {life.item}", concrete), None,
                          headers, timeout)
    if deleted is None or not deleted.accepted:
        return  # not deleted: nothing more to judge
    life.steps.append(deleted)
    again = await _send(session, base_url, op(f"GET {life.item}", concrete), None, headers,
                        timeout)
    if again is None:
        return
    life.steps.append(again)
    if again.broken:
        life.problem = again.broken
        return
    if again.accepted:
        life.problem = (f"DELETE {concrete} answered ok, but GET {concrete} still answers "
                        f"HTTP {again.status}: the deleted resource is still there")


def lifecycles(doc: dict, base_url: str, headers: dict, *, allowed: set[str],
               timeout: float) -> list[Lifecycle]:
    """Each planned lifecycle run (sequentially per resource, CONCURRENCY at a time)."""
    planned = lifecycle_plan(doc, allowed)

    async def go():
        limit = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession() as session:
            async def one(life):
                async with limit:
                    await _one_lifecycle(session, base_url, life, headers, timeout)
            await asyncio.gather(*(one(life) for life in planned))

    # every request has its timeout (a broken one fails its lifecycle); a sequence the whole
    # budget cut short is judged on the steps it had, never ERROR
    with contextlib.suppress(TimeoutError):
        asyncio.run(asyncio.wait_for(go(), timeout * 4 * (len(planned) + 2)))
    return planned
