#!/usr/bin/env python3
"""The compatibility matrix: requirements x AstrBot releases, one verdict per cell
(`./noxw -s matrix -- V1 V2 ...`).

    python tools/real_astrbot/matrix.py V1 V2 ... [--from-reports] [--out docs/compatibility.md]

Without ``--from-reports`` each release is first run as ``./noxw -s real_astrbot`` does
(session.py, one after another); then ``reports/astrbot-V/results.json`` of each is read and
one table written, Markdown and a self-contained HTML page, to ``reports/matrix/matrix.md``
and ``matrix.html`` (``--out FILE`` also writes the Markdown there: the committed copy). A row
per requirement (its level and profile), a column per release (its totals and run date in the
header); a cell whose verdict differs from the previous release's is highlighted.

``render_markdown`` and ``render_html`` are pure functions of the results.json dicts.
Exit 1 when a release's session failed (its gate, its start) or its results are missing.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from conformance.markdown import cell  # the project's venv has conformance installed

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VERDICTS = ("PASS", "FAIL", "NON-STRICT", "UNIMPLEMENTED", "SKIPPED", "ERROR")
SHORT = {"PASS": "PASS", "FAIL": "FAIL", "NON-STRICT": "NON-STRICT",
         "UNIMPLEMENTED": "UNIMPL", "SKIPPED": "SKIP", "ERROR": "ERROR"}


# -- the table, as data ----------------------------------------------------------------------
def version_of(results: dict) -> str:
    target = results.get("run", {}).get("target", {})
    return str(target.get("version") or target.get("name") or "?")


def run_date(results: dict) -> str:
    return str(results.get("run", {}).get("started_at") or "")[:10] or "?"


def totals(results: dict) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for req in results.get("requirements", []):
        counts[req["verdict"]] = counts.get(req["verdict"], 0) + 1
    return counts


def rows(runs: list[dict]) -> list[dict]:
    """One row per requirement, in the order of the first run that has it: id, level,
    profile, text and one cell per run ({"verdict", "changed", "was"}; verdict None when that
    run has no such requirement). A cell is changed when the previous run judged it
    otherwise (the first run's cells never are)."""
    order: dict[str, dict] = {}
    for run in runs:
        for req in run.get("requirements", []):
            order.setdefault(req["id"], req)
    by_run = [{r["id"]: r["verdict"] for r in run.get("requirements", [])} for run in runs]
    table = []
    for rid, req in order.items():
        cells, previous = [], None
        for i, verdicts in enumerate(by_run):
            verdict = verdicts.get(rid)
            cells.append({"verdict": verdict, "was": previous,
                          "changed": i > 0 and verdict != previous})
            previous = verdict
        table.append({"id": rid, "level": req.get("level", ""), "profile": req.get("profile", ""),
                      "text": req.get("text", ""), "cells": cells})
    return table


def changes(table: list[dict]) -> int:
    return sum(1 for row in table for c in row["cells"] if c["changed"])


def gate_text(results: dict) -> str:
    """The run's baseline gate: ok, failed (the new/stale ids) or ungated."""
    gate = (results.get("summary") or {}).get("baseline")
    if not gate:
        return "ungated"
    if gate.get("passed"):
        return "ok"
    bad = [e.get("id", "?") if isinstance(e, dict) else str(e)
           for k in ("new", "stale") for e in (gate.get(k) or [])]
    return "failed" + (f" ({', '.join(bad)})" if bad else "")


def changed_list(runs: list[dict]) -> list[dict]:
    """Every changed cell: {"id", "level", "profile", "from", "to", "version", "reason"} (the
    reason the later run gave)."""
    reasons = [{r["id"]: r.get("reason", "") for r in run.get("requirements", [])}
               for run in runs]
    out = []
    for row in rows(runs):
        for i, c in enumerate(row["cells"]):
            if c["changed"]:
                reason = " ".join(str(reasons[i].get(row["id"]) or "").split())
                out.append({"id": row["id"], "level": row["level"], "profile": row["profile"],
                            "from": c["was"] or "—", "to": c["verdict"] or "—",
                            "version": version_of(runs[i]),
                            "reason": reason[:200] + ("…" if len(reason) > 200 else "")})
    return out


def totals_text(counts: dict[str, int]) -> str:
    return " ".join(f"{SHORT[v]} {counts[v]}" for v in VERDICTS if counts.get(v))


# -- Markdown --------------------------------------------------------------------------------
def render_markdown(runs: list[dict]) -> str:
    """The matrix as a Markdown document (a changed cell is bold, with the previous verdict)."""
    table = rows(runs)
    versions = [cell(version_of(r)) for r in runs]
    out = ["# AstrBot compatibility matrix", "",
           f"The conformance suite's verdicts on real AstrBot {', '.join(versions)} "
           "(`./noxw -s matrix -- " + " ".join(versions) + "`). A **bold** cell differs from "
           f"the previous release's verdict ({changes(table)} such cells).", "",
           "| Release | Run date | Totals | Baseline gate |", "|---|---|---|---|"]
    out += [f"| {cell(version_of(r))} | {cell(run_date(r))} | {totals_text(totals(r))} | "
            f"{cell(gate_text(r))} |" for r in runs]
    moved = changed_list(runs)
    if moved:
        out += ["", "## Changed verdicts", "",
                "| Requirement | Level | Release | Verdict | Reason (that release) |",
                "|---|---|---|---|---|"]
        out += [f"| {cell(m['id'])} | {cell(m['level'])} | {cell(m['version'])} | "
                f"{cell(m['from'])} → {cell(m['to'])} | {cell(m['reason'], None)} |"
                for m in moved]
    out += ["", "## Every requirement"]
    out += ["", "| Requirement | Level | Profile | " + " | ".join(versions) + " |",
            "|---|---|---|" + "---|" * len(versions)]
    for row in table:
        cells = []
        for c in row["cells"]:
            text = cell(c["verdict"] or "—")
            if c["changed"]:
                text = f"**{text}** (was {cell(c['was'] or '—')})"
            cells.append(text)
        out.append(f"| {cell(row['id'])} | {cell(row['level'])} | {cell(row['profile'])} | "
                   + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


# -- HTML ------------------------------------------------------------------------------------
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; position: sticky; top: 0; }
td.v { font-family: ui-monospace, monospace; font-size: 12px; white-space: nowrap; }
.PASS { background: #e3f6e3; } .FAIL { background: #fbe0e0; }
.NON-STRICT { background: #fdf3d6; } .UNIMPLEMENTED { background: #ececec; }
.SKIPPED { background: #f7f7f7; } .ERROR { background: #f3d9f7; } .none { color: #999; }
td.changed { outline: 3px solid #d04a02; outline-offset: -3px; font-weight: bold; }
small { color: #555; font-weight: normal; }
"""


def render_html(runs: list[dict]) -> str:
    """The matrix as one self-contained, well-formed HTML page (no script, no network)."""
    e = html.escape
    table = rows(runs)
    versions = [cell(version_of(r)) for r in runs]
    head = "".join(
        f"<th>{e(version_of(r))}<br/><small>{e(run_date(r))}<br/>"
        f"{e(totals_text(totals(r)))}</small></th>" for r in runs)
    body = []
    for row in table:
        cells = []
        for c in row["cells"]:
            verdict = c["verdict"]
            cls = ["v", verdict or "none"] + (["changed"] if c["changed"] else [])
            title = f' title="was {e(c["was"] or "absent")}"' if c["changed"] else ""
            cells.append(f'<td class="{" ".join(cls)}"{title}>{e(verdict or "—")}</td>')
        body.append(f'<tr><td title="{e(row["text"])}">{e(row["id"])}</td>'
                    f"<td>{e(row['level'])}</td><td>{e(row['profile'])}</td>{''.join(cells)}</tr>")
    moved = changed_list(runs)
    changes_html = "" if not moved else (
        "<h2>Changed verdicts</h2><ul>" + "".join(
            f"<li><b>{e(m['id'])}</b> ({e(m['level'])}) in {e(m['version'])}: "
            f'<span class="v {e(m["from"])}">{e(m["from"])}</span> → '
            f'<span class="v {e(m["to"])}">{e(m["to"])}</span>: {e(m["reason"])}</li>'
            for m in moved) + "</ul>")
    title = f"AstrBot compatibility matrix: {', '.join(versions)}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"/><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{e(title)}</h1>"
        f"<p>One verdict of the conformance suite per requirement and release; an outlined "
        f"cell differs from the previous release's ({changes(table)} such cells; hover for "
        f"the previous verdict, and a requirement's id for its text).</p>"
        f"{changes_html}"
        f"<h2>Every requirement</h2>"
        f"<table><thead><tr><th>Requirement</th><th>Level</th><th>Profile</th>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table></body></html>\n"
    )


# -- the command -----------------------------------------------------------------------------
def load(version: str, reports: Path) -> dict | None:
    try:
        return json.loads((reports / f"astrbot-{version}" / "results.json").read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    import session  # the runner (only needed without --from-reports)

    ap = session.parser()
    ap.prog, ap.description = "matrix", __doc__.split("\n\n")[0]
    ap.add_argument("--from-reports", action="store_true",
                    help="only read reports/astrbot-V/results.json (run nothing)")
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    args = ap.parse_args(argv)
    versions = session.check_versions(ap, args.versions)
    failed: list[str] = []
    if not args.from_reports:
        session.handle_signals()
        try:
            outcomes = session.run_releases(versions, args.python, args.keep,
                                            not args.no_baseline)
        except session.venvs.NoPython as e:
            print(f"matrix: {e}", file=sys.stderr)
            return 2
        except (session.Stopped, KeyboardInterrupt) as e:
            print(f"matrix: stopped ({e or 'Ctrl-C'}); every process it started is stopped",
                  file=sys.stderr)
            return 130 if isinstance(e, KeyboardInterrupt) else 143
        session.print_summary(outcomes)
        failed = [o.version for o in outcomes if not o.ok]
    runs, missing = [], []
    for v in versions:
        results = load(v, REPO / "reports")
        if results:
            runs.append(results)
        else:
            missing.append(v)
    if missing:
        print(f"matrix: no results for {', '.join(missing)} "
              f"(reports/astrbot-<version>/results.json): run them first", file=sys.stderr)
    if not runs:
        return 1
    out_dir = REPO / "reports" / "matrix"
    out_dir.mkdir(parents=True, exist_ok=True)
    md = render_markdown(runs)
    (out_dir / "matrix.md").write_text(md)
    (out_dir / "matrix.html").write_text(render_html(runs))
    written = ["reports/matrix/matrix.md", "reports/matrix/matrix.html"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md)
        written.append(str(args.out))
    print(f"matrix of {', '.join(version_of(r) for r in runs)}: {', '.join(written)}")
    if failed:
        print(f"matrix: FAILED sessions: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
