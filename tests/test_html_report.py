"""The report of a real run as its readers get it: `astrbot-conformance run -q` (a real process)
against a broken target (`sequential`: busy and interrupt FAIL, with frame logs), then

- the verdicts of a target that handles one frame at a time (the way real AstrBot 4.26.2 runs
  a live session): busy and interrupt FAIL with the frame log as evidence, the rest PASS;

- every artifact (results.json, report.html, junit.xml, summary.md, Allure results, the
  terminal output) grepped for the password, API keys and JWTs the run used: none is there;
- results.json valid against specs/results.schema.json, junit.xml parseable with one case per
  requirement, the quiet output short and ending with the verdict table's headline;
- report.html opened in headless Chromium (Debian's `chromium`, driven by Playwright): counts
  as results.json says, a verdict filter and the search clicked, a failure expanded to its
  frame timeline, a screenshot saved under reports/browser-test/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.outcomes import FAIL, PASS

from .broken_targets import FUZZED
from .test_suite_runs import ROOT, broken_target, verdicts

RUN_TIMEOUT = 300
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "reports" / "browser-test"
KEY_SHAPE = re.compile(r"abk_[A-Za-z0-9_\-]{8,}")
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.")


def run_cli(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    report_dir = tmp / f"report-{len(list(tmp.glob('report-*')))}"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--report-dir", str(report_dir), *args],
        cwd=tmp, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert (report_dir / "results.json").exists(), \
        f"no report; exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc, report_dir


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """Against the `sequential` target: a short run in the default output mode that sets up
    the admin (first-run setup, whose password it prints once and saves), then a quiet run of
    the live-api and openapi-v1 checks (no spec fuzzing: it has its own tests; the scope matrix
    on some operations, `--operations`) logged in with that password."""
    tmp = tmp_path_factory.mktemp("html-report")
    with broken_target("sequential", tmp) as url:
        progress, first = run_cli(tmp, "--base-url", url, "--setup-admin",
                                  "--profile", "live-api", "-k", "test_connect")
        admin = tomllib.loads(first.with_name(f"{first.name}-admin.toml").read_text())["target"]
        proc, report_dir = run_cli(
            tmp, "--base-url", url, "--username", admin["username"], "--password",
            admin["password"], "--profile", "live-api,openapi-v1", "-k", "not openapi_fuzz",
            "--operations", FUZZED, "-q")
    doc = json.loads((report_dir / "results.json").read_text())
    return {"proc": proc, "dir": report_dir, "doc": doc, "progress": progress,
            "password": admin["password"]}


@pytest.mark.slow
def test_a_server_that_handles_one_frame_at_a_time_fails_busy_and_interrupt(broken_run):
    """The suite must show busy and interrupt as FAIL with the frame log as evidence, and keep
    what does work as PASS."""
    doc = broken_run["doc"]
    live = verdicts(doc, "live-api")
    assert broken_run["proc"].returncode == 1
    for rid in ("LIVE-BUSY-001", "LIVE-BUSY-002", "LIVE-BUSY-003", "LIVE-INT-001"):
        assert live[rid] == FAIL, (rid, live[rid])
    for rid in ("LIVE-TURN-001", "LIVE-TURN-004", "LIVE-AUTH-001", "LIVE-INPUT-001",
                "LIVE-CONN-004"):  # each connection is its own sequential session
        assert live[rid] == PASS, (rid, live[rid])
    busy = next(r for r in doc["requirements"] if r["id"] == "LIVE-BUSY-001")
    assert "no busy error" in busy["reason"]
    sent = [e["data"] for ev in busy["checks"][0]["evidence"] for e in ev["log"]
            if e["dir"] == ">>"]
    assert {"t": "text_input", "text": "A second question"} in sent, "the evidence lacks the race"


@pytest.mark.slow
def test_no_artifact_of_the_run_holds_a_secret(broken_run):
    files = [p for p in broken_run["dir"].rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"results.json", "report.html", "junit.xml", "summary.md"} <= names
    assert any(p.name.endswith("-result.json") for p in files), "no Allure results"
    texts = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in files}
    texts["stdout"] = broken_run["proc"].stdout + broken_run["proc"].stderr
    password = broken_run["password"]
    assert len(password) >= 8
    for where, text in texts.items():
        assert password not in text, f"the password reached {where}"
        assert not KEY_SHAPE.search(text), f"an API key reached {where}"
        assert not JWT_SHAPE.search(text), f"a JWT reached {where}"
    # the run did use secrets: its wire logs show where they were, masked
    assert "***" in texts[str(broken_run["dir"] / "results.json")]


@pytest.mark.slow
def test_results_junit_and_quiet_output_of_a_real_run(broken_run):
    from jsonschema import Draft202012Validator

    doc = broken_run["doc"]
    schema = json.loads((ROOT / "specs" / "results.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:10]
    failing = sorted(r["id"] for r in doc["requirements"] if r["verdict"] == FAIL)
    assert "LIVE-BUSY-001" in failing
    judged = [r for r in doc["requirements"] if r["checks"]]
    assert all(r["duration_s"] > 0 for r in judged if not r["checks"][0]["nodeid"]
               .startswith("<")), "a check without its real duration"

    suite = ET.parse(broken_run["dir"] / "junit.xml").getroot()
    cases = list(suite.iter("testcase"))
    assert len(cases) == len(doc["requirements"])
    shown = {c.get("name").split()[0]: {p.get("name"): p.get("value") for p in c.iter("property")}
             for c in cases}
    assert all(shown[r["id"]]["verdict"] == r["verdict"] for r in doc["requirements"])

    out = broken_run["proc"].stdout.strip().splitlines()
    assert broken_run["proc"].returncode == 1
    assert out[-1].startswith("NOT conformant"), out[-5:]
    assert len(out) <= 60, f"{len(out)} lines for -q"
    text = "\n".join(out)
    assert "Traceback" not in text and "=====" not in text
    assert not re.search(r"\b\d+ (failed|passed)\b", text), "pytest's own summary leaked"
    for rid in failing:
        assert re.search(rf"^FAIL\s+{rid}\b", text, re.M), rid
    assert f"report html: {broken_run['dir'] / 'report.html'}" in text


@pytest.mark.slow
def test_the_default_output_shows_progress_per_phase(broken_run):
    out = broken_run["progress"].stdout.strip().splitlines()
    assert any(re.match(r"\d+ checks for \d+ requirements", x) for x in out[:3]), out[:3]
    phases = [x for x in out if re.match(r"\[\s*\d+/\d+ checks, \d+/\d+ requirements judged", x)]
    assert phases and "live/test_connect.py" in phases[0]
    assert out[-1].startswith(("conformant", "NOT conformant", "not judged")), out[-3:]
    assert not re.search(r"\b\d+ (failed|passed)\b", "\n".join(out))


# --- the page in a browser ---------------------------------------------------------------------

def chromium() -> str:
    """Debian's chromium, installed here if it is missing and this user may install it."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True,
                       timeout=900)
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed and cannot be installed here "
                    "(apt-get install chromium as root; .ci/run does it)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e .[test])")
    executable = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=FLAGS)
        yield b
        b.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith(
        "file:") else route.continue_())  # a self-contained page asks for nothing else
    page.goto(path.as_uri())
    page.wait_for_selector("#shown")
    return page, errors


