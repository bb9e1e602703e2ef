"""How a check ends, and what that means for the target.

- `assert` / `Violation`: the target broke the requirement -> FAIL (MUST) or NON-STRICT
  (SHOULD/MAY).
- `Unimplemented`: the endpoint or feature is absent, detected from the wire -> UNIMPLEMENTED.
- `SuiteError` and any other exception: the suite, its configuration or the network broke ->
  ERROR, never counted against the target.
- a pytest skip -> SKIPPED, with its reason.
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


def worst(verdicts) -> str:
    verdicts = list(verdicts)
    return max(verdicts, key=SEVERITY.__getitem__) if verdicts else SKIPPED
