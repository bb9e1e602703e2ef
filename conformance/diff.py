"""`astrbot-conformance diff A B`: what changed between two runs (two releases of a target, or
a target before and after a change), beyond their verdicts.

A and B are results.json files or report folders holding one. Sections, each only when it has
something to say:

- requirements whose verdict changed (id, level, A -> B, B's reason); ids new or gone;
- operations (results.json `operations`) added, removed, or whose verdict changed; scope
  matrix cells whose status changed;
- served surface (`served_surface`, conformance/surface.py): operations listed by one
  target's own OpenAPI document and not the other's, scope differences with the contract,
  scope names (and sensitive scopes) one document declares and the other does not;
- observed (`observed`, conformance/observed.py; computed from the evidence for older runs):
  frame and event types seen in one run only, per channel and direction; fields added or
  removed per type; error and close codes; exchange sequences that changed (same evidence
  title, another shape: the types in the order they first came, `*` when one came again;
  both sequences shown); HTTP statuses that changed per operation.

Exit status: 0 nothing matched --fail-on; 1 something did (verdict: a requirement's verdict
changed; surface: the served surface changed; any: any section has a change; none: never);
2 a missing or unreadable file (one line).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import observed as observed_mod
from . import surface as surface_mod
from .markdown import cell, code, printable
from .outcomes import ConfigurationError

FAIL_ON = ("verdict", "surface", "any", "none")
LIST_LIMIT = 60  # lines per list in a section
SEQUENCE_LIMIT = 40  # changed exchanges shown
SEQUENCE_CHARS = 400  # of one sequence, in the output
EXCHANGES = "Exchange sequences that changed"


# loading ---------------------------------------------------------------------------------

def load(where: str) -> tuple[dict, Path]:
    """A results document from a results.json or a report folder; ConfigurationError (one
    line) when it is missing or not a results document."""
    path = Path(where)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise ConfigurationError(f"no results.json at {where}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path} as JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("requirements"), list) \
            or not isinstance(doc.get("run"), dict):
        raise ConfigurationError(f"{path} is not a conformance results.json (no run or "
                                 "requirements)")
    return doc, path


# comparing -------------------------------------------------------------------------------

def compare(a: dict, b: dict) -> dict:
    """Every difference between two results documents, section by section."""
    return {"requirements": _requirements(a, b), "operations": _operations(a, b),
            "surface": _surface(surface_mod.of(a), surface_mod.of(b)),
            "observed": _observed(observed_mod.of(a), observed_mod.of(b))}


def _requirements(a: dict, b: dict) -> dict:
    ra = {r["id"]: r for r in a["requirements"] if isinstance(r, dict) and "id" in r}
    rb = {r["id"]: r for r in b["requirements"] if isinstance(r, dict) and "id" in r}
    changed = [{"id": rid, "level": rb[rid].get("level", "?"), "a": ra[rid].get("verdict"),
                "b": rb[rid].get("verdict"), "reason": _line(rb[rid].get("reason", ""))}
               for rid in sorted(ra.keys() & rb.keys())
               if ra[rid].get("verdict") != rb[rid].get("verdict")]
    return {"changed": changed,
            "added": [{"id": i, "verdict": rb[i].get("verdict")}
                      for i in sorted(rb.keys() - ra.keys())],
            "removed": [{"id": i, "verdict": ra[i].get("verdict")}
                        for i in sorted(ra.keys() - rb.keys())]}


def _op_key(op: dict) -> str:
    return f"{op.get('document', '?')} {op.get('method', '?')} {op.get('path', '?')}"


def _operations(a: dict, b: dict) -> dict:
    oa = {_op_key(op): op for op in a.get("operations") or [] if isinstance(op, dict)}
    ob = {_op_key(op): op for op in b.get("operations") or [] if isinstance(op, dict)}
    changed, matrix = [], []
    for key in sorted(oa.keys() & ob.keys()):
        x, y = oa[key], ob[key]
        if x.get("verdict") != y.get("verdict"):
            changed.append({"operation": key, "a": x.get("verdict"), "b": y.get("verdict"),
                            "reason": _line(y.get("reason", ""))})
        ma, mb = x.get("scope_matrix") or {}, y.get("scope_matrix") or {}
        for cred in sorted(ma.keys() & mb.keys()):
            if ma[cred] != mb[cred]:
                matrix.append({"operation": key, "credential": cred, "a": ma[cred],
                               "b": mb[cred]})
    return {"added": sorted(ob.keys() - oa.keys()), "removed": sorted(oa.keys() - ob.keys()),
            "changed": changed, "scope_matrix": matrix}


def _surface(a: dict | None, b: dict | None) -> dict:
    out: dict = {}
    if a is None or b is None or a.get("document") is None or b.get("document") is None:
        state = [("A", a), ("B", b)]
        missing = [f"{name}: " + ("not recorded (a run older than served_surface)" if s is None
                                  else f"no document ({s.get('reason', '')})")
                   for name, s in state if s is None or s.get("document") is None]
        if missing and not (a is None and b is None):
            out["unavailable"] = missing
        if a is not None and b is not None and a.get("document") != b.get("document"):
            out["document"] = {"a": a.get("document"), "b": b.get("document")}
        return out

    def listed(s: dict) -> dict[str, str]:
        """Operations the served document lists that are notable: undocumented ones, and
        contract operations as `not listed`."""
        rows = {f"{r['method']} {r['path']}": "undocumented" for r in s.get("undocumented", [])}
        return rows

    def not_listed(s: dict) -> dict[str, str]:
        return {f"{r['method']} {r['path']}": r.get("status", "?")
                for r in s.get("not_listed", [])}

    ua, ub, na, nb = listed(a), listed(b), not_listed(a), not_listed(b)
    out["listed_in_b_only"] = sorted([f"{k} (undocumented)" for k in ub.keys() - ua.keys()]
                                     + [f"{k} (contract operation; {_unlisted(na[k], 'A')})"
                                        for k in na.keys() - nb.keys()])
    out["listed_in_a_only"] = sorted([f"{k} (undocumented)" for k in ua.keys() - ub.keys()]
                                     + [f"{k} (contract operation; {_unlisted(nb[k], 'B')})"
                                        for k in nb.keys() - na.keys()])
    sda = {f"{d['method']} {d['path']}": d for d in a.get("scope_differences", [])}
    sdb = {f"{d['method']} {d['path']}": d for d in b.get("scope_differences", [])}
    out["scope_differences_b_only"] = [
        f"{k}: contract {sdb[k]['contract']}, served {sdb[k]['served']}; {sdb[k].get('wire', '')}"
        for k in sorted(sdb.keys() - sda.keys())]
    out["scope_differences_a_only"] = [
        f"{k}: contract {sda[k]['contract']}, served {sda[k]['served']}"
        for k in sorted(sda.keys() - sdb.keys())]
    sa, sb = a.get("scopes", {}), b.get("scopes", {})
    # scope names the contract lacks (a document that annotates more operations with the
    # contract's own scopes declares no new scope)
    out["scope_names_b_only"] = sorted(set(sb.get("served_only", []))
                                       - set(sa.get("served_only", [])))
    out["scope_names_a_only"] = sorted(set(sa.get("served_only", []))
                                       - set(sb.get("served_only", [])))
    sens_a, sens_b = sa.get("sensitive", {}), sb.get("sensitive", {})
    out["sensitive_b_only"] = [f"{k} ({', '.join(sens_b[k][:4])})"
                               for k in sorted(sens_b.keys() - sens_a.keys())]
    out["sensitive_a_only"] = [f"{k} ({', '.join(sens_a[k][:4])})"
                               for k in sorted(sens_a.keys() - sens_b.keys())]
    counts = [(name, a.get(name), b.get(name)) for name in
              ("served_operations", "served_with_scope") if a.get(name) != b.get(name)]
    if counts:
        out["counts"] = [f"{name}: {x} -> {y}" for name, x, y in counts]
    return {k: v for k, v in out.items() if v}


def _observed(a: dict, b: dict) -> dict:
    out: dict = {"channels_b_only": [], "channels_a_only": [], "types": [], "fields": [],
                 "codes": [], "exchanges": [], "exchanges_b_only": 0, "exchanges_a_only": 0,
                 "http_statuses": []}
    ca, cb = a.get("channels", {}), b.get("channels", {})
    out["channels_b_only"] = sorted(cb.keys() - ca.keys())
    out["channels_a_only"] = sorted(ca.keys() - cb.keys())
    for name in sorted(ca.keys() & cb.keys()):
        x, y = ca[name], cb[name]
        # what the target did not send may be what the suite did not ask for
        asked = "" if set(x.get("sent", {})) == set(y.get("sent", {})) else \
            " [the suite sent other frame types here: see sent]"
        for direction in ("received", "sent"):
            tx, ty = x.get(direction, {}), y.get(direction, {})
            for t in sorted(ty.keys() - tx.keys()):
                out["types"].append(f"{name} {direction}: + {t} (B only; fields "
                                    f"{', '.join(ty[t].get('fields', []))})")
            for t in sorted(tx.keys() - ty.keys()):
                out["types"].append(f"{name} {direction}: - {t} (A only)"
                                    + (asked if direction == "received" else ""))
            for t in sorted(tx.keys() & ty.keys()):
                for key, label in (("fields", ""), ("data_fields", "data.")):
                    fa, fb = set(tx[t].get(key, [])), set(ty[t].get(key, []))
                    if fa != fb:
                        change = [f"+{label}{f}" for f in sorted(fb - fa)] + \
                            [f"-{label}{f}" for f in sorted(fa - fb)]
                        out["fields"].append(f"{name} {direction} {t}: {' '.join(change)}")
        for key in ("error_codes", "close_codes"):
            sa, sb = {str(c) for c in x.get(key, [])}, {str(c) for c in y.get(key, [])}
            if sa != sb:
                change = [f"+{c}" for c in sorted(sb - sa)] + [f"-{c}" for c in sorted(sa - sb)]
                out["codes"].append(f"{name} {key.replace('_', ' ')}: {' '.join(change)}"
                                    + (asked if sa - sb else ""))
    xa, xb = a.get("exchanges", {}), b.get("exchanges", {})
    for title in sorted(xa.keys() & xb.keys()):
        # compared by shape (observed.shape): a race that moves a frame among the deltas is
        # timing, not a change of behaviour
        sa = sorted({observed_mod.shape(x) for x in xa[title]})
        sb = sorted({observed_mod.shape(x) for x in xb[title]})
        if sa != sb:
            out["exchanges"].append({"title": title, "a": xa[title], "b": xb[title],
                                     "shape_a": sa, "shape_b": sb})
    out["exchanges_b_only"] = len(xb.keys() - xa.keys())
    out["exchanges_a_only"] = len(xa.keys() - xb.keys())
    ha, hb = a.get("http_statuses", {}), b.get("http_statuses", {})
    for key in sorted(ha.keys() & hb.keys()):
        if sorted(ha[key]) != sorted(hb[key]):
            out["http_statuses"].append(f"{key}: {_codes(ha[key])} -> {_codes(hb[key])}")
    return {k: v for k, v in out.items() if v}


def _unlisted(status: str, run: str) -> str:
    """How the run that does not list a contract operation saw it (surface.py's status)."""
    return {surface_mod.ANSWERED: f"{run} does not list it, but answered it: served in both",
            surface_mod.ABSENT: f"{run} does not list it and the run judged it UNIMPLEMENTED",
            }.get(status, f"{run} does not list it; its run did not show whether it exists")


def _codes(codes: list) -> str:
    return ",".join(str(c) for c in sorted(codes, key=str))


def _line(text, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


# exit status -----------------------------------------------------------------------------

def has_changes(result: dict) -> bool:
    req = result["requirements"]
    return bool(req["changed"] or req["added"] or req["removed"]
                or any(result["operations"].values())
                or _surface_changed(result["surface"]) or result["observed"])


def _surface_changed(surface: dict) -> bool:
    return any(v for k, v in surface.items() if k != "unavailable")


def exit_status(result: dict, fail_on: str) -> int:
    if fail_on == "none":
        return 0
    if fail_on == "verdict":
        return 1 if result["requirements"]["changed"] else 0
    if fail_on == "surface":
        return 1 if _surface_changed(result["surface"]) else 0
    return 1 if has_changes(result) else 0


# output ----------------------------------------------------------------------------------

def describe(doc: dict, path: Path) -> str:
    """`astrbot-4.26.2 4.26.2, 2026-12-01T15:51:12+00:00, run 20261201-155109-cebecf`."""
    run = doc.get("run", {})
    target = run.get("target") or {}
    version = target.get("version") or "version not detected"
    return (f"{target.get('name', '?')} {version}, {run.get('started_at', '?')}, "
            f"run {run.get('id', '?')} ({path})")


def _sections(result: dict) -> list[tuple[str, list[str]]]:
    """(heading, lines) per non-empty section, the same for text and Markdown."""
    out = []
    req = result["requirements"]
    if req["changed"]:
        width = max(len(r["id"]) for r in req["changed"])
        out.append((f"Requirements whose verdict changed ({len(req['changed'])})", [
            (f"{r['id']:<{width}}  {r['level']:<6}  {r['a']:<13} -> {r['b']:<13}"
            + (f"  {r['reason']}" if r["reason"] and r["b"] != "PASS" else "")).rstrip()
            for r in req["changed"]]))
    if req["added"] or req["removed"]:
        out.append(("Requirements new or gone", [f"new in B: {r['id']} ({r['verdict']})"
                                                 for r in req["added"]]
                    + [f"gone in B: {r['id']} (was {r['verdict']})" for r in req["removed"]]))
    ops = result["operations"]
    lines = [f"added: {k}" for k in ops.get("added", [])]
    lines += [f"removed: {k}" for k in ops.get("removed", [])]
    lines += [f"{c['operation']}: {c['a']} -> {c['b']}"
              + (f"  {c['reason']}" if c["reason"] and c["b"] != "PASS" else "")
              for c in ops.get("changed", [])]
    cells: dict[str, list[str]] = {}
    for m in ops.get("scope_matrix", []):
        cells.setdefault(m["operation"], []).append(f"{m['credential']} {m['a']}->{m['b']}")
    lines += [f"{op}: scope matrix {', '.join(c)}" for op, c in cells.items()]
    if lines:
        out.append(("Operations", lines))
    s = result["surface"]
    lines = [f"unavailable: {x}" for x in s.get("unavailable", [])]
    if "document" in s:
        lines.append(f"served document: {s['document']['a']} -> {s['document']['b']}")
    lines += s.get("counts", [])
    for key, label in (("listed_in_b_only", "listed by B only"),
                       ("listed_in_a_only", "listed by A only"),
                       ("scope_names_b_only", "scope name the contract lacks, declared by B only"),
                       ("scope_names_a_only", "scope name the contract lacks, declared by A only"),
                       ("sensitive_b_only", "sensitive scope in B only"),
                       ("sensitive_a_only", "sensitive scope in A only"),
                       ("scope_differences_b_only", "scope differs from the contract in B only"),
                       ("scope_differences_a_only", "scope differs from the contract in A only")):
        lines += [f"{label}: {x}" for x in s.get(key, [])]
    if lines:
        out.append(("Served surface", lines))
    o = result["observed"]
    lines = [f"channel seen in B only: {c}" for c in o.get("channels_b_only", [])]
    lines += [f"channel seen in A only: {c}" for c in o.get("channels_a_only", [])]
    lines += [f"type {x}" for x in o.get("types", [])]
    lines += [f"fields {x}" for x in o.get("fields", [])]
    lines += [f"codes {x}" for x in o.get("codes", [])]
    lines += [f"HTTP {x}" for x in o.get("http_statuses", [])]
    if o.get("exchanges_b_only") or o.get("exchanges_a_only"):
        lines.append(f"exchanges (evidence titles) in B only: {o.get('exchanges_b_only', 0)}, "
                     f"in A only: {o.get('exchanges_a_only', 0)}")
    if lines:
        out.append(("Observed on the wire", lines))
    changed = o.get("exchanges", [])
    if changed:
        lines = []
        for x in changed[:SEQUENCE_LIMIT]:
            lines.append(f"{x['title']}")
            lines += [f"    A: {_line(seq, SEQUENCE_CHARS)}" for seq in x["a"]]
            lines += [f"    B: {_line(seq, SEQUENCE_CHARS)}" for seq in x["b"]]
            lines += [f"    shape A: {seq}" for seq in x.get("shape_a", [])]
            lines += [f"    shape B: {seq}" for seq in x.get("shape_b", [])]
        if len(changed) > SEQUENCE_LIMIT:
            lines.append(f"... and {len(changed) - SEQUENCE_LIMIT} more")
        out.append((f"{EXCHANGES} ({len(changed)})", lines))
    return out


def _capped(lines: list[str], heading: str = "") -> list[str]:
    if len(lines) <= LIST_LIMIT or heading.startswith(EXCHANGES):  # capped by SEQUENCE_LIMIT
        return lines
    return lines[:LIST_LIMIT] + [f"... and {len(lines) - LIST_LIMIT} more"]


def overview(sections: list[tuple[str, list[str]]]) -> str:
    """`Changes: Requirements whose verdict changed 3, Operations 12, ...` (one line: the
    number of items, or of lines for a section that has no count in its heading)."""
    def count(heading: str, body: list[str]) -> str:
        return heading.rsplit("(", 1)[1].rstrip(")") if heading.endswith(")") else str(len(body))
    return "Changes: " + ", ".join(f"{h.split(' (')[0]} {count(h, body)}" for h, body in sections)


def render_text(result: dict, a: str, b: str) -> str:
    lines = [f"A: {a}", f"B: {b}", ""]
    sections = _sections(result)
    if not sections:
        return "\n".join(lines + ["No change between the two runs."]) + "\n"
    lines += [overview(sections), ""]
    for heading, body in sections:
        lines += [heading, "-" * len(heading)]
        lines += ["  " + x for x in _capped(body, heading)] + [""]
    return "\n".join(lines)


def render_markdown(result: dict, a: str, b: str) -> str:
    lines = ["## AstrBot conformance: what changed", "", f"- **A**: {_md(a)}",
             f"- **B**: {_md(b)}", ""]
    sections = _sections(result)
    if not sections:
        return "\n".join(lines + ["No change between the two runs."]) + "\n"
    lines += [overview(sections), ""]
    req = result["requirements"]["changed"]
    if req:
        lines += [f"### Requirements whose verdict changed ({len(req)})", "",
                  "| Requirement | Level | A | B | Reason (B) |", "|---|---|---|---|---|"]
        lines += [f"| {code(r['id'])} | {_md(r['level'])} | {_md(r['a'])} | {_md(r['b'])} | "
                  f"{_md(r['reason']) if r['b'] != 'PASS' else ''} |" for r in _capped_rows(req)]
        lines.append("")
    for heading, body in sections:
        if heading.startswith("Requirements whose verdict changed"):
            continue
        fold = len(body) > 12
        lines += [f"### {heading}", ""]
        if fold:
            lines += [f"<details><summary>{len(body)} lines</summary>", ""]
        lines += ["```text", *(_fence(x) for x in _capped(body, heading)), "```", ""]
        if fold:
            lines += ["</details>", ""]
    return "\n".join(lines)


def _capped_rows(rows: list) -> list:
    return rows[:LIST_LIMIT * 4]


def _md(text) -> str:
    """A Markdown table cell or one-line item (conformance/markdown.py)."""
    return cell(text, None)


def _fence(text: str) -> str:
    return printable(text)


def main(a: str, b: str, fmt: str = "text", fail_on: str = "verdict") -> int:
    """The `diff` command: print the comparison, return the exit status (ConfigurationError
    for a missing or unreadable file: the CLI prints it in one line, exit 2)."""
    doc_a, path_a = load(a)
    doc_b, path_b = load(b)
    result = compare(doc_a, doc_b)
    render = render_markdown if fmt == "markdown" else render_text
    print(render(result, describe(doc_a, path_a), describe(doc_b, path_b)), end="")
    return exit_status(result, fail_on)
