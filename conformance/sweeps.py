"""The sweeps run once every check is done: rules judged over every wire log of the run,
whatever check made it (frame order on every live log, every frame against its schema, types
the contract does not define), each appended to its requirement as one more check."""

from __future__ import annotations

from . import report
from .clients.transcript import Transcript, undocumented_findings
from .invariants import live_violations
from .outcomes import FAIL, NON_STRICT, PASS
from .scenario import JWT_PATHS

ORDER_REQUIREMENT = "LIVE-ORDER-001"
# which requirement judges the frame schemas of the logs of each WebSocket path
SCHEMA_REQUIREMENTS = {"/api/v1/live/ws": "LIVE-FRAME-001", "/api/v1/chat/ws": "V1-CHATWS-005",
                       **dict.fromkeys(JWT_PATHS, "JWT-FRAME-001")}
# which requirement reports the frame (or SSE event) types the contract does not define
UNDOCUMENTED_REQUIREMENTS = {"/api/v1/live/ws": "LIVE-FRAME-002",
                             "/api/v1/chat/ws": "V1-CHATWS-006", "/api/v1/chat": "OPEN-CHAT-006",
                             **dict.fromkeys(JWT_PATHS, "JWT-FRAME-002")}


def frame_order(results: dict, transcripts: list[Transcript]) -> None:
    """LIVE-ORDER-001 holds on every live frame log of the run, whatever check made it."""
    result = results.get(ORDER_REQUIREMENT)
    logs = [t for t in transcripts if t.kind == "websocket-live"
            and any(isinstance(f, dict) and f.get("t") == "user_msg" for f in t.received())]
    if result is None or not logs:
        return  # no log with a turn in it: nothing to judge (no vacuous PASS)
    problems = [f"{t.title}: {p}" for t in logs
                for p in live_violations([f for f in t.received()
                                          if isinstance(f, dict) and "t" in f])]
    verdict = FAIL if problems else PASS
    message = "\n".join(problems[:20])
    bad = [t.as_evidence() for t in logs if any(p.startswith(t.title) for p in problems)]
    result.checks.append(report.CheckRecord(
        nodeid=f"<frame-order invariants over all {len(logs)} live frame logs>",
        verdict=verdict, message=message, evidence=bad[:3]))


def frame_schemas(results: dict, transcripts: list[Transcript]) -> None:
    """Every frame received on any WebSocket, whatever check read it, against its schema."""
    by_requirement: dict[str, list[Transcript]] = {}
    for t in transcripts:
        rid = SCHEMA_REQUIREMENTS.get(t.path or "")
        if rid in results and any(e["dir"] == "<<" for e in t.entries):
            by_requirement.setdefault(rid, []).append(t)
    for rid, logs in by_requirement.items():
        problems = [p for t in logs for p in t.schema_problems()]
        frames = sum(e["dir"] == "<<" for t in logs for e in t.entries)
        results[rid].checks.append(report.CheckRecord(
            nodeid=f"<schemas of all {frames} frames in {len(logs)} logs>",
            verdict=FAIL if problems else PASS, message="\n".join(problems[:20]),
            evidence=[t.as_evidence() for t in logs if t.schema_problems()][:3]))


def undocumented_types(results: dict, transcripts: list[Transcript]) -> None:
    """Frames and SSE events of a type the contract does not define, on every path the run
    read, whatever check read them: reported (NON-STRICT for a SHOULD), not absorbed."""
    by_requirement: dict[str, list[Transcript]] = {}
    for t in transcripts:
        rid = UNDOCUMENTED_REQUIREMENTS.get(t.path or "")
        if rid in results and any(e["dir"] == "<<" for e in t.entries):
            by_requirement.setdefault(rid, []).append(t)
    for rid, logs in by_requirement.items():
        findings = undocumented_findings(logs)
        broken = FAIL if results[rid].requirement.strict else NON_STRICT
        results[rid].checks.append(report.CheckRecord(
            nodeid=f"<frame and event types in {len(logs)} logs>",
            verdict=broken if findings else PASS,
            message="types the contract does not define:\n" + "\n".join(findings[:20])
            if findings else "",
            evidence=[t.as_evidence() for t in logs if t.undocumented()][:3]))
