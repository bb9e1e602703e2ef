"""How a check ends, and what that means for the target.

- `assert` / `Violation`: the target broke the requirement -> FAIL (MUST) or NON-STRICT
  (SHOULD/MAY).
- `Unimplemented`: the endpoint or feature is absent, detected from the wire -> UNIMPLEMENTED.
- `SuiteError` and any other exception the wire rule below does not claim: the suite broke
  (a bug in a check, a frame the suite built wrongly, its configuration, a local resource such
  as file descriptors) -> ERROR, never counted against the target.
- a pytest skip -> SKIPPED, with its reason.

The wire rule: the wire is the target's. Whatever the target does to an exchange the suite
started correctly is the target's doing, and fails the requirement the check was judging
(FAIL, or NON-STRICT for a SHOULD): no answer within the run's timeout, a connection reset or
closed mid-exchange (a body cut short of its length, half a status line), an answer that is
not HTTP, not a WebSocket handshake or frame, or not the documented JSON. `wire_failure(exc,
what, timeout)` is the one classifier every client and tool path uses (conformance/clients/,
the fuzzing in fuzz.py and boundaries.py, the plugin's last resort); it returns a
`TargetBroke` whose reason has one of four standard forms, naming what was waited for and how
long, and whose `raw` keeps the bytes received as evidence:

    no answer to GET /api/v1/x within 5 s
    garbage instead of an HTTP answer to GET /api/v1/x: b'\\x00\\x17...'
    the target closed the connection mid-answer to GET /api/v1/x: <how>
    the target stopped accepting connections: GET /api/v1/x: connection refused

("an HTTP answer" reads "a WebSocket handshake", "a WebSocket frame" or "a JSON frame" on a
socket; a close frame the target sends is an answer, judged by the check.) The last form is a
target that answered the preflight and went away later: every check that needs
it fails with that reason (the run is not aborted: the report shows what was judged before,
and each check still ends within its timeout). A target that refuses connections or never
answers before any check is not judged at all: the preflight stops the run (exit 3). A hung
target never hangs the run: every wait has the run's timeout, every scenario a budget of a
few timeouts (conformance/scenario.py).

Before any check: `ConfigurationError` (the user's settings are unusable: exit 2) and
`PreflightError` (the target cannot be judged with them: exit 3) stop the run in one line.
`exit_status(summary)` and `headline(summary)` turn a run's summary into its exit status and
its last line (EXIT_* below; the CLI and the pytest plugin route use the same).
"""

from __future__ import annotations

PASS = "PASS"
FAIL = "FAIL"
NON_STRICT = "NON-STRICT"
UNIMPLEMENTED = "UNIMPLEMENTED"
SKIPPED = "SKIPPED"
ERROR = "ERROR"
VERDICTS = (PASS, FAIL, NON_STRICT, UNIMPLEMENTED, SKIPPED, ERROR)
# when several checks cover one requirement, the most severe verdict wins
SEVERITY = {FAIL: 5, NON_STRICT: 4, ERROR: 3, UNIMPLEMENTED: 2, PASS: 1, SKIPPED: 0}


class Violation(AssertionError):
    """The target did something the contract forbids (or failed to do what it requires)."""


class Unimplemented(Exception):
    """The target does not have the endpoint or feature under test."""


class TargetBroke(Violation):
    """The target broke the wire (the wire rule above): FAIL or NON-STRICT. `raw` is what it
    sent instead of an answer, if anything, kept as evidence."""

    def __init__(self, reason: str, raw: bytes | None = None):
        super().__init__(reason)
        self.raw = raw
        self.transcript = None  # the wire log it happened on (a client sets it): evidence


class TargetTimeout(TargetBroke):
    """No answer within the run's timeout (the first of the wire rule's forms)."""


class SuiteError(Exception):
    """The suite could not do its job: bad configuration, a frame it built wrongly, a local
    resource problem. Reported as ERROR (never for what the target did on the wire)."""


class NotConfigured(SuiteError):
    """A check needs a credential this run was not given (the dashboard JWT, a key with other
    scopes): the requirement is SKIPPED with the reason, never an ERROR or a verdict."""


