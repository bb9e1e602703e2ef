"""Turn per-check outcomes into per-requirement verdicts and write the run's report:
`results.json` (everything, machine-readable), `junit.xml` (one test case per requirement, for
CI) and `summary.md` (a table a maintainer can paste into a pull request).
Every artifact passes through the Redactor first."""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .catalogue import Requirement
from .outcomes import ERROR, FAIL, NON_STRICT, PASS, SKIPPED, UNIMPLEMENTED, VERDICTS, worst
from .redact import Redactor

GATING = (FAIL, ERROR, UNIMPLEMENTED)
EVIDENCE_LOG_LIMIT = 200  # wire-log entries kept per transcript


@dataclass
class CheckRecord:
    nodeid: str
    verdict: str
    message: str = ""
    duration_s: float = 0.0
    evidence: list[dict] = field(default_factory=list)


@dataclass
class RequirementResult:
    requirement: Requirement
    checks: list[CheckRecord] = field(default_factory=list)
    skip_reason: str = ""

    @property
    def verdict(self) -> str:
        return worst(c.verdict for c in self.checks) if self.checks else SKIPPED

    @property
    def reason(self) -> str:
        if not self.checks:
            return self.skip_reason or "no check ran"
        bad = [c for c in self.checks if c.verdict == self.verdict and c.verdict != PASS]
        return bad[0].message if bad else ""


def summarize(results: list[RequirementResult]) -> dict:
    counts = dict.fromkeys(VERDICTS, 0)
    for r in results:
        counts[r.verdict] += 1
    counts["total"] = len(results)
    # conformant: nothing gating, and something was actually judged (no vacuous verdict)
    counts["conformant"] = not any(counts[v] for v in GATING) \
        and counts[PASS] + counts[NON_STRICT] > 0
    return counts


def build(results: list[RequirementResult], run: dict, redactor: Redactor,
          baseline=None, operations: list[dict] | None = None) -> dict:
    summary = summarize(results)
    if baseline is not None:
        # a requirement no check of this run judged (deselected, other profile) is neither
        # new nor stale
        summary["baseline"] = baseline.compare({r.requirement.id: r.verdict for r in results
                                                if r.checks})
    doc = {
        "schema": "astrbot-conformance-results/1",
        "run": {**run, "suite_version": __version__, "python": platform.python_version()},
        "summary": summary,
        "requirements": [
            {
                "id": r.requirement.id,
                "level": r.requirement.level,
                "profile": r.requirement.profile,
                "source": list(r.requirement.source),
                "text": r.requirement.text,
                "verdict": r.verdict,
                "reason": r.reason,
                "checks": [
                    {"nodeid": c.nodeid, "verdict": c.verdict, "message": c.message,
                     "duration_s": round(c.duration_s, 4),
                     "evidence": [_trim(e) for e in c.evidence]}
                    for c in r.checks
                ],
            }
            for r in results
        ],
        # every operation of both OpenAPI documents, with its verdict per requirement
        "operations": operations or [],
    }
    if operations:
        counts = dict.fromkeys(VERDICTS, 0)
        for op in operations:
            counts[op["verdict"]] += 1
        summary["operations"] = {"total": len(operations), **counts}
    return redactor.scrub(doc)


def _trim(evidence: dict) -> dict:
    log = evidence.get("log", [])
    if len(log) <= EVIDENCE_LOG_LIMIT:
        return evidence
    return {**evidence, "log": log[:EVIDENCE_LOG_LIMIT],
            "truncated": f"{len(log) - EVIDENCE_LOG_LIMIT} more entries"}


def write(doc: dict, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "junit": out_dir / "junit.xml",
             "markdown": out_dir / "summary.md"}
    paths["json"].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    paths["junit"].write_bytes(junit_xml(doc))
    paths["markdown"].write_text(markdown(doc), encoding="utf-8")
    return paths


