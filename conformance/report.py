"""Turn per-check outcomes into per-requirement verdicts and write the run's report:
`results.json` (everything, machine-readable; its schema is specs/results.schema.json),
`junit.xml` (one test case per requirement, for CI), `summary.md` (a table a maintainer can
paste into a pull request or a CI job summary) and `report.html` (conformance/html_report.py).
Every artifact is built from the redacted document: no secret reaches any of them."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import __version__, observed, surface
from .catalogue import Requirement
from .outcomes import (
    ERROR,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    VERDICTS,
    worst,
)
from .redact import Redactor
from .summary_md import markdown, score_line  # noqa: F401 (report.markdown, report.score_line)

GATING = (FAIL, ERROR, UNIMPLEMENTED)
EVIDENCE_LOG_LIMIT = 200  # wire-log entries kept per transcript
SCHEMA_ID = "astrbot-conformance-results/1"  # bump with specs/results.schema.json
LEVEL_ORDER = ("MUST", "SHOULD", "MAY")


@dataclass
class CheckRecord:
    nodeid: str
    verdict: str
    message: str = ""
    duration_s: float = 0.0
    evidence: list[dict] = field(default_factory=list)
    # a check run in parts (`@pytest.mark.part_of(name)`: the spec-driven fuzzing, each part
    # over a share of the operations): the name of the whole check, "" for an ordinary check
    part_of: str = ""


# the order in which the parts of one split check decide its verdict (`combine_parts`)
PART_ORDER = (FAIL, NON_STRICT, ERROR, PASS, UNIMPLEMENTED)


def combine_parts(verdicts) -> str:
    """The verdict of one check run in parts, as the check gave it whole: a part that found a
    break decides (FAIL, or NON-STRICT for a SHOULD), then a part the suite could not run
    (ERROR), then one PASS is enough (a part whose operations are all absent on the target
    does not make the requirement UNIMPLEMENTED while another part PASSes: the whole check
    would have passed), then UNIMPLEMENTED (every part's operations absent), else SKIPPED."""
    seen = set(verdicts)
    return next((v for v in PART_ORDER if v in seen), SKIPPED)


@dataclass
class RequirementResult:
    requirement: Requirement
    checks: list[CheckRecord] = field(default_factory=list)
    skip_reason: str = ""

    def _verdicts(self) -> list[str]:
        """One verdict per check, the parts of a split check combined into one."""
        parts: dict[str, list[str]] = {}
        for c in self.checks:
            if c.part_of:
                parts.setdefault(c.part_of, []).append(c.verdict)
        return [c.verdict for c in self.checks if not c.part_of] + [
            combine_parts(v) for v in parts.values()]

    @property
    def verdict(self) -> str:
        return worst(self._verdicts()) if self.checks else SKIPPED

    @property
    def reason(self) -> str:
        if not self.checks:
            return self.skip_reason or "no check ran"
        bad = [c for c in self.checks if c.verdict == self.verdict and c.verdict != PASS]
        if not bad:
            return ""
        if bad[0].part_of:  # every part that broke it: each names its own operations
            return "\n".join(c.message for c in bad if c.part_of == bad[0].part_of)
        return bad[0].message


def area(requirement_id: str) -> str:
    """The family a requirement belongs to: its id without the number (LIVE-TURN-003 ->
    LIVE-TURN)."""
    return requirement_id.rsplit("-", 1)[0]


def scores(results: list[RequirementResult]) -> dict:
    """Per profile and level: how many requirements PASS of those judged. MUST and SHOULD/MAY
    are counted apart, UNIMPLEMENTED apart from FAIL, and ERROR or SKIPPED never count against
    the target (they are not in `judged`). `score` is passed/judged, None if nothing judged."""
    out: dict[str, dict] = {}
    for r in results:
        level = out.setdefault(r.requirement.profile, {}).setdefault(
            r.requirement.level, {"total": 0, **dict.fromkeys(VERDICTS, 0)})
        level["total"] += 1
        level[r.verdict] += 1
    for levels in out.values():
        for counts in levels.values():
            counts["judged"] = sum(counts[v] for v in (PASS, FAIL, NON_STRICT, UNIMPLEMENTED))
            counts["score"] = round(counts[PASS] / counts["judged"], 4) \
                if counts["judged"] else None
    return {p: dict(sorted(levels.items(), key=lambda kv: LEVEL_ORDER.index(kv[0])))
            for p, levels in sorted(out.items())}


def summarize(results: list[RequirementResult]) -> dict:
    counts = dict.fromkeys(VERDICTS, 0)
    for r in results:
        counts[r.verdict] += 1
    counts["total"] = len(results)
    # judged: a verdict on the target; not judged: ERROR (the suite, settings or network broke)
    counts["judged"] = sum(counts[v] for v in (PASS, FAIL, NON_STRICT, UNIMPLEMENTED))
    counts["not_judged"] = counts[ERROR]
    # conformant: nothing gating, and something was actually judged (no vacuous verdict)
    counts["conformant"] = not any(counts[v] for v in GATING) \
        and counts[PASS] + counts[NON_STRICT] > 0
    return counts


def build(results: list[RequirementResult], run: dict, redactor: Redactor,
          baseline=None, operations: list[dict] | None = None,
          served: tuple[str, dict | None] | None = None) -> dict:
    """The results document. `served`: (where the target's own OpenAPI document was fetched
    from, that document), or (why there is none, None): compared with the contract as
    `served_surface` (conformance/surface.py); `served=None` records no served surface.
    `observed` (what the wire showed, conformance/observed.py) is computed from the
    evidence, and left out when there is none (readers compute it when absent)."""
    summary = summarize(results)
    if baseline is not None:
        # a requirement no check of this run judged (deselected, other profile) is neither
        # new nor stale
        summary["baseline"] = baseline.compare({r.requirement.id: r.verdict for r in results
                                                if r.checks})
    summary["scores"] = scores(results)
    chosen = run.get("operations_filter")
    if chosen:  # the headline says what was walked: not the whole contract
        summary["operations_filter"] = (
            f"operations: {chosen['selected']} of {chosen['total']} selected "
            f"(--operations {','.join(chosen['patterns'])})")
    target = {"version": None, **run.get("target", {})}
    doc = {
        "schema": SCHEMA_ID,
        "run": {"ended_at": now_iso(), **run, "target": target, "suite_version": __version__,
                "python": platform.python_version()},
        "summary": summary,
        "requirements": [
            {
                "id": r.requirement.id,
                "level": r.requirement.level,
                "profile": r.requirement.profile,
                "area": area(r.requirement.id),
                "source": list(r.requirement.source),
                "text": r.requirement.text,
                "verdict": r.verdict,
                "reason": r.reason,
                "duration_s": round(sum(c.duration_s for c in r.checks), 4),
                "checks": [
                    {"nodeid": c.nodeid, "verdict": c.verdict, "message": c.message,
                     "duration_s": round(c.duration_s, 4),
                     "evidence": [_trim(e) for e in c.evidence],
                     **({"part_of": c.part_of} if c.part_of else {})}
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
    doc = text_safe(redactor.scrub(doc))
    seen = observed.observe(doc)
    if any(seen[k] for k in ("channels", "exchanges", "http_statuses")):
        doc["observed"] = seen  # a run that saw nothing on the wire (no evidence) has none
    if served is not None:
        source, document = served
        doc["served_surface"] = redactor.scrub(surface.summarize(
            document, source, operations=doc["operations"], observed=seen,
            requirements=doc["requirements"], reason="" if document else source))
    return doc


def _trim(evidence: dict) -> dict:
    log = evidence.get("log", [])
    if len(log) <= EVIDENCE_LOG_LIMIT:
        return evidence
    return {**evidence, "log": log[:EVIDENCE_LOG_LIMIT],
            "truncated": f"{len(log) - EVIDENCE_LOG_LIMIT} more entries"}


def write(doc: dict, out_dir: Path) -> dict[str, Path]:
    """Write every report file of `doc` (already redacted) into `out_dir`; a run written under
    a `reports/` directory also becomes `reports/latest`."""
    from .html_report import render

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "html": out_dir / "report.html",
             "junit": out_dir / "junit.xml", "markdown": out_dir / "summary.md"}
    paths["json"].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    paths["html"].write_text(render(doc), encoding="utf-8")
    paths["junit"].write_bytes(junit_xml(doc))
    paths["markdown"].write_text(markdown(doc), encoding="utf-8")
    if out_dir.resolve().parent.name == "reports":
        point_latest(out_dir)
    return paths


def point_latest(run_dir: Path) -> Path:
    """Make `<run_dir>/../latest` the newest run: a relative symlink, swapped in atomically, or
    a copy where symlinks are not available."""
    run_dir = run_dir.resolve()
    latest = run_dir.parent / "latest"
    if run_dir == latest:
        return latest
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        if latest.is_dir() and not latest.is_symlink():
            shutil.rmtree(latest)  # an earlier copy
        os.replace(tmp, latest)
    except OSError:
        if tmp.is_symlink():
            tmp.unlink()
        if latest.is_symlink():
            latest.unlink()
        shutil.rmtree(latest, ignore_errors=True)
        shutil.copytree(run_dir, latest)
    return latest


# characters XML 1.0 cannot carry at all (control characters copied from garbage responses)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


_SURROGATE = re.compile("[\ud800-\udfff]")


def text_safe(value):
    """`value` (a results document, or any part) with every lone surrogate a target sent
    replaced by U+FFFD: UTF-8 cannot carry one, so results.json, report.html and summary.md
    could not be written at all."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {text_safe(k): text_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [text_safe(v) for v in value]
    return value


def _xml_safe_tree(root: ET.Element) -> None:
    """The one place all JUnit text passes: every attribute value, text and tail of the tree
    made XML 1.0 (names, ids and property values included, not only the reasons)."""
    for el in root.iter():
        el.attrib = {k: xml_safe(v) for k, v in el.attrib.items()}
        if el.text is not None:
            el.text = xml_safe(el.text)
        if el.tail is not None:
            el.tail = xml_safe(el.tail)


def junit_xml(doc: dict) -> bytes:
    """One test case per requirement, its verdict visible to any JUnit renderer: FAIL and
    UNIMPLEMENTED are failures (typed), ERROR an error, NON-STRICT and SKIPPED are skipped with
    the verdict first in the message; every case carries its verdict, level and profile as
    properties, and its real duration (the sum of its checks, fixtures included)."""
    s = doc["summary"]
    run = doc["run"]
    suite = ET.Element("testsuite", {
        "name": xml_safe(f"astrbot-conformance {run.get('target', {}).get('name', '')}"
                         .strip()),
        "tests": str(s["total"]),
        "failures": str(s[FAIL] + s[UNIMPLEMENTED]),
        "errors": str(s[ERROR]),
        "skipped": str(s[SKIPPED] + s[NON_STRICT]),
        "time": f"{run.get('duration_s', 0):.3f}",
        "timestamp": xml_safe(run.get("started_at", "")),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("target", run.get("target", {}).get("base_url", "")),
                        ("target_version", run.get("target", {}).get("version") or ""),
                        ("profiles", ",".join(run.get("profiles", []))),
                        ("depth", run.get("depth", "")), ("seed", run.get("seed", "")),
                        ("suite_version", run.get("suite_version", "")),
                        ("conformant", str(s["conformant"]).lower())):
        ET.SubElement(props, "property", {"name": name, "value": xml_safe(value)})
    for req in doc["requirements"]:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"conformance.{req['profile']}.{req.get('area') or area(req['id'])}",
            "name": f"{req['id']} [{req['level']}]",
            "time": f"{req.get('duration_s', 0):.3f}",
        })
        verdict = req["verdict"]
        reason = xml_safe(req["reason"] or verdict)
        props = ET.SubElement(case, "properties")
        for name, value in (("verdict", verdict), ("level", req["level"]),
                            ("profile", req["profile"]), ("requirement", req["id"])):
            ET.SubElement(props, "property", {"name": name, "value": value})
        head = f"{verdict} ({req['level']}): {reason}"[:500]
        if verdict in (FAIL, UNIMPLEMENTED):
            el = ET.SubElement(case, "failure", {"type": verdict, "message": head})
            el.text = xml_safe(f"{req['text']}\n\n{reason}")
        elif verdict == ERROR:
            el = ET.SubElement(case, "error", {"type": ERROR, "message": head})
            el.text = reason
        elif verdict in (SKIPPED, NON_STRICT):
            ET.SubElement(case, "skipped", {"type": verdict, "message": head})
    _xml_safe_tree(suite)
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def merge_operation(ledger: dict, document: str, method: str, path: str, operation_id: str,
                    verdicts: dict[str, str], reason: str = "", **extra) -> dict:
    """Add one check family's verdicts for an operation to the run's per-operation ledger (the
    `operations` of results.json); the operation's verdict is the worst judged one. A
    requirement judged again on the operation (another part of the fuzzing, another worker, the
    scope matrix beside the fuzzing) keeps `combine_parts` of both: a break anywhere decides,
    and one check that reached the operation outweighs one that found it absent."""
    row = ledger.setdefault(f"{document} {method} {path}", {
        "document": document, "method": method, "path": path, "operation_id": operation_id,
        "verdict": SKIPPED, "requirements": {}, "reason": ""})
    had = row["requirements"]
    row["requirements"].update({rid: combine_parts([had[rid], v]) if rid in had else v
                                for rid, v in verdicts.items()})
    row.update(extra)
    if reason and not row["reason"]:
        row["reason"] = reason
    judged = [v for v in row["requirements"].values() if v != SKIPPED]
    row["verdict"] = worst(judged) if judged else SKIPPED
    if not row["reason"] and row["verdict"] == SKIPPED:
        row["reason"] = reason
    return row
