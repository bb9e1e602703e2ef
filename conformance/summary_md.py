"""summary.md: the Markdown summary of a results document (a PR comment or CI job summary):
the headline, a score per profile, the table of requirements that did not pass, their folded
evidence, the operations, the served surface and the baseline gate. Written by report.write."""

from __future__ import annotations

import json

from . import surface
from .catalogue import source_label
from .markdown import cell, code, printable
from .outcomes import (
    ERROR,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    VERDICTS,
    headline,
    title,
)

SUMMARY_EVIDENCE_LIMIT = 40_000  # characters of folded evidence in summary.md (PR comments)

NON_PASS_ORDER = (FAIL, UNIMPLEMENTED, ERROR, NON_STRICT, SKIPPED, PASS)


def score_line(profile: str, levels: dict) -> str:
    """`live-api: MUST 40/45, SHOULD 3/4 (2 FAIL, 3 UNIMPLEMENTED, 1 NON-STRICT)`: passed of
    judged per level (ERROR and SKIPPED are not judged)."""
    parts, bad = [], dict.fromkeys((FAIL, UNIMPLEMENTED, NON_STRICT, ERROR, SKIPPED), 0)
    for level, c in levels.items():
        parts.append(f"{level} {c[PASS]}/{c['judged']}" if c["judged"] else f"{level} -")
        for v in bad:
            bad[v] += c[v]
    extra = ", ".join(f"{n} {v}" for v, n in bad.items() if n)
    return f"{profile}: {', '.join(parts)}" + (f" ({extra})" if extra else "")


def markdown(doc: dict) -> str:
    """summary.md: the headline, a score per profile, the table of requirements that did not
    pass, then everything else folded. Short enough for a pull-request comment."""
    run, s = doc["run"], doc["summary"]
    target = run.get("target", {})
    version = f" {target['version']}" if target.get("version") else ""
    lines = [
        f"## AstrBot conformance: {_cell(target.get('name', '?'))}{_cell(version)}",
        "",
        f"Target {code(target.get('base_url', '?'), 300)}, profiles "
        f"{', '.join(run.get('profiles', []))}, "
        f"depth {run.get('depth', '?')}, seed {run.get('seed', '?')}, suite "
        f"{run['suite_version']}, run `{run.get('id', '?')}` ({run.get('duration_s', 0):.1f} s).",
        "",
        f"**{title(s)}**: {_cell(headline(s), 600)}",
        "",
        *_baseline_lines(s.get("baseline")),
        *(f"- {score_line(p, levels)}" for p, levels in s.get("scores", {}).items()),
        "",
    ]
    order = {v: i for i, v in enumerate(NON_PASS_ORDER)}
    ranked = sorted(doc["requirements"], key=lambda r: (order[r["verdict"]], r["id"]))
    header = ["| Verdict | Requirement | Level | Source | Reason |", "|---|---|---|---|---|"]
    not_passed = [r for r in ranked if r["verdict"] != PASS]
    if not_passed:
        lines += ["### Requirements that did not pass", "", *header]
        lines += [_requirement_row(r) for r in not_passed]
    lines += ["", f"<details><summary>All {len(ranked)} requirements</summary>", "", *header]
    lines += [_requirement_row(r) for r in ranked]
    lines += ["", "</details>"]
    lines += _operation_lines(doc)
    lines += _surface_lines(surface.of(doc))
    lines += _evidence_lines([r for r in ranked if r["verdict"] not in (PASS, SKIPPED)])
    return "\n".join(lines) + "\n"


def _requirement_row(req: dict) -> str:
    source = _cell(", ".join(dict.fromkeys(source_label(x) for x in req["source"])))
    reason = _cell(req["reason"] if req["verdict"] != PASS else req["text"])
    return f"| {req['verdict']} | `{req['id']}` | {req['level']} | {source} | {reason} |"


def _evidence_lines(failing: list[dict]) -> list[str]:
    if not failing:
        return []
    lines = ["", "<details><summary>Evidence for the requirements that did not pass"
             "</summary>", ""]
    used = 0
    for n, req in enumerate(failing):
        block = [f"#### {req['id']}: {req['verdict']}", "", _cell(req["text"], 400), "",
                 "```text", _fence(req["reason"][:1500]), "```"]
        decided = [c for c in req["checks"] if c["verdict"] == req["verdict"]]
        for check in (decided or req["checks"])[:1]:  # a check (or part) that gave the verdict
            for ev in check["evidence"][:1]:
                block += ["", f"Wire log ({_cell(ev.get('title', ''), 120)}):", "", "```text"]
                block += [_fence(_log_line(e)) for e in ev.get("log", [])[:40]]
                block += ["```"]
        block.append("")
        size = sum(len(x) + 1 for x in block)
        if used + size > SUMMARY_EVIDENCE_LIMIT:
            lines.append(f"(evidence of {len(failing) - n} more requirements left out to keep "
                         "this short: see report.html or results.json)")
            break
        used += size
        lines += block
    return lines + ["", "</details>"]


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
            lines.append(f"| {op['verdict']} | {op['document']} | "
                         f"{code(op['method'] + ' ' + op['path'])} "
                         f"| {bad} | {_cell(op.get('reason', ''))} |")
        lines += ["", "</details>"]
    return lines


def _surface_lines(served: dict | None) -> list[str]:
    """The served-surface drift (conformance/surface.py): one line, the lists folded."""
    if served is None:
        return []
    lines = ["", f"**{_cell(surface.headline(served), 400)}**"]
    if served.get("document") is None:
        return lines
    parts = [("Undocumented operations (served, not in the contract)",
              [f"`{r['method']} {r['path']}`" + (f" (scope {r['scope']})" if r.get("scope")
                                                 else "") for r in served["undocumented"]]),
             ("Contract operations not listed",
              [f"`{r['method']} {r['path']}`: {r['status']}: {_cell(r['why'], 200)}"
               for r in served["not_listed"]]),
             ("Scope differences",
              [f"`{r['method']} {r['path']}`: contract `{r['contract']}`, served "
               f"`{r['served']}`; {_cell(r['wire'], 200)}"
               for r in served["scope_differences"]]),
             ("Scope names the served document declares that the contract lacks",
              [f"`{name}`" + (f" (sensitive on {', '.join(served['scopes']['sensitive'][name])})"
                              if name in served["scopes"].get("sensitive", {}) else "")
               for name in served["scopes"].get("served_only", [])])]
    for heading, rows in parts:
        if rows:
            lines += ["", f"<details><summary>{heading} ({len(rows)})</summary>", ""]
            lines += [f"- {row}" for row in rows] + ["", "</details>"]
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


def _cell(text, limit: int = 180) -> str:
    """One Markdown table cell (conformance/markdown.py)."""
    return cell(text, limit)


def _fence(text: str) -> str:
    """Text inside a ``` block: a fence in the text itself would end the block."""
    return printable(text)


def _log_line(entry: dict) -> str:
    data = entry.get("data")
    shown = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    if len(shown) > 160:
        shown = shown[:160] + "..."
    errors = entry.get("schema_errors")
    suffix = f"   <- schema: {'; '.join(errors)[:120]}" if errors else ""
    return f"{entry.get('at_ms', 0):>8.1f} ms {entry.get('dir', '')} {shown}{suffix}"