@pytest.mark.slow
def test_the_report_of_a_failing_run_reads_in_a_browser(broken_run, browser):
    from playwright.sync_api import expect

    doc, total = broken_run["doc"], len(broken_run["doc"]["requirements"])
    count = {v: sum(r["verdict"] == v for r in doc["requirements"])
             for v in {r["verdict"] for r in doc["requirements"]}}
    page, errors = open_page(browser, broken_run["dir"] / "report.html")
    assert page.inner_text("#headline") == "Not conformant"
    assert page.inner_text("#shown") == f"showing {total} of {total} requirements"
    assert page.inner_text('#filters button[data-verdict="FAIL"]') == f"FAIL {count[FAIL]}"
    assert page.inner_text('#summary .count[data-verdict="FAIL"] b') == str(count[FAIL])
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report-summary.png"))

    page.click("#f-notpass")  # a filter: only what did not pass
    assert page.inner_text("#shown") == f"showing {total - count[PASS]} of {total} requirements"
    visible = page.locator(".req:visible")
    assert visible.count() == total - count[PASS]
    assert PASS not in {visible.nth(i).get_attribute("data-verdict")
                        for i in range(visible.count())}
    page.click('#filters button[data-verdict="FAIL"]')  # FAIL off as well
    assert page.inner_text("#shown") == \
        f"showing {total - count[PASS] - count[FAIL]} of {total} requirements"
    page.click('#filters button[data-verdict="FAIL"]')

    page.fill("#f-text", "LIVE-BUSY-001")
    expect(page.locator("#shown")).to_have_text(f"showing 1 of {total} requirements")
    row = page.locator('.req[data-id="LIVE-BUSY-001"]')
    row.locator(".head").click()  # expand the failure
    busy = next(r for r in doc["requirements"] if r["id"] == "LIVE-BUSY-001")
    # the first wire log that sends a text_input: the first such timeline on the page
    log = next(ev["log"] for c in busy["checks"] for ev in c["evidence"]
               if any(e["dir"] == ">>" and isinstance(e["data"], dict)
                      and e["data"].get("t") == "text_input" for e in ev["log"]))
    timeline = row.locator("table.timeline").filter(has_text="text_input").first
    assert timeline.is_visible()
    assert timeline.locator("tr").count() == len(log) + 1  # a header and one row per entry
    sent = timeline.locator("tr.dir-out td.type")
    assert [sent.nth(i).inner_text() for i in range(sent.count())].count("text_input") == 2
    assert timeline.locator("tr.dir-in").count() == sum(e["dir"] == "<<" for e in log)
    assert "no busy error" in row.locator("pre.reason").inner_text()
    marked = timeline.locator("tr.marked")  # the rule it broke, on the input it broke it on
    assert marked.count() == 1 and marked.locator("td.type").inner_text() == "text_input"
    assert "no busy error answered this input" in marked.locator(".mark").inner_text()
    first_payload = timeline.locator("td.payload details").first
    first_payload.locator("summary").click()  # a folded payload opens
    assert first_payload.locator("pre").is_visible()
    page.fill("#f-text", "")
    expect(page.locator("#shown")).to_have_text(
        f"showing {total - count[PASS]} of {total} requirements")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "report-failure-timeline.png"))
    assert not errors, errors


