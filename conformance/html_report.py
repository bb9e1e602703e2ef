"""report.html: the run's report as one self-contained page (no network, opens from disk).

The summary a person reads first (headline, score per profile, counts per verdict, target) is
rendered here as static HTML. Everything else lives in one JSON blob embedded in the page (the
redacted results.json, with the frames each failure points at marked) and is drawn by the
page's script only when asked for: the requirement list with its filters, then a failure's
evidence when it is expanded (a WebSocket frame timeline, or HTTP exchanges with a `curl`
reproducer). A run with 311 operations and megabytes of evidence opens as fast as a small one.

The page itself is `report_template.html` (inline CSS and JS): edit it to change the look.
"""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

from .outcomes import (
    ERROR,
    EXIT_CONFORMANT,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    VERDICTS,
    exit_status,
    headline,
    title,
)
from .surface import headline as surface_headline
from .surface import of as served_surface

TEMPLATE = Path(__file__).with_name("report_template.html")
# "frame #3 (end): ..." in a frame-order problem: the 3rd frame the target sent in that log
FRAME_REF = re.compile(r"frame #(\d+)")
FRAME_AT = re.compile(r"frame at ([\d.]+) ms")
VERDICT_ORDER = (FAIL, UNIMPLEMENTED, ERROR, NON_STRICT, SKIPPED, PASS)


def render(doc: dict) -> str:
    """The HTML page of a results document (already redacted: nothing is added here that was
    not in it)."""
    data = mark_rules(doc)
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    blob = blob.replace("<", "\\u003c")  # no "</script>" or "<!--" can end the blob early
    page = TEMPLATE.read_text(encoding="utf-8")
    run = doc.get("run", {})
    target = run.get("target", {})
    title = f"AstrBot conformance: {target.get('name', '?')} ({run.get('id', '')})"
    return (page.replace("{{TITLE}}", html.escape(title))
            .replace("{{SUMMARY}}", summary_html(doc))
            .replace("{{DATA}}", blob))


def summary_html(doc: dict) -> str:
    """The five-second summary: verdict, target and version, counts, a score per profile."""
    run, s = doc.get("run", {}), doc.get("summary", {})
    target = run.get("target", {})
    esc = html.escape
    ok = exit_status(s) == EXIT_CONFORMANT
    verdict = title(s)
    facts = [("Target", f"{target.get('name', '?')} — {target.get('base_url', '?')}"),
             ("Version", target.get("version") or "not detected"),
             ("Profiles", ", ".join(run.get("profiles", []))),
             ("Depth / seed", f"{run.get('depth', '?')} / {run.get('seed', '?')}"),
             ("Timing profile", target.get("timing_profile") or "—"),
             ("Started", f"{run.get('started_at', '?')} ({run.get('duration_s', 0):.1f} s)"),
             ("Suite", f"{run.get('suite_version', '?')} (run {run.get('id', '?')})")]
    counts = "".join(
        f'<span class="count v-{_cls(v)}{"" if s.get(v) else " zero"}" data-verdict="{esc(v)}">'
        f"<b>{s.get(v, 0)}</b> "
        f"{esc(v)}</span>" for v in VERDICT_ORDER if v in VERDICTS)
    rows = []
    for profile, levels in s.get("scores", {}).items():
        cells = []
        for level, c in levels.items():
            pct = "—" if c.get("score") is None else f"{100 * c['score']:.0f}%"
            bad = ", ".join(f"{c[v]} {v}" for v in (FAIL, UNIMPLEMENTED, NON_STRICT, ERROR,
                                                     SKIPPED) if c.get(v))
            width = 0 if c.get("score") is None else round(100 * c["score"])
            cells.append(f'<div class="lvl"><span class="lname">{esc(level)}</span> '
                         f'<span class="bar"><i style="width:{width}%"></i></span> '
                         f"<b>{c.get(PASS, 0)}/{c.get('judged', 0)}</b> {pct}"
                         f'<small>{esc(bad)}</small></div>')
        rows.append(f'<tr><th>{esc(profile)}</th><td>{"".join(cells)}</td></tr>')
    ops = s.get("operations")
    ops_line = "" if not ops else (
        f'<p class="ops">Operations of the OpenAPI documents: {ops.get("total", 0)} — '
        + ", ".join(f"{ops[v]} {esc(v)}" for v in VERDICTS if ops.get(v)) + "</p>")
    return (f'<section id="summary" class="{"ok" if ok else "bad"}">'
            f'<h1 id="headline">{esc(verdict)}</h1><p class="detail">{esc(headline(s))}</p>'
            f'<p class="counts">{counts} <span class="total">of {s.get("total", 0)} '
            f"requirements</span></p>"
            f'<table class="scores">{"".join(rows)}</table>{ops_line}{surface_html(doc)}'
            '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(str(v))}</dd>"
                                          for k, v in facts) + "</dl></section>")


