"""Schemathesis over the two OpenAPI documents, rolled up into requirements and operations.

Schemathesis runs as it does from its own CLI (its engine, all phases: examples, coverage,
fuzzing, stateful over the links it infers) against the target's base URL. Every check it makes
on every case is kept, per operation, and mapped onto a requirement by `CHECKS`; a failing
check keeps its evidence (request, response, curl reproducer). Nothing of the checks is
reimplemented here: to judge something new, map another schemathesis check, or register a
custom one with `@schemathesis.check` and map it.

Beside the engine's checks: every answer is classified documented or not (FUZZ-007,
`documented`); the deterministic boundary cases of conformance/boundaries.py are recorded
onto FUZZ-003/-004 (`record_boundaries`); a refusal of schema-valid input is not blamed when
a contract note (specs/contract-notes.yaml, conformance/notes.py) or the transport explains it
(`refusal_excused`); an operation is absent only by conformance/routes.py's rule.

What is not sent to the engine, and why (each such operation still gets a verdict):
- streaming operations (`STREAMING`): a bounded incremental reader judges them instead
  (conformance/scenarios/http/test_openapi_fuzz.py), never a read to the end of an endless body;
- operations that would end the suite's own session (`SELF_HARM`): SKIPPED on every target;
- on a target the suite did not start itself, unless `allow_writes` is set: every operation
  but GET (SKIPPED: the target may hold somebody's data);
- on such a target, always: operations that reach the outside world or the host (`OUTSIDE`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from . import routes
from .documents import (  # noqa: F401 (fuzz.document, fuzz.documented... are used as such)
    DOCUMENTS,
    DocOperation,
    declared_statuses,
    document,
    documented,
    operations,
    platform_format,
    requirement_id,
    response_validator,
)
from .excuses import refusal_excused, shadowing_operation  # noqa: F401 (fuzz.refusal_excused)
from .fuzz_links import AVAILABLE, LINKED, deleted_before
from .fuzz_links import link_resolved as _link_resolved
from .fuzz_wire import engine_wire_failure, record_wire  # noqa: F401 (fuzz.record_wire)
from .outcomes import ERROR, FAIL, NON_STRICT, PASS, SKIPPED, UNIMPLEMENTED

# schemathesis check -> requirement suffix (prefixed per document). Checks absent here are off:
# status_code_conformance (seed 004 declares only 200; errors are 4xx by the recorded rule),
# object_level_authorization (needs two users), max_response_time (speed is for benchmarks).
CHECKS = {
    "not_a_server_error": "FUZZ-001",
    "response_schema_conformance": "FUZZ-002",
    "content_type_conformance": "FUZZ-002",
    "response_headers_conformance": "FUZZ-002",
    "negative_data_rejection": "FUZZ-003",
    "missing_required_header": "FUZZ-003",
    "positive_data_acceptance": "FUZZ-004",
    "unsupported_method": "FUZZ-005",
    "allow_header_conformance": "FUZZ-005",
    "use_after_free": "FUZZ-006",
    "ensure_resource_availability": "FUZZ-006",
    "ignored_auth": "SCOPE-001",
}
# not schemathesis checks: undocumented answers (any case, classified in _record) and the
# deterministic boundary cases (conformance/boundaries.py, recorded by record_boundaries)
UNDOCUMENTED = "FUZZ-007"
REJECTED, ACCEPTED = "FUZZ-003", "FUZZ-004"
SERVER_ERROR, SCHEMA = "FUZZ-001", "FUZZ-002"
LEGACY_SUFFIXES = {"FUZZ-001", "FUZZ-002", "FUZZ-003", "FUZZ-004", UNDOCUMENTED}
OFF = ("status_code_conformance", "object_level_authorization")
STREAMING = {"GET /api/v1/logs/live", "POST /api/v1/chat"}
SELF_HARM = {"PATCH /api/v1/auth/account", "POST /api/v1/auth/totp/setup",
             "POST /api/v1/auth/totp/recovery", "POST /api/v1/auth/logout"}
OUTSIDE = {
    "POST /api/v1/system/restart", "POST /api/v1/updates/core", "POST /api/v1/updates/dashboard",
    "GET /api/v1/updates/check", "GET /api/v1/updates/releases", "POST /api/v1/pip/install",
    "POST /api/v1/plugins/install/github", "POST /api/v1/plugins/install/url",
    "POST /api/v1/plugins/validate/repo", "GET /api/v1/plugins/market",
    "GET /api/v1/plugins/market/categories", "POST /api/v1/mcp/providers/modelscope/sync",
    "POST /api/v1/stats/ghproxy/test", "POST /api/v1/backups/{filename}/import",
    "POST /api/v1/knowledge-bases/{kb_id}/documents/import-url",
    "GET /api/v1/stats/versions", "GET /api/v1/changelogs", "GET /api/v1/changelogs/{version}",
    "GET /api/v1/stats/first-notice",
}
EVIDENCE_PER_REQUIREMENT = 3


@dataclass
class Failure:
    check: str
    title: str
    message: str
    curl: str
    status: int | None
    response: str


@dataclass
class Judged:
    """What the run found for one operation and one requirement."""
    passed: int = 0
    failures: list[Failure] = field(default_factory=list)
    excused: dict[str, int] = field(default_factory=dict)  # note id -> refusals it covered


@dataclass
class FuzzResult:
    key: str
    seed: int
    settings: dict
    judged: dict[tuple[str, str], Judged] = field(default_factory=dict)  # (label, rid)
    statuses: dict[str, list[routes.Answer]] = field(default_factory=dict)  # label -> answers
    route_list: routes.RouteList | None = None  # the target's own route list, when it serves one
    errors: dict[str, str] = field(default_factory=dict)  # label -> suite/engine error
    # label ("*": the whole target) -> how the target broke the wire (outcomes.py's rule)
    wire: dict[str, str] = field(default_factory=dict)
    defects: dict[str, str] = field(default_factory=dict)  # label -> unsatisfiable schema
    excluded: dict[str, str] = field(default_factory=dict)  # label -> why not sent
    stop_reason: str = ""
    duration_s: float = 0.0
    stream_logs: list = field(default_factory=list)  # wire logs of the bounded stream reads
    selected: list[DocOperation] | None = None  # --operations (conformance/selection.py)

    @property
    def ops(self) -> list[DocOperation]:
        """The operations this run walks: the selected ones, else all of the document."""
        return operations(self.key) if self.selected is None else self.selected

    def absent(self, label: str) -> bool:
        """The target has no such route (conformance/routes.py: its own route list, else
        every answer a route-level miss), not an unknown id."""
        method, _, path = label.partition(" ")
        return routes.absent(method, path, self.statuses.get(label, []), self.route_list)

    def verdict(self, label: str, rid: str, strict: bool) -> tuple[str, str]:
        if label in self.excluded:
            return SKIPPED, self.excluded[label]
        if label in self.defects:
            return SKIPPED, "contract defect, no valid request exists: " + self.defects[label]
        judged = self.judged.get((label, rid))
        # the wire rule: an operation that hung, reset or answered garbage fails what it
        # was judged for (it exists: something hung); a target gone mid-run fails what it
        # did not answer before
        broke = self.wire.get(label) or (self.wire.get("*") if not (
            judged and (judged.passed or judged.excused)) else None)
        if self.absent(label) and label not in self.wire:
            return UNIMPLEMENTED, routes.why_absent(self.route_list)
        if judged and judged.failures:
            first = judged.failures[0]
            return (FAIL if strict else NON_STRICT), f"{first.title}: {first.message}"
        if broke:
            return (FAIL if strict else NON_STRICT), broke
        if label in self.errors:
            return ERROR, self.errors[label]
        if judged and (judged.passed or judged.excused):
            return PASS, ""
        return SKIPPED, "no case of this operation exercised this check"


def _answer(response) -> routes.Answer:
    return routes.Answer(response.status_code,
                         response.content[:300].decode("utf-8", "replace"))


PHASES = ("examples", "coverage", "fuzzing", "stateful")  # schemathesis' phases, in its order


def _config(key: str, base_url: str, headers: dict, seed: int, depth: str, timeout: float,
            max_time: int | None, phases: tuple[str, ...] = PHASES):
    from schemathesis.config import SchemathesisConfig

    quick = depth == "quick"
    checks = {name: {"enabled": False} for name in OFF}
    checks["negative_data_rejection"] = {"expected-statuses": ["4xx"]}
    return SchemathesisConfig.from_dict({
        "seed": seed, "workers": 1, "headers": headers, "base-url": base_url,
        "request-timeout": timeout, **({"max-time": max_time} if max_time else {}),
        # the suite sends the credentials itself: no generated (or removed) auth headers
        "generation": {"max-examples": 4 if quick else 40, "deterministic": True,
                       "mode": "all", "with-security-parameters": False},
        "phases": {**{p: {"enabled": p in phases} for p in PHASES},
                   "stateful": {"enabled": "stateful" in phases,
                                "max-steps": 10 if quick else 50}},
        "checks": checks,
        "suppress-health-check": ["all"],
        # the credentials are filtered out of the reproducers; generated values stay, so the
        # evidence shows what was sent (schemathesis' markers would hide `rule_key`,
        # `session_id`, `provider_key`, ... as "[Filtered]")
        "output": {"sanitization": {"enabled": True, "keys-to-sanitize": list(SANITIZED),
                                    "sensitive-markers": list(SENSITIVE_MARKERS)}},
    })


SANITIZED = ("authorization", "cookie", "set-cookie", "x-api-key", "api_key", "password",
             "token", "access_token", "refresh_token", "jwt")
SENSITIVE_MARKERS = ("password", "secret", "authorization", "api_key", "passwd")


def run(key: str, base_url: str, headers: dict, *, seed: int, depth: str, timeout: float,
        allow_writes: bool, is_simulator: bool, budget_s: float,
        progress=None, selected: list[DocOperation] | None = None,
        phases: tuple[str, ...] = PHASES) -> FuzzResult:
    """Run schemathesis' engine over document `key` and keep every check result.

    quick: one pass of every phase, stopped at `budget_s` if the target is slow. full: the
    engine keeps fuzzing (new cases each cycle) until `budget_s` is spent. `progress(key,
    phase, done, total)`, if given, hears how many operations each phase has finished.
    `selected`: only these operations of the document (the others are neither sent nor
    judged: --operations, or one part of the document); `phases`: only these of PHASES."""
    import schemathesis
    from schemathesis.engine import events, from_schema

    result = FuzzResult(key, seed, {"depth": depth, "allow_writes": allow_writes,
                                    "sandboxed": is_simulator, "budget_s": budget_s},
                        selected=selected)
    for op in result.ops:
        why = excluded(op, allow_writes=allow_writes, is_simulator=is_simulator)
        if why:
            result.excluded[op.label] = why
    cfg = _config(key, base_url, headers, seed, depth, timeout,
                  None if depth == "quick" else int(budget_s), phases)
    schema = schemathesis.openapi.from_dict(document(key), config=cfg)
    walked = {op.label for op in result.ops}
    not_sent = {*result.excluded, *(op.label for op in streaming_operations(key)),
                *(op.label for op in operations(key) if op.label not in walked)}
    if not_sent:
        schema = schema.exclude(name=sorted(not_sent))
    started = time.monotonic()
    sent = len(walked - not_sent)
    finished: dict[str, set] = {}  # engine phase -> operations it has finished
    stream = from_schema(schema).execute() if sent else ()
    for event in stream:
        if time.monotonic() - started > budget_s + timeout and not result.stop_reason:
            result.stop_reason = f"budget of {budget_s:.0f} s spent"
            stream.stop()
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            _record(result, event.recorder)
            if progress is not None:  # the stateful phase has no phase name on its events
                phase = getattr(getattr(event, "phase", None), "value", "stateful")
                finished.setdefault(phase, set()).update(
                    node.value.operation.label for node in event.recorder.cases.values())
                progress(key, phase, len(finished[phase]), sent)
        elif isinstance(event, events.NonFatalError) and (
                broke := engine_wire_failure(event, timeout)):  # the wire rule (outcomes.py)
            result.wire.setdefault(event.label if event.related_to_operation else "*", broke)
        elif isinstance(event, events.NonFatalError) and event.related_to_operation:
            text = event.info.format()
            if "Cannot generate test data" in text or "Schema Error" in text:
                result.defects.setdefault(event.label, " ".join(text.split())[:300])
            else:
                result.errors.setdefault(event.label, text[:500])
        elif isinstance(event, events.FatalError):
            result.errors.setdefault("*", f"schemathesis stopped: {event.exception}")
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = result.stop_reason or str(event.stop_reason)
    result.duration_s = round(time.monotonic() - started, 2)
    return result


def excluded(op: DocOperation, *, allow_writes: bool, is_simulator: bool) -> str:
    if op.websocket:
        return "a WebSocket path: judged by the live-api and openapi-v1 WebSocket checks"
    if op.label in STREAMING:
        return ""  # judged by the bounded stream reader, see streaming_operations()
    if op.label in SELF_HARM:
        return "would end the suite's own session or lock the account (not fuzzed anywhere)"
    if not is_simulator and op.label in OUTSIDE:
        return "reaches the outside world or the host in AstrBot (only fuzzed on the simulator)"
    if not allow_writes and op.method != "GET":
        return ("writes are not fuzzed on a target the suite did not start "
                "(pass --allow-writes for a disposable deployment)")
    return ""


def streaming_operations(key: str) -> list[DocOperation]:
    return [op for op in operations(key) if op.label in STREAMING]


def _record(result: FuzzResult, recorder) -> None:
    for case_id, node in recorder.cases.items():
        label = node.value.operation.label
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        if response is not None:
            result.statuses.setdefault(label, []).append(_answer(response))
            # the whole body is judged (a long envelope cut short is no longer JSON); the
            # evidence is shortened where it is written
            _judge_documented(result, label, response.status_code,
                              (response.content or b"").decode("utf-8", "replace"),
                              lambda case_id=case_id: info_curl(recorder, case_id))  # for a failure
        for check in recorder.checks.get(case_id, []):
            suffix = CHECKS.get(check.name)
            if suffix is None or (result.key != "v1" and suffix not in LEGACY_SUFFIXES):
                continue
            judged = result.judged.setdefault((label, requirement_id(result.key, suffix)),
                                              Judged())
            info = check.failure_info
            if info is not None and check.name in LINKED and (
                    not _link_resolved(recorder, node, interaction)
                    or (check.name == AVAILABLE and deleted_before(recorder, node, interaction))):
                continue  # the link did not carry the created id, or it was deleted since
            if info is not None and check.name in REJECTIONS and _error_envelope(response):
                info = None  # rejected with the error envelope on a 200 (research REST-003)
            if info is not None and check.name == "positive_data_acceptance":
                why = refusal_excused(label, node.value)
                if why:  # a rule the contract states elsewhere (specs/contract-notes.yaml)
                    judged.excused[why] = judged.excused.get(why, 0) + 1
                    continue
            if info is None:
                judged.passed += 1
            elif len(judged.failures) < EVIDENCE_PER_REQUIREMENT:
                judged.failures.append(Failure(
                    check=check.name, title=info.failure.title,
                    message=" ".join(str(info.failure.message).split())[:600],
                    curl=info.code_sample,
                    status=response.status_code if response is not None else None,
                    response=(response.content[:600].decode("utf-8", "replace")
                              if response is not None else "")))


# Seed 004 declares only 200 and gives no status rule for errors; AstrBot answers many
# rejections 200 with the error envelope (research REST-003). The suite does not judge that
# status: a 200 whose body is `{"status": "error", ...}` is a rejection.
REJECTIONS = ("negative_data_rejection", "missing_required_header")


def _error_envelope(response) -> bool:
    if response is None or response.status_code != 200:
        return False
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 (not JSON: not an envelope)
        return False
    return isinstance(body, dict) and body.get("status") == "error"


def info_curl(recorder, case_id) -> str:
    try:
        return recorder.cases[case_id].value.as_curl_command(headers={"Authorization": "***"})
    except Exception:  # noqa: BLE001 (a reproducer is evidence, not a verdict)
        return ""


def _judge_documented(result: FuzzResult, label: str, status: int, body: str, curl):
    """`curl`: the reproducer, or a function making it (only a failure needs one)."""
    judged = result.judged.setdefault((label, requirement_id(result.key, UNDOCUMENTED)),
                                      Judged())
    if documented(result.key, label, status, body):
        judged.passed += 1
    elif len(judged.failures) < EVIDENCE_PER_REQUIREMENT:
        judged.failures.append(Failure(
            "undocumented_response", f"Undocumented HTTP {status}",
            f"HTTP {status} is not a response {label} declares, and its body is not the "
            f"document's error envelope: {' '.join(body.split())[:200]}",
            curl() if callable(curl) else curl, status, body[:600]))


def record_boundaries(result: FuzzResult, outcomes: dict) -> None:
    """The boundary cases (conformance/boundaries.py) as verdicts: outside accepted breaks
    FUZZ-003, inside refused as invalid breaks FUZZ-004 (unless a contract note allows it);
    every answer also counts for FUZZ-007 and for absent-route detection."""
    from .boundaries import excused

    for label, (base, judged_cases) in outcomes.items():
        if base is not None and base.broken:  # the wire rule: no answer, a reset, garbage
            result.wire.setdefault(label, base.broken)
            continue
        for broken in (o for o in judged_cases if o.broken):
            result.wire.setdefault(label, broken.broken)
        judged_cases = [o for o in judged_cases if not o.broken]
        for outcome in ([base] if base else []) + judged_cases:
            result.statuses.setdefault(label, []).append(routes.Answer(outcome.status,
                                                                       outcome.body[:300]))
            _judge_documented(result, label, outcome.status, outcome.body, outcome.curl)
            _judge_answer(result, label, outcome)
        for outcome in judged_cases:
            case = outcome.case
            if case.probe:  # judged above only: no 5xx, a body of the declared schema
                continue
            if case.inside:
                refused = outcome.status in (400, 422) or (
                    200 <= outcome.status < 300 and not outcome.accepted)
                why = excused(outcome) if refused else ""
                suffix, failed = ACCEPTED, refused and not why
                title = "Boundary value refused"
                message = (f"{case.describe()}: answered HTTP {outcome.status} "
                           f"{' '.join(outcome.body.split())[:160]}")
            else:
                suffix, failed = REJECTED, outcome.accepted
                title = "Out-of-bound value accepted"
                message = (f"{case.describe()}: answered HTTP {outcome.status} "
                           f"{' '.join(outcome.body.split())[:160]} instead of a rejection")
            judged = result.judged.setdefault((label, requirement_id(result.key, suffix)),
                                              Judged())
            if case.inside and refused and why:
                judged.excused[why] = judged.excused.get(why, 0) + 1
            elif not failed:
                judged.passed += 1
            else:  # deterministic evidence first, ahead of what the fuzzer drew
                judged.failures.insert(0, Failure("boundary", title, message, outcome.curl,
                                                  outcome.status, outcome.body[:600]))
                del judged.failures[EVIDENCE_PER_REQUIREMENT:]


def _judge_answer(result: FuzzResult, label: str, outcome) -> None:
    """A boundary case's answer: a 5xx to the base request or a probe breaks FUZZ-001; an
    accepted JSON answer must match the operation's 200 schema (FUZZ-002), as schemathesis'
    answers are. The deterministic requests reach data the fuzzer's random values do not (a
    listing that is not empty, an integer past 64 bits)."""
    asked = outcome.case.describe() if outcome.case else "the base request"
    # 5xx: the base request and the extreme probes (other cases are schemathesis' to judge)
    checks = [(SERVER_ERROR, outcome.status >= 500, "Server error",
               f"HTTP {outcome.status} to {asked}")] \
        if outcome.case is None or outcome.case.probe else []
    validator = response_validator(result.key, label) if outcome.status == 200 else None
    if validator is not None:
        try:
            body = json.loads(outcome.body)
        except ValueError:
            body = None
        if body is not None:
            error = next(iter(sorted(validator.iter_errors(body), key=lambda e: e.path)), None)
            where = "/".join(map(str, error.absolute_path)) if error else ""
            checks.append((SCHEMA, error is not None, "Response violates schema",
                           f"{where or '(body)'}: {error.message}" if error else ""))
    for suffix, failed, title, message in checks:
        judged = result.judged.setdefault((label, requirement_id(result.key, suffix)),
                                          Judged())
        if not failed:
            judged.passed += 1
        elif len(judged.failures) < EVIDENCE_PER_REQUIREMENT:
            judged.failures.insert(0, Failure("boundary", title, message, outcome.curl,
                                              outcome.status, outcome.body[:600]))


LIFECYCLE = "FUZZ-006"


def record_lifecycles(result: FuzzResult, lives: list) -> None:
    """The deterministic create / read / delete / read sequences (conformance/boundaries.py
    `lifecycles`) onto FUZZ-006, beside what the stateful phase found: a created resource
    that cannot be read, or a deleted one still there. A sequence cut short (the create or
    the delete refused, no id where the path names it) is not judged."""
    for life in lives:
        if len(life.steps) < 2 and not life.problem:  # a broken wire fails even one step
            continue
        label = f"DELETE {life.item}" if "deleted" in life.problem else life.create
        judged = result.judged.setdefault((label, requirement_id(result.key, LIFECYCLE)),
                                          Judged())
        if not life.problem:
            judged.passed += 1
            continue
        last = life.steps[-1]
        judged.failures.insert(0, Failure("lifecycle", "Resource lifecycle broken",
                                          life.problem, "\n".join(o.curl for o in life.steps),
                                          last.status, last.body[:600]))
        del judged.failures[EVIDENCE_PER_REQUIREMENT:]


def requirements_of(key: str) -> list[str]:
    """The requirements a run over document `key` decides (the legacy document's catalogue
    judges only server errors, response schemas and invalid input)."""
    suffixes = {*CHECKS.values(), UNDOCUMENTED} if key == "v1" else LEGACY_SUFFIXES
    return sorted(requirement_id(key, s) for s in suffixes)