@pytest.mark.slow
def test_http_evidence_has_a_curl_reproducer_and_marks_the_broken_rule(tmp_path, browser):
    """A rendered document with an HTTP failure and a frame that broke a schema: the exchange
    shows its complete curl, the frame carries the rule it broke."""
    from conformance import report
    from conformance.catalogue import Requirement
    from conformance.redact import Redactor

    def req(rid):
        return Requirement(rid, "MUST", "openapi-v1", ({"seed": "004", "section": "x"},),
                           f"text of {rid}")

    http = report.RequirementResult(req("V1-ENV-001"), [report.CheckRecord(
        "http/t.py::t", FAIL, "the envelope's message is null", 0.2, [{
            "title": "GET bots", "kind": "http", "log": [
                {"at_ms": 0.5, "dir": ">>", "data": {
                    "method": "POST", "url": "http://127.0.0.1:1/api/v1/bots?x=1",
                    "headers": {"X-API-Key": "abk_leakedkey123456"},
                    "json": {"name": "it's"}}},
                {"at_ms": 3.0, "dir": "<<",
                 "data": {"status": 200, "body": '{"status":"ok","message":null}'}}]}])])
    frames = report.RequirementResult(req("V1-CHATWS-005"), [report.CheckRecord(
        "<schemas>", FAIL, "chat: frame at 7.5 ms: 'x' is not a string", 0.0, [{
            "title": "chat", "kind": "websocket-chat", "log": [
                {"at_ms": 1.0, "dir": ">>", "data": {"t": "text_input", "text": "hi"}},
                {"at_ms": 7.5, "dir": "<<", "data": {"t": "end", "data": 5},
                 "schema_errors": ["'x' is not a string"]}]}])])
    doc = report.build([http, frames], {"id": "r", "started_at": report.now_iso(),
                                        "duration_s": 1, "target": {"name": "t", "base_url":
                                                                    "http://127.0.0.1:1"},
                                        "profiles": ["openapi-v1"], "depth": "quick",
                                        "seed": 1}, Redactor())
    paths = report.write(doc, tmp_path)
    assert "abk_leakedkey123456" not in paths["html"].read_text()
    page, errors = open_page(browser, paths["html"])
    row = page.locator('.req[data-id="V1-ENV-001"]')
    row.locator(".head").click()
    curl = row.locator(".curl pre").inner_text()
    assert curl == ("curl -sS -X POST 'http://127.0.0.1:1/api/v1/bots?x=1' -H 'X-API-Key: ***' "
                    "-H 'Content-Type: application/json' --data-raw '{\"name\":\"it'\\''s\"}'")
    assert "HTTP 200" in row.locator(".exchange").inner_text()
    row = page.locator('.req[data-id="V1-CHATWS-005"]')
    row.locator(".head").click()
    marked = row.locator("tr.marked")
    assert marked.count() == 1 and marked.locator("td.type").inner_text() == "end"
    assert "'x' is not a string" in marked.locator(".mark").inner_text()
    assert not errors, errors
