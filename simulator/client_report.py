"""The client mode's report, in the suite's formats: `results.json` (same top-level shape as
the suite's: schema, run, summary, requirements with checks and evidence), `junit.xml` (one
test case per requirement) and `summary.md`; and the loopback-only `/_sim/client-report`
(GET: the results as JSON, or `?format=markdown|junit`; DELETE: end the run and start a
new one).

The CLIENT-* requirements are read from specs/requirements.yaml (the profiles listed in its
`simulator_profiles`); the simulator never imports the suite.
"""

from __future__ import annotations

import functools
import json
import platform
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import yaml
from aiohttp import web

from . import __version__
from .client_mode import KEPT_CONNECTIONS, RULES, ClientMode
from .contract import specs_dir
from .http.kernel.envelope import error

PASS, FAIL, NON_STRICT, SKIPPED = "PASS", "FAIL", "NON-STRICT", "SKIPPED"
VERDICTS = (PASS, FAIL, NON_STRICT, "UNIMPLEMENTED", SKIPPED, "ERROR")
PATH = "/_sim/client-report"
FORMATS = {"json": "application/json", "markdown": "text/markdown", "junit": "application/xml"}


@functools.cache
def requirements() -> tuple[dict, ...]:
    """The requirements the simulator judges, as catalogued (id, level, profile, source, text)."""
    with open(specs_dir() / "requirements.yaml", encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    profiles = set(data.get("simulator_profiles") or [])
    return tuple({"id": r["id"], "level": r["level"], "profile": r["profile"],
                  "source": list(r["source"]), "text": " ".join(str(r["text"]).split())}
                 for r in data["requirements"] if r.get("profile") in profiles)


def check_rules() -> None:
    """Every catalogued CLIENT-* requirement has a rule and every rule a requirement."""
    catalogued = {r["id"] for r in requirements()}
    if catalogued != set(RULES):
        raise ValueError(f"client mode: requirements without a rule "
                         f"{sorted(catalogued - set(RULES))}, rules without a requirement "
                         f"{sorted(set(RULES) - catalogued)}")


def build(grader: ClientMode, base_url: str = "") -> dict:
    run = grader.run
    exercised, clean, offenders = grader.exercised(), grader.clean(), grader.connections()
    breached = grader.breached()
    results = []
    for req in requirements():
        rid = req["id"]
        checks = [{"nodeid": f"connection {c.number}: {c.label}", "verdict": _bad(req),
                   "message": _message(c.violations[rid]), "duration_s": 0.0,
                   "evidence": [{"title": f"client frames of connection {c.number}",
                                 "kind": "websocket-client", "log": c.violations[rid]}]}
                  for c in offenders if rid in c.violations]
        checks += [{"nodeid": title, "verdict": _bad(req), "message": _message(log),
                    "duration_s": 0.0,
                    "evidence": [{"title": title, "kind": "handshakes", "log": log}]}
                   for title, log in run.refusal_breaches.get(rid, [])]
        unkept = breached[rid] - sum(rid in c.violations for c in offenders)
        if unkept > 0:
            checks.append({"nodeid": f"{unkept} more connection(s) that broke the rule",
                           "verdict": _bad(req), "duration_s": 0.0, "evidence": [],
                           "message": "evidence not kept (the report keeps the first "
                           f"{KEPT_CONNECTIONS} offending connections)"})
        if clean[rid]:
            checks.append({"nodeid": f"{clean[rid]} connection(s) that kept the rule",
                           "verdict": PASS, "message": "", "duration_s": 0.0, "evidence": []})
        if checks and any(c["verdict"] != PASS for c in checks):
            verdict, reason = _bad(req), next(c["message"] for c in checks
                                              if c["verdict"] != PASS)
        elif exercised[rid]:
            verdict, reason = PASS, ""
            if not checks:  # exercised by refused handshakes only
                checks.append({"nodeid": f"{exercised[rid]} refused handshake(s)",
                               "verdict": PASS, "message": "", "duration_s": 0.0,
                               "evidence": []})
        else:
            verdict = SKIPPED
            reason = (f"not judged: the rule applies once {RULES[rid].applies_when}, which "
                      "did not happen in this run")
        results.append({"id": rid, "level": req["level"], "profile": req["profile"],
                        "area": rid.rsplit("-", 1)[0], "source": req["source"],
                        "text": req["text"], "verdict": verdict, "reason": reason,
                        "duration_s": 0.0, "checks": checks})
    counts = dict.fromkeys(VERDICTS, 0)
    for r in results:
        counts[r["verdict"]] += 1
    counts["total"] = len(results)
    counts["conformant"] = not counts[FAIL] and counts[PASS] + counts[NON_STRICT] > 0
    return {
        "schema": "astrbot-conformance-results/1",
        "run": {"id": run.id, "kind": "client", "started_at": _iso(run.started),
                "ended_at": _iso(time.time()),
                "duration_s": round(time.time() - run.started, 3),
                "target": {"name": "clients of astrbot-sim", "base_url": base_url},
                "profiles": sorted({r["profile"] for r in results}),
                "connections": run.connections,
                "refused_handshakes": sum(run.refused.values()),
                "simulator_version": __version__, "python": platform.python_version()},
        "summary": counts,
        "requirements": results,
        "operations": [],
    }


def _bad(req: dict) -> str:
    return FAIL if req["level"] == "MUST" else NON_STRICT


def _message(log: list[dict]) -> str:
    found = [e["violation"] for e in log if "violation" in e]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (found[0] + more) if found else ""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


# writers ---------------------------------------------------------------------------------------
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
    suite = ET.Element("testsuite", {"name": "astrbot-sim client mode", "tests": str(s["total"]),
                                     "failures": str(s[FAIL]), "errors": "0",
                                     "skipped": str(s[SKIPPED]),
                                     "timestamp": doc["run"]["started_at"]})
    for req in doc["requirements"]:
        case = ET.SubElement(suite, "testcase", {"classname": f"client.{req['profile']}",
                                                 "name": f"{req['id']} [{req['level']}]",
                                                 "time": "0.000"})
        if req["verdict"] == FAIL:
            el = ET.SubElement(case, "failure", {"type": FAIL, "message": req["reason"][:500]})
            el.text = f"{req['text']}\n\n{req['reason']}"
        elif req["verdict"] == SKIPPED:
            ET.SubElement(case, "skipped", {"message": req["reason"][:500]})
        elif req["verdict"] == NON_STRICT:
            ET.SubElement(case, "system-out").text = f"NON-STRICT: {req['reason']}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def markdown(doc: dict) -> str:
    run, s = doc["run"], doc["summary"]
    lines = [f"## AstrBot client conformance (astrbot-sim client mode, run `{run['id']}`)", "",
             f"{run['connections']} connection(s), {run['refused_handshakes']} refused "
             f"handshake(s), {run['duration_s']:.1f} s.", "",
             "**" + ("Conformant" if s["conformant"] else "Not conformant") + "**: "
             + ", ".join(f"{s[v]} {v}" for v in VERDICTS if s[v])
             + f" of {s['total']} requirements.", "",
             "| Verdict | Requirement | Level | Reason |", "|---|---|---|---|"]
    order = {FAIL: 0, NON_STRICT: 1, SKIPPED: 2, PASS: 3}
    for req in sorted(doc["requirements"], key=lambda r: (order.get(r["verdict"], 0), r["id"])):
        reason = req["reason"] if req["verdict"] != PASS else req["text"]
        lines.append(f"| {req['verdict']} | `{req['id']}` | {req['level']} | "
                     f"{_cell(reason)} |")
    for req in doc["requirements"]:
        if req["verdict"] not in (FAIL, NON_STRICT):
            continue
        lines += ["", f"### {req['id']}: {req['verdict']}", "", req["text"]]
        for check in req["checks"][:3]:
            if check["verdict"] == PASS:
                continue
            lines += ["", f"{check['nodeid']}:", "", "```text"]
            for e in check["evidence"][0]["log"][:20]:
                shown = json.dumps(e["data"], ensure_ascii=False)[:160]
                why = f"   <- {e['violation']}" if "violation" in e else ""
                lines.append(f"{e['at_ms']:>9.1f} ms {e['dir']} {shown}{why}")
            lines.append("```")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return (text[:180] + "...") if len(text) > 180 else text


# HTTP and shutdown -----------------------------------------------------------------------------
def install(app: web.Application, sim, report_dir: Path | None) -> None:
    """Serve `/_sim/client-report` (loopback only) and write the report when the app stops."""
    def base_url(request: web.Request | None = None) -> str:
        if request is not None:
            return f"{request.scheme}://{request.host}"
        return f"http://{sim.config.host}:{sim.config.port}"

    def guard(request: web.Request) -> web.Response | None:
        if not sim.is_loopback(request):
            return error(403, "the client report is served to loopback clients only")
        if not sim.clients.enabled:
            return error(404, "client mode is off: start astrbot-sim --client-mode")
        return None

    async def get_report(request: web.Request) -> web.StreamResponse:
        refusal = guard(request)
        if refusal:
            return refusal
        kind = request.query.get("format", "json")
        if kind not in FORMATS:
            return error(400, f"format must be one of {', '.join(FORMATS)}")
        doc = build(sim.clients, base_url(request))
        if kind == "json":
            return web.json_response(doc)
        body = markdown(doc).encode() if kind == "markdown" else junit_xml(doc)
        return web.Response(body=body, content_type=FORMATS[kind], charset="utf-8")

    async def reset_report(request: web.Request) -> web.StreamResponse:
        refusal = guard(request)
        if refusal:
            return refusal
        doc = build(sim.clients, base_url(request))
        sim.clients.reset()
        return web.json_response(doc)

    async def on_shutdown(_app) -> None:
        if sim.clients.enabled:
            out = report_dir or Path("reports") / sim.clients.run.id
            doc = build(sim.clients, base_url())
            write(doc, out)
            s = doc["summary"]
            print(f"client report ({s[PASS]} PASS, {s[FAIL]} FAIL, {s[SKIPPED]} SKIPPED of "
                  f"{s['total']}): {out}", flush=True)

    app.router.add_get(PATH, get_report)
    app.router.add_delete(PATH, reset_report)
    app.on_shutdown.append(on_shutdown)
    if sim.clients.enabled:
        try:
            check_rules()
        except ValueError as exc:  # a catalogue edit without its rule: one line, exit 2
            raise SystemExit(f"astrbot-sim: {exc}") from None
        sim.bootstrap_messages.append(
            f"client mode: every client frame is graded; GET {PATH} for the report, written "
            f"to {report_dir or 'reports/<run id>'} when the simulator stops")