def surface_html(doc: dict) -> str:
    """The served-surface drift (conformance/surface.py): its line, the lists folded."""
    served = served_surface(doc)
    if served is None:
        return ""
    esc = html.escape
    line = esc(surface_headline(served))
    if served.get("document") is None:
        return f'<p class="ops surface">{line}</p>'
    parts = [("Undocumented operations", [f"{r['method']} {r['path']}"
                                          + (f" (scope {r['scope']})" if r.get("scope") else "")
                                          for r in served.get("undocumented", [])]),
             ("Contract operations not listed", [f"{r['method']} {r['path']}: {r['status']}: "
                                                 f"{r['why']}"
                                                 for r in served.get("not_listed", [])]),
             ("Scope differences", [f"{r['method']} {r['path']}: contract {r['contract']}, "
                                    f"served {r['served']}; {r['wire']}"
                                    for r in served.get("scope_differences", [])]),
             ("Scope names the contract lacks", served.get("scopes", {}).get("served_only", []))]
    body = "".join(f"<p><b>{esc(h)}</b> ({len(rows)})</p><ul>"
                   + "".join(f"<li>{esc(str(r))}</li>" for r in rows) + "</ul>"
                   for h, rows in parts if rows)
    return (f'<details class="ops surface"><summary>{line}</summary>{body}</details>'
            if body else f'<p class="ops surface">{line}</p>')


def _cls(verdict: str) -> str:
    return verdict.lower().replace("-", "")


def mark_rules(doc: dict) -> dict:
    """A copy of `doc` where each wire-log entry a failure points at carries `marks`: the
    schema errors recorded on it, an undocumented type, the rule a check named on it
    (`transcript.add(..., violation="...")`), or the problem that names it ("frame #N" of that
    log, counted over the frames the target sent, or "frame at T ms")."""
    data = copy.deepcopy(doc)
    for req in data.get("requirements", []):
        for check in req.get("checks", []):
            if check.get("verdict") == PASS:
                continue
            problems = str(check.get("message", "")).splitlines()
            for ev in check.get("evidence", []):
                _mark_log(ev, problems, single=len(check.get("evidence", [])) == 1)
    return data


def _mark_log(ev: dict, problems: list[str], single: bool) -> None:
    log = ev.get("log", [])
    received = [e for e in log if e.get("dir") == "<<" and isinstance(e.get("data"), dict)
                and "t" in e["data"]]
    title = ev.get("title", "")
    for entry in log:
        marks = [str(x) for x in entry.get("schema_errors") or []]
        if entry.get("undocumented"):
            marks.append(f"type {entry['undocumented']!r} is not defined by the contract")
        if entry.get("violation"):
            marks.append(str(entry["violation"]))
        if marks:
            entry["marks"] = marks
    for line in problems:
        if not (single or (title and line.startswith(title))):
            continue
        for ref in FRAME_REF.findall(line):
            n = int(ref)
            if 0 < n <= len(received):
                received[n - 1].setdefault("marks", []).append(line.removeprefix(title + ": "))
        for at in FRAME_AT.findall(line):
            for entry in log:  # (a frame's own schema errors are marked already)
                if f"{entry.get('at_ms')}" == at and not entry.get("schema_errors"):
                    entry.setdefault("marks", []).append(line.removeprefix(title + ": "))

