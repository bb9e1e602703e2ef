"""The scope matrix: every operation of seed 004 against every kind of credential, derived
from `x-astrbot-scope` and `security` (nothing written out per operation).

Safe on a real deployment: credentials that must be let through are only sent to read-only
(GET) operations, credentials that must be refused go everywhere, and no probe carries a body
(401/403 come before body validation), so a target that wrongly lets a probe through still gets
nothing to write. Path parameters are a placeholder id that names nothing. Operations without
`x-astrbot-scope` (auth and API-key management) are taken as dashboard-only (research AUTH-012,
AUTH-022). Each operation with a developer scope is probed with the key of every other
developer scope that does not include it (so one operation guarded by the wrong scope name is
caught), and every success body of a read is checked against seed 004's SuccessEnvelope.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import aiohttp
import pytest

from conformance import routes
from conformance.clients.http import arequest
from conformance.clients.transcript import Transcript
from conformance.contract import load_yaml
from conformance.openapi import envelope_problem
from conformance.outcomes import FAIL, PASS, UNIMPLEMENTED, SuiteError, TargetBroke
from conformance.report import merge_operation
from conformance.scenario import run

DEVELOPER_SCOPES = ("bot", "provider", "persona", "im", "config", "chat", "data", "file",
                    "plugin", "mcp", "skill")
INCLUDES = {"config": ("bot", "provider")}
CONCURRENCY = 16
UNKNOWN_KEY = "abk_conformance_unknown_key_0000000000"


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    operation_id: str
    scope: str | None  # None: public
    ok_envelope: bool = False  # its 200 response is seed 004's `Ok` (the SuccessEnvelope)

    @property
    def jwt_only(self) -> bool:
        return self.scope is not None and self.scope not in DEVELOPER_SCOPES

    @property
    def url_path(self) -> str:
        return re.sub(r"\{[^}]+\}", "conformance-probe", self.path)


def spec_operations() -> list[Op]:
    ops = []
    for path, item in load_yaml("openapi-v1.yaml")["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or op.get("x-websocket"):
                continue
            public = op.get("security") == []
            scope = None if public else op.get("x-astrbot-scope", "system")
            ok = op.get("responses", {}).get("200") == {"$ref": "#/components/responses/Ok"}
            ops.append(Op(method.upper(), path, op["operationId"], scope, ok))
    return ops


def lacking_scope(scope: str) -> str:
    """A developer scope that neither is nor includes `scope`."""
    return lacking_scopes(scope)[0]


def lacking_scopes(scope: str) -> list[str]:
    """Every developer scope that neither is nor includes `scope`."""
    return [s for s in DEVELOPER_SCOPES if s != scope and scope not in INCLUDES.get(s, ())]


LACKING = "lacking key"  # the column of every `lacking <scope> key` credential


def cells(matrix, op: Op, credential: str) -> list[tuple[str, str]]:
    """The probes of `op` with `credential` (LACKING: one per lacking scope), as matrix keys."""
    if credential == LACKING:
        return sorted(k for k in matrix.statuses
                      if k[0] == op.operation_id and k[1].startswith("lacking "))
    key = (op.operation_id, credential)
    return [key] if key in matrix.statuses else []


@dataclass
class Matrix:
    statuses: dict[tuple[str, str], int] = field(default_factory=dict)  # (op id, credential)
    messages: dict[tuple[str, str], str | None] = field(default_factory=dict)
    transcript: Transcript = field(default_factory=lambda: Transcript("scope matrix"))

    bodies: dict[tuple[str, str], str] = field(default_factory=dict)
    # (op id, credential) -> (operation, why its 200 body is not the SuccessEnvelope)
    envelopes: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    route_list: routes.RouteList | None = None  # the target's own, when it serves one

    def absent(self, op: Op) -> bool:
        """The target has no such route (conformance/routes.py, shared with the fuzzing): not
        in its own route list, and every probe a route-level miss (405, or a 404 naming
        nothing). A 404 that names the missing thing is an unknown placeholder id on a route
        that exists: not absent."""
        answers = [routes.Answer(s, self.bodies.get(k, "")) for k, s in self.statuses.items()
                   if k[0] == op.operation_id]
        return routes.absent(op.method, op.path, answers, self.route_list)

    def table(self, ops: list[Op], credentials: list[str]) -> str:
        rows = [" | ".join(["operation", *credentials])]
        for op in ops:
            rows.append(" | ".join([f"{op.method} {op.path}",
                                    *("/".join(sorted({str(self.statuses[k])
                                                       for k in cells(self, op, c)})) or "-"
                                      for c in credentials)]))
        return "\n".join(rows)


# the credentials the operation must let through: only ever sent to read operations
ACCEPTED = ("exact key", "jwt")


PLACEHOLDER_KEYS = {scope: "" for scope in (*DEVELOPER_SCOPES, "all")}


def credentials_for(op: Op, keys: dict[str, str], jwt: str | None) -> dict[str, dict]:
    """Which credentials probe `op`, by name, as request headers."""
    creds = {"none": {}, "unknown key": {"X-API-Key": UNKNOWN_KEY}}
    if op.jwt_only:  # it must refuse even a key holding every developer scope
        creds["all-scope key"] = {"X-API-Key": keys["all"]}
    if op.scope in DEVELOPER_SCOPES:
        for scope in lacking_scopes(op.scope):
            creds[f"lacking {scope} key"] = {"X-API-Key": keys[scope]}
        if op.method == "GET":
            creds["exact key"] = {"X-API-Key": keys[op.scope]}
    if op.method == "GET" and jwt:
        creds["jwt"] = {"Authorization": f"Bearer {jwt}"}
    return creds


async def probe(target, ops: list[Op], keys: dict[str, str], jwt: str | None) -> Matrix:
    matrix, limit = Matrix(), asyncio.Semaphore(CONCURRENCY)
    matrix.route_list = await asyncio.to_thread(
        routes.discover, target.base_url, {"X-API-Key": keys["all"]}, target.timeout)

    async def one(session, op: Op, name: str, headers: dict) -> None:
        async with limit:
            try:
                result = await arequest(op.method, target.http_url(op.url_path),
                                        timeout=target.timeout, headers=headers,
                                        session=session)
            except TargetBroke as broke:  # the wire rule: that operation's failure, HTTP 0
                matrix.statuses[(op.operation_id, name)] = 0
                matrix.messages[(op.operation_id, name)] = str(broke)
                return
        matrix.statuses[(op.operation_id, name)] = result.status
        matrix.messages[(op.operation_id, name)] = result.envelope_message()
        matrix.bodies[(op.operation_id, name)] = result.text[:300]
        body = result.json
        if name in ACCEPTED and op.ok_envelope and result.status == 200 \
                and body is not None and not (isinstance(body, dict)
                                              and body.get("status") == "error"):
            problem = envelope_problem(body, "SuccessEnvelope")
            if problem:
                matrix.envelopes[(op.operation_id, name)] = (f"{op.method} {op.path}", problem)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, op, name, headers) for op in ops
                               for name, headers in credentials_for(op, keys, jwt).items()))
    matrix.transcript.note("HTTP status per operation and credential:\n" + matrix.table(
        ops, CREDENTIALS))
    absent = [f"{op.method} {op.path}" for op in ops if matrix.absent(op)]
    listed = (f"the target's route list ({matrix.route_list.source}, "
              f"{len(matrix.route_list.operations)} operations)" if matrix.route_list
              else "no route list served by the target")
    matrix.transcript.note(f"{len(absent)} operations absent ({listed}; every probe a "
                           "route-level 404/405), left out of the scope verdicts: "
                           + ", ".join(absent))
    return matrix


@pytest.fixture(scope="module")
def ops(target) -> list[Op]:
    """Every operation of seed 004, or those --operations selects (conformance/selection.py)."""
    chosen = target.selection
    if not chosen.active:
        return spec_operations()
    labels = {op.label for op in chosen.of("v1")}
    picked = [op for op in spec_operations() if f"{op.method} {op.path}" in labels]
    if not picked:
        pytest.skip(f"no operation of the v1 document selected ({chosen.describe()})")
    return picked


@pytest.fixture(scope="module")
def matrix(target, creds, ops) -> Matrix:
    jwt = creds.require_jwt()
    auth = {"Authorization": f"Bearer {jwt}"}
    created: dict[str, str] = {}

    async def go():
        keys = {"all": creds.key("all")}
        try:
            for scope in DEVELOPER_SCOPES:
                made = await arequest("POST", target.http_url("/api/v1/api-keys"),
                                      timeout=target.timeout, headers=auth, json_body={
                                          "name": f"conformance-scope-{scope}",
                                          "scopes": [scope]})
                data = made.json.get("data") if isinstance(made.json, dict) else None
                if made.status != 200 or not isinstance(data, dict):
                    raise SuiteError(f"could not create a {scope} key: {made.text[:200]}")
                keys[scope] = data["api_key"]
                created[scope] = data["key_id"]
                creds.remember_key(data["api_key"])
            return await probe(target, ops, keys, jwt)
        finally:
            for key_id in created.values():
                await arequest("DELETE", target.http_url(f"/api/v1/api-keys/{key_id}"),
                               timeout=target.timeout, headers=auth)

    # every probe is bounded by the timeout and CONCURRENCY run at once: the budget grows with
    # the probes (a slow but answering target, e.g. PBKDF2 on every key, is never called hung)
    probes = sum(len(credentials_for(op, PLACEHOLDER_KEYS, "jwt")) for op in ops)
    return run(go(), target, waits=12 + -(-probes // CONCURRENCY))


def failures(ops, matrix: Matrix, credential: str, expect, which=lambda op: True) -> list[str]:
    """One line per operation whose probes with `credential` broke the rule (the first
    such answer, and for the lacking keys which scopes' keys were not refused)."""
    bad = []
    for op in ops:
        if matrix.absent(op) or not which(op):
            continue
        broken = [k for k in cells(matrix, op, credential)
                  if not answered(matrix, k, expect, op)]
        if broken:
            first = broken[0]
            line = f"{op.method} {op.path}: " + (
                f"HTTP {matrix.statuses[first]} {matrix.messages[first] or ''}".rstrip()
                if matrix.statuses[first] else matrix.messages[first])  # 0: the wire broke
            if credential == LACKING:  # which scopes' keys were not refused
                scopes = [k[1].removeprefix("lacking ").removesuffix(" key") for k in broken]
                line += f" [to the key of: {', '.join(scopes)}]"
            bad.append(line)
    return bad


def answered(matrix: Matrix, k, expect, op) -> bool:
    """The probe answered (status 0: the wire broke, a failure of every rule) as `expect`s."""
    return bool(matrix.statuses[k]) and expect(op, matrix.statuses[k], matrix.messages[k])


def report(bad: list[str], what: str) -> str:
    return f"{len(bad)} operations {what}:\n" + "\n".join(bad[:40])


# requirement -> (credential, what the answer must be, which operations it applies to)
RULES = {
    "V1-SCOPE-001": ("none", lambda op, s, m: s == 401, lambda op: op.scope is not None),
    "V1-SCOPE-002": ("unknown key", lambda op, s, m: s == 401 or (op.jwt_only and s == 403),
                     lambda op: op.scope is not None),
    "V1-SCOPE-003": ("lacking key",
                     lambda op, s, m: s == 403 and m == "Insufficient API key scope",
                     lambda op: True),
    "V1-SCOPE-004": ("exact key", lambda op, s, m: s not in (401, 403), lambda op: True),
    "V1-SCOPE-005": ("jwt", lambda op, s, m: s not in (401, 403),
                     lambda op: op.scope is not None),
    "V1-SCOPE-006": ("all-scope key", lambda op, s, m: s == 403, lambda op: op.jwt_only),
    "V1-SCOPE-007": ("none", lambda op, s, m: s not in (401, 403),
                     lambda op: op.scope is None and op.method == "GET"),
}
WHAT = {"V1-SCOPE-001": "did not answer 401 without a credential",
        "V1-SCOPE-002": "did not refuse an unknown key",
        "V1-SCOPE-003": "did not answer 403 Insufficient API key scope",
        "V1-SCOPE-004": "refused a key holding exactly their scope",
        "V1-SCOPE-005": "refused the dashboard JWT",
        "V1-SCOPE-006": "let an API key through to a dashboard-only scope",
        "V1-SCOPE-007": "refused a request although they are public"}
CREDENTIALS = ["none", "unknown key", "lacking key", "exact key", "all-scope key", "jwt"]


@pytest.fixture(scope="module")
def ledgered(ops, matrix, operation_ledger) -> Matrix:
    """The matrix row of every operation, and its scope verdicts, into results.json."""
    for op in ops:
        verdicts, reason = {}, ""
        for rid, (credential, expect, which) in RULES.items():
            probes = cells(matrix, op, credential)
            if matrix.absent(op):
                verdicts[rid] = UNIMPLEMENTED
            elif which(op) and probes:
                broken = [k for k in probes
                          if not answered(matrix, k, expect, op)]
                verdicts[rid] = FAIL if broken else PASS
                if broken and not reason:
                    reason = f"{rid}: {broken[0][1]} got " + (
                        f"HTTP {matrix.statuses[broken[0]]}" if matrix.statuses[broken[0]]
                        else matrix.messages[broken[0]])
        merge_operation(operation_ledger, "v1", op.method, op.path, op.operation_id, verdicts,
                        reason, scope_matrix={k[1]: matrix.statuses[k] for c in CREDENTIALS
                                              for k in cells(matrix, op, c)})
    return matrix


@pytest.mark.parametrize("rid", [
    pytest.param("V1-SCOPE-001", marks=pytest.mark.requirement("V1-SCOPE-001"), id="none-401"),
    pytest.param("V1-SCOPE-002", marks=pytest.mark.requirement("V1-SCOPE-002"),
                 id="unknown-key-refused"),
    pytest.param("V1-SCOPE-003", marks=pytest.mark.requirement("V1-SCOPE-003"),
                 id="lacking-scope-403"),
    pytest.param("V1-SCOPE-004", marks=pytest.mark.requirement("V1-SCOPE-004"),
                 id="exact-scope-through"),
    pytest.param("V1-SCOPE-005", marks=pytest.mark.requirement("V1-SCOPE-005"),
                 id="jwt-through"),
    pytest.param("V1-SCOPE-006", marks=pytest.mark.requirement("V1-SCOPE-006"),
                 id="dashboard-only-refuses-keys"),
    pytest.param("V1-SCOPE-007", marks=pytest.mark.requirement("V1-SCOPE-007"),
                 id="public-needs-nothing"),
])
def test_scope_rule_holds_on_every_operation(rid, ops, ledgered):
    credential, expect, which = RULES[rid]
    if not any(which(op) for op in ops):  # --operations left none this rule applies to
        pytest.skip(f"{rid}: no selected operation this rule applies to")
    bad = failures(ops, ledgered, credential, expect, which=which)
    assert not bad, report(bad, WHAT[rid])


@pytest.mark.requirement("V1-ENV-001")
def test_every_read_answers_the_success_envelope(ops, ledgered):
    """Each 200 body (not an error envelope) of a read whose 200 response is seed 004's `Ok`,
    as the exact key and the JWT got it, is the SuccessEnvelope."""
    bad = sorted({f"{where}: {problem}" for where, problem in ledgered.envelopes.values()})
    assert not bad, (f"{len(bad)} success bodies are not the SuccessEnvelope of seed 004 "
                     "(`status` \"ok\", `data`, optional string `message`, nothing else):\n"
                     + "\n".join(bad[:40]))
