"""The end-of-run secrets sweep (SEC-SECRET-001): everything the target sent in the run, over
every wire log whatever check made it (HTTP answers as logged, up to their first 4,000
characters; WebSocket frames; SSE events), searched for the run's raw API keys and its
dashboard password. The bootstrap's own createApiKey answers, the one place a raw key may
appear, are not among these logs. The sweep reads the raw logs, before the report's redaction
(conformance/redact.py), and never writes a secret into its message: it names the log, the
answer and the kind of secret."""

from __future__ import annotations

import json

from . import report
from .bootstrap import Credentials
from .clients.transcript import Transcript
from .outcomes import FAIL, PASS

REQUIREMENT = "SEC-SECRET-001"


def run_secrets(creds: Credentials) -> dict[str, str]:
    """secret -> what it is, for the run's raw keys and password (never printed)."""
    found = {raw: f"the run's raw API key {name!r}" for name, raw in creds.keys.items() if raw}
    password = creds.login[1] if creds.login else creds.settings.password
    if password:
        found[password] = "the run's dashboard password"
    return {s: kind for s, kind in found.items() if len(s) >= 6}


def _text(data) -> str:
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)


def findings(transcripts: list[Transcript], secrets: dict[str, str]) -> list[tuple[Transcript,
                                                                                   str]]:
    found = []
    for log in transcripts:
        answers = [e for e in log.entries if e["dir"] == "<<"]
        for number, entry in enumerate(answers, 1):
            text = _text(entry["data"])
            for secret, kind in secrets.items():
                if secret in text:
                    what = entry["data"].get("status") if isinstance(entry["data"], dict) \
                        else None
                    found.append((log, f"{log.title!r}: answer {number} of {len(answers)}"
                                       + (f" (HTTP {what})" if what else "")
                                       + f" at {entry['at_ms']} ms carried {kind}"))
    return found


def sweep(results: dict, transcripts: list[Transcript], *creds: Credentials) -> None:
    """Append one check to SEC-SECRET-001 (when it is in the run and there is something to
    sweep: no vacuous PASS). `creds`: every target's the run bootstrapped (with an isolated
    fuzz target, two), each swept for in every answer: a key is the run's wherever it leaks."""
    result = results.get(REQUIREMENT)
    logs = [t for t in transcripts if any(e["dir"] == "<<" for e in t.entries)]
    creds = tuple(c for c in creds if isinstance(c, Credentials))
    if result is None or not creds or not logs:
        return
    secrets = {s: kind for c in creds for s, kind in run_secrets(c).items()}
    if not secrets:
        return
    found = findings(logs, secrets)
    answers = sum(e["dir"] == "<<" for t in logs for e in t.entries)
    bad = list(dict.fromkeys(log for log, _ in found))
    result.checks.append(report.CheckRecord(
        nodeid=f"<the run's secrets in all {answers} answers of {len(logs)} logs>",
        verdict=FAIL if found else PASS,
        message="a secret of the run came back in an answer:\n"
                + "\n".join(line for _, line in found[:20]) if found else "",
        evidence=[t.as_evidence() for t in bad[:3]]))