def junit_xml(doc: dict) -> bytes:
    s = doc["summary"]
    suite = ET.Element("testsuite", {
        "name": f"astrbot-conformance {doc['run'].get('target', {}).get('name', '')}".strip(),
        "tests": str(s["total"]),
        "failures": str(s[FAIL] + s[UNIMPLEMENTED]),
        "errors": str(s[ERROR]),
        "skipped": str(s[SKIPPED]),
        "timestamp": doc["run"].get("started_at", ""),
    })
    for req in doc["requirements"]:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"conformance.{req['profile']}",
            "name": f"{req['id']} [{req['level']}]",
            "time": f"{sum(c['duration_s'] for c in req['checks']):.3f}",
        })
        verdict, reason = req["verdict"], req["reason"] or req["verdict"]
        if verdict in (FAIL, UNIMPLEMENTED):
            el = ET.SubElement(case, "failure", {"type": verdict, "message": reason[:500]})
            el.text = f"{req['text']}\n\n{reason}"
        elif verdict == ERROR:
            el = ET.SubElement(case, "error", {"type": ERROR, "message": reason[:500]})
            el.text = reason
        elif verdict == SKIPPED:
            ET.SubElement(case, "skipped", {"message": reason[:500]})
        elif verdict == NON_STRICT:
            ET.SubElement(case, "system-out").text = f"NON-STRICT ({req['level']}): {reason}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def markdown(doc: dict) -> str:
    run, s = doc["run"], doc["summary"]
    target = run.get("target", {})
    lines = [
        f"## AstrBot conformance: {target.get('name', '?')}",
        "",
        f"Target `{target.get('base_url', '?')}`, profiles {', '.join(run.get('profiles', []))}, "
        f"suite {run['suite_version']}, run `{run.get('id', '?')}` "
        f"({run.get('duration_s', 0):.1f} s).",
        "",
        "**" + ("Conformant" if s["conformant"] else "Not conformant") + "**: "
        + ", ".join(f"{s[v]} {v}" for v in VERDICTS if s[v]) + f" of {s['total']} requirements.",
        "",
        *_baseline_lines(s.get("baseline")),
        "| Verdict | Requirement | Level | Source | Reason |",
        "|---|---|---|---|---|",
    ]
    order = {v: i for i, v in enumerate((FAIL, UNIMPLEMENTED, ERROR, NON_STRICT, SKIPPED, PASS))}
    for req in sorted(doc["requirements"], key=lambda r: (order[r["verdict"]], r["id"])):
        source = ", ".join(dict.fromkeys(f"seed {x['seed']}" if "seed" in x else x["behavior"]
                                         for x in req["source"]))
        reason = _cell(req["reason"] if req["verdict"] != PASS else req["text"])
        lines.append(f"| {req['verdict']} | `{req['id']}` | {req['level']} | {source} | "
                     f"{reason} |")
    lines += _operation_lines(doc)
    failing = [r for r in doc["requirements"] if r["verdict"] not in (PASS, SKIPPED)]
    if failing:
        lines += ["", "<details><summary>Evidence for the requirements that did not pass"
                  "</summary>", ""]
        for req in failing:
            lines += [f"### {req['id']}: {req['verdict']}", "", req["text"], "", "```text",
                      req["reason"][:1500], "```"]
            for check in req["checks"][:1]:
                for ev in check["evidence"][:1]:
                    lines += ["", f"Wire log ({ev.get('title', '')}):", "", "```text"]
                    lines += [_log_line(e) for e in ev.get("log", [])[:40]]
                    lines += ["```"]
            lines.append("")
        lines.append("</details>")
    return "\n".join(lines) + "\n"


def _operation_lines(doc: dict) -> list[str]:
    ops = doc.get("operations") or []
    if not ops:
        return []
    counts = doc["summary"]["operations"]
    lines = ["", f"**Operations**: {counts['total']} in the OpenAPI documents: "
             + ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) + "."]
    order = {v: i for i, v in enumerate((FAIL, ERROR, NON_STRICT, UNIMPLEMENTED, SKIPPED))}
    shown = sorted((op for op in ops if op["verdict"] != PASS),
                   key=lambda op: (order[op["verdict"]], op["document"], op["path"]))
    if shown:
        lines += ["", "<details><summary>Operations that did not pass</summary>", "",
                  "| Verdict | Document | Operation | Requirements | Reason |",
                  "|---|---|---|---|---|"]
        for op in shown:
            bad = ", ".join(f"{rid} {v}" for rid, v in op["requirements"].items() if v != PASS)
            lines.append(f"| {op['verdict']} | {op['document']} | `{op['method']} {op['path']}` "
                         f"| {bad} | {_cell(op.get('reason', ''))} |")
        lines += ["", "</details>"]
    return lines


def _baseline_lines(gate: dict | None) -> list[str]:
    if not gate:
        return []
    lines = [f"Baseline `{gate['file']}`: **{'passed' if gate['passed'] else 'FAILED'}** "
             f"({len(gate['expected'])} known failures as expected, {len(gate['new'])} new, "
             f"{len(gate['stale'])} stale, {len(gate['flaky'])} flaky).", ""]
    lines += [f"- new {e['verdict']}: `{e['id']}`" for e in gate["new"]]
    lines += [f"- stale: `{e['id']}` is now {e['verdict']} (baseline: {e['known']}); remove "
              "it from the baseline" for e in gate["stale"]]
    return lines + ([""] if gate["new"] or gate["stale"] else [])


def _cell(text: str) -> str:
    text = " ".join(str(text).split())
    return (text[:180] + "...") if len(text) > 180 else text.replace("|", "\\|")


def _log_line(entry: dict) -> str:
    data = entry.get("data")
    shown = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    if len(shown) > 160:
        shown = shown[:160] + "..."
    errors = entry.get("schema_errors")
    suffix = f"   <- schema: {'; '.join(errors)[:120]}" if errors else ""
    return f"{entry.get('at_ms', 0):>8.1f} ms {entry.get('dir', '')} {shown}{suffix}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def merge_operation(ledger: dict, document: str, method: str, path: str, operation_id: str,
                    verdicts: dict[str, str], reason: str = "", **extra) -> dict:
    """Add one check family's verdicts for an operation to the run's per-operation ledger (the
    `operations` of results.json); the operation's verdict is the worst judged one."""
    row = ledger.setdefault(f"{document} {method} {path}", {
        "document": document, "method": method, "path": path, "operation_id": operation_id,
        "verdict": SKIPPED, "requirements": {}, "reason": ""})
    row["requirements"].update(verdicts)
    row.update(extra)
    if reason and not row["reason"]:
        row["reason"] = reason
    judged = [v for v in row["requirements"].values() if v != SKIPPED]
    row["verdict"] = worst(judged) if judged else SKIPPED
    if not row["reason"] and row["verdict"] == SKIPPED:
        row["reason"] = reason
    return row
