"""How a check ends, and what that means for the target.

- `assert` / `Violation`: the target broke the requirement -> FAIL (MUST) or NON-STRICT
  (SHOULD/MAY).
- `Unimplemented`: the endpoint or feature is absent, detected from the wire -> UNIMPLEMENTED.
- `SuiteError` and any other exception: the suite, its configuration or the network broke ->
  ERROR, never counted against the target.
- a pytest skip -> SKIPPED, with its reason.

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


class SuiteError(Exception):
    """The suite could not do its job: bad configuration, a frame it built wrongly, a network
    failure. Reported as ERROR."""


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
    if "baseline" in summary:
        line += "; the baseline " + ("matches" if summary["baseline"]["passed"]
                                     else "does NOT match")
    return line


def _verdict_line(summary: dict) -> str:
    total = f"({summary.get('total', 0)} requirements)"
    if summary.get(FAIL) or summary.get(UNIMPLEMENTED):
        return f"NOT conformant: {_counts(summary)} {total}"
    if summary.get(ERROR):
        return (f"not judged: {summary[ERROR]} ERROR (the suite, its settings or the network "
                f"broke, not the target); no FAIL among the rest: {_counts(summary)} {total}")
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