class ConfigurationError(SuiteError):
    """The user's settings are unusable (no URL, a URL without a scheme, a missing config
    file, an unknown profile, a bad timeout): a usage error, exit status 2, nothing judged."""


class PreflightError(SuiteError):
    """The target cannot be judged with these settings: it does not answer, it is not an
    AstrBot API, a credential is refused, a key lacks a scope, or it is in first-run state and
    setup was not allowed. One line naming the problem and its fix; exit status 3, no verdict."""


def no_answer(what: str, seconds: float) -> str:
    return f"no answer to {what} within {seconds:g} s"


def garbage(what: str, raw: bytes, instead_of: str = "an HTTP answer") -> str:
    return f"garbage instead of {instead_of} to {what}: {raw[:120]!r}"


def cut_off(what: str, how: str) -> str:
    return f"the target closed the connection mid-answer to {what}: {how}"


def refused(what: str) -> str:
    return f"the target stopped accepting connections: {what}: connection refused"


WIRE_REASONS = (r"no answer to .+ within [0-9.]+ s", r"garbage instead of .+ to .+: b",
                r"the target closed the connection mid-answer to ",
                r"the target stopped accepting connections: ")  # the four forms, as regexes


def wire_failure(exc: BaseException, what: str, timeout: float) -> TargetBroke | None:
    """The wire rule as code: the TargetBroke `exc` stands for when it is something the target
    did to the exchange `what` (an HTTP request line, "a frame on /api/v1/live/ws"), else None
    (the suite's or the user's problem: an unknown host, a local resource, a bug)."""
    if isinstance(exc, TargetBroke):
        return exc
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return TargetBroke(refused(what))
    if any(isinstance(e, TimeoutError) for e in chain) or names & {"Timeout", "ReadTimeout",
                                                                   "ConnectTimeout"}:
        return TargetTimeout(no_answer(what, timeout))
    raw = _bad_bytes(chain)
    if raw is not None:
        instead = "a WebSocket handshake" if "InvalidMessage" in names else "an HTTP answer"
        return TargetBroke(garbage(what, raw, instead), raw)
    if "ProtocolError" in names and any(type(e).__module__.startswith("websockets")
                                        for e in chain):
        return TargetBroke(garbage(what, str(exc).encode(), "a WebSocket frame"))
    if any(isinstance(e, ConnectionError) for e in chain) or names & CUT_OFF \
            or "Connection aborted" in str(exc):
        return TargetBroke(cut_off(what, _how(chain)))
    return None


