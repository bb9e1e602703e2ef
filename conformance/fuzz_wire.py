"""How the fuzzing's network failures become verdicts: the wire rule of conformance/outcomes.py
applied to what schemathesis' engine reports and to the suite's own bounded reads. A failure
that is the target's doing lands in `FuzzResult.wire` (FAIL for that operation's requirements,
fuzz.FuzzResult.verdict); anything else in `FuzzResult.errors` (ERROR)."""

from __future__ import annotations

from .outcomes import cut_off, no_answer, wire_failure


def engine_wire_failure(event, timeout: float) -> str:
    """The wire rule's reason for a schemathesis error event, or "" when it is not the
    target's doing. Schemathesis 4 (schemathesis/engine/errors.py) reports a case's network
    failure as a NonFatalError holding the `requests` exception (a Timeout, a ConnectionError,
    a ChunkedEncodingError), an operation it stopped sending to as UnresponsiveOperationError,
    and a target gone for good as ServerUnavailable or UnhealthyAPIError (not an operation)."""
    from schemathesis.engine.errors import (
        ServerUnavailable,
        UnhealthyAPIError,
        UnresponsiveOperationError,
    )

    value, what = event.value, event.label if event.related_to_operation else "the target"
    broke = wire_failure(value, what, timeout)
    if broke is not None:
        return str(broke)
    if isinstance(value, UnresponsiveOperationError):
        return f"{no_answer(what, timeout)}: {value}"
    if isinstance(value, ServerUnavailable | UnhealthyAPIError):
        return cut_off("the fuzzing's requests", " ".join(str(value).split())[:300])
    return ""


def record_wire(result, label: str, exc: BaseException, timeout: float) -> None:
    """A network failure of one of the suite's own requests about `label` (a bounded stream
    read): the target's (result.wire) by the wire rule, else the suite's (result.errors)."""
    broke = wire_failure(exc, label, timeout)
    if broke is not None:
        result.wire.setdefault(label, str(broke))
    else:
        result.errors.setdefault(label, f"{label}: {exc!r}")