# exceptions of aiohttp, requests/urllib3/http.client and websockets that mean the target
# dropped or cut short an exchange (ConnectionError covers resets, aborts and broken pipes)
CUT_OFF = {"ServerDisconnectedError", "ClientPayloadError", "ChunkedEncodingError",
           "IncompleteRead", "RemoteDisconnected", "ContentLengthError", "TransferEncodingError",
           "ConnectionClosedError", "EOFError", "InvalidChunkLength"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        linked = [exc.__cause__, exc.__context__, getattr(exc, "os_error", None),
                  getattr(exc, "reason", None), *getattr(exc, "args", ())]
        exc = next((e for e in linked if isinstance(e, BaseException) and e not in seen), None)
    return seen


def _bad_bytes(chain: list[BaseException]) -> bytes | None:
    """What came instead of a status line, when the chain holds a parser's complaint:
    http.client's (requests), aiohttp's, or websockets' handshake reader."""
    import ast
    import re

    for e in chain:
        name, text = type(e).__name__, str(e)
        if name == "BadStatusLine" and e.args and isinstance(e.args[0], str):
            return e.args[0].encode("latin-1", "replace")
        if name in ("HttpProcessingError", "BadStatusLine", "BadHttpMessage"):
            found = re.search(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", text)
            return ast.literal_eval(found.group(0)) if found else text.encode()[:200]
    for i, e in enumerate(chain):
        if type(e).__name__ == "InvalidMessage":  # websockets: the line follows its complaint
            cause = chain[i + 1] if i + 1 < len(chain) else e
            if isinstance(cause, EOFError | ConnectionError):
                return None  # no answer line at all: the connection was cut
            return str(cause).partition(": ")[2].encode("utf-8", "backslashreplace") \
                or str(cause).encode()
    return None


def _how(chain: list[BaseException]) -> str:
    """The innermost named cause, on one line."""
    if any(type(e).__name__ == "ServerDisconnectedError" for e in chain):
        return "it disconnected before the answer was complete"
    named = [e for e in chain if str(e)] or chain
    return " ".join(f"{type(named[-1]).__name__}: {named[-1]}".split())[:200]


def worst(verdicts) -> str:
    verdicts = list(verdicts)
    return max(verdicts, key=SEVERITY.__getitem__) if verdicts else SKIPPED


# Exit statuses of `astrbot-conformance run` and of the pytest plugin route alike.
EXIT_CONFORMANT = 0  # every judged requirement PASS or NON-STRICT (or the baseline matched)
EXIT_NOT_CONFORMANT = 1  # a FAIL or UNIMPLEMENTED (or, with a baseline, a new or stale entry)
EXIT_USAGE = 2  # bad command line or settings: nothing was sent to the target
EXIT_PREFLIGHT = 3  # preflight failed: unreachable, not AstrBot, credentials or scopes refused
EXIT_NOT_JUDGED = 4  # no FAIL, but requirements could not be judged (ERROR) or none was judged
COUNT_ORDER = (PASS, FAIL, NON_STRICT, UNIMPLEMENTED, SKIPPED, ERROR)


def _counts(summary: dict) -> str:
    return ", ".join(f"{summary[v]} {v}" for v in COUNT_ORDER if summary.get(v))


def exit_status(summary: dict) -> int:
    """The exit status a run's summary (report.summarize, plus `preflight`/`baseline` when
    they apply) stands for."""
    if summary.get("preflight"):
        return EXIT_PREFLIGHT
    if "baseline" in summary:
        return EXIT_CONFORMANT if summary["baseline"]["passed"] else EXIT_NOT_CONFORMANT
    if summary.get(FAIL) or summary.get(UNIMPLEMENTED):
        return EXIT_NOT_CONFORMANT
    if summary.get(ERROR) or not (summary.get(PASS) or summary.get(NON_STRICT)):
        return EXIT_NOT_JUDGED
    return EXIT_CONFORMANT


def headline(summary: dict) -> str:
    """The last line of a run: what happened, in words that match the exit status."""
    if summary.get("preflight"):
        return f"not judged, preflight failed: {summary['preflight']}"
    line = _verdict_line(summary)
    if summary.get("operations_filter"):  # --operations: not the whole contract was walked
        if line.startswith("conformant"):
            line = "conformant on the selected operations" + line[len("conformant"):]
        line += f"; {summary['operations_filter']}"
    if "baseline" in summary:
        line += "; the baseline " + ("matches" if summary["baseline"]["passed"]
                                     else "does NOT match")
    return line


def _verdict_line(summary: dict) -> str:
    total = f"({summary.get('total', 0)} requirements)"
    if summary.get(FAIL) or summary.get(UNIMPLEMENTED):
        return f"NOT conformant: {_counts(summary)} {total}"
    if summary.get(ERROR):
        return (f"not judged: {summary[ERROR]} ERROR (the suite or its settings broke, not the "
                f"target); no FAIL among the rest: {_counts(summary)} {total}")
    if not (summary.get(PASS) or summary.get(NON_STRICT)):
        return f"not judged: no requirement was judged: {_counts(summary) or 'nothing ran'} " \
               f"{total}"
    return f"conformant: {_counts(summary)} {total}"


def title(summary: dict) -> str:
    """The verdict in two or three words, as the exit status has it (report.html, summary.md)."""
    status = exit_status(summary)
    gate = summary.get("baseline")
    if gate and not summary.get("preflight"):
        return ("Baseline passed" if status == EXIT_CONFORMANT else "Baseline FAILED") + \
            f": {len(gate.get('new', []))} new, {len(gate.get('stale', []))} stale"
    return {EXIT_CONFORMANT: "Conformant", EXIT_NOT_CONFORMANT: "Not conformant",
            EXIT_PREFLIGHT: "Not judged: preflight failed"}.get(status, "Not judged")
