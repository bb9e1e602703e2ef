"""Preflight, as a user meets it (`astrbot-conformance run` and plain pytest, real processes,
real sockets): the user's mistakes (a wrong key, password or JWT, a key without a scope the
profile needs, a server that is not AstrBot, nothing listening, a first-run target without
--setup-admin) end in one line naming the problem, exit status 3 and not a single FAIL."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance import launcher
from conformance.outcomes import ERROR, EXIT_PREFLIGHT, FAIL, PASS, SKIPPED
from conformance.preflight import SCOPE_PROBES

from .test_suite_runs import broken_target

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "conformance" / "scenarios"
HANG_GUARD = 180  # a run that still has not ended by then is hung (never a timing assertion)
ADMIN, PASSWORD = "admin", "Preflight-" + secrets.token_hex(6)
KEY = "abk_preflight_" + secrets.token_hex(16)
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy


def run_cli(tmp_path: Path, *args: str, env: dict | None = None):
    """(exit status, output, results.json or None) of one `astrbot-conformance run -q`."""
    report_dir = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--report-dir", str(report_dir),
         "-q", "--timeout", "3", *args], cwd=tmp_path, capture_output=True, text=True,
        timeout=HANG_GUARD, env={**_clean_env(), **(env or {})})
    results = report_dir / "results.json"
    doc = json.loads(results.read_text()) if results.exists() else None
    return proc.returncode, proc.stdout + proc.stderr, doc


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("ASTRBOT_CONFORMANCE_")}


def assert_judged_nothing(code: int, output: str, doc: dict | None, *needles: str) -> None:
    assert code == EXIT_PREFLIGHT, output
    line = next((x for x in output.splitlines() if "preflight failed" in x), None)
    assert line is not None, output
    for needle in needles:
        assert needle in line, (needle, line)
    assert "Traceback" not in output and len(output.splitlines()) <= 12, output
    assert doc is not None and doc["summary"]["preflight"] in line
    assert {r["verdict"] for r in doc["requirements"]} == {ERROR}  # not a single FAIL
    assert doc["summary"][FAIL] == 0 and doc["summary"]["conformant"] is False
    assert doc["summary"]["judged"] == 0 and doc["summary"]["not_judged"] == len(
        doc["requirements"])
    assert doc["run"]["bootstrap"]["log"], "the preflight's wire log is the evidence"


@pytest.fixture(scope="module")
def sim():
    """A real simulator process with an admin and an all-scope key already made."""
    env = {"ASTRBOT_SIM_ADMIN_USERNAME": ADMIN, "ASTRBOT_SIM_ADMIN_PASSWORD": PASSWORD,
           "ASTRBOT_SIM_API_KEY": KEY}
    with launcher.simulator(env=env) as launched:
        yield launched.url


def http(method: str, url: str, body=None, token: str | None = None):
    req = urllib.request.Request(url, method=method, data=None if body is None
                                 else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with OPENER.open(req, timeout=10) as resp:
        return json.loads(resp.read())


def admin_jwt(url: str) -> str:
    return http("POST", url + "/api/v1/auth/login",
                {"username": ADMIN, "password": PASSWORD})["data"]["token"]


def test_a_wrong_api_key_judges_nothing(sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--api-key",
                                "abk_mistyped_" + secrets.token_hex(12))
    assert_judged_nothing(code, output, doc, "API key (--api-key) was refused", "HTTP 401")
    assert "abk_mistyped_" not in (tmp_path / "report" / "results.json").read_text()


def test_a_wrong_password_judges_nothing(sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--username", ADMIN,
                                "--password", "not-the-password")
    assert_judged_nothing(code, output, doc, "refused the login of user 'admin'",
                          "--username and --password")


def test_a_wrong_jwt_judges_nothing(sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--jwt", "eyJhbGciOi.not.valid")
    assert_judged_nothing(code, output, doc, "the dashboard JWT (--jwt) was refused")


def test_a_key_without_the_chat_scope_for_live_api(sim, tmp_path):
    made = http("POST", sim + "/api/v1/api-keys", {"name": "im-only", "scopes": ["im"]},
                token=admin_jwt(sim))["data"]
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--api-key", made["api_key"],
                                "--profile", "live-api")
    assert_judged_nothing(code, output, doc, "lacks the scope(s) chat", "live-api")


def test_an_explicit_jwt_profile_without_a_jwt(sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--api-key", KEY,
                                "--profile", "legacy-jwt-live")
    assert_judged_nothing(code, output, doc, "legacy-jwt-live needs the dashboard JWT")


def test_a_right_key_passes_preflight_and_gets_verdicts(sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--api-key", KEY,
                                "--profile", "openapi-v1", "-k", "test_setup_status_is_public")
    assert code == 0, output
    assert "preflight" not in doc["summary"]
    assert {r["id"]: r["verdict"] for r in doc["requirements"]}["V1-AUTH-001"] == PASS


@contextmanager
def http_server(tmp_path: Path):
    """`python -m http.server` on a free loopback port: a web server, not AstrBot."""
    port = launcher.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                OPENER.open(url, timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "http.server exited"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_plain_web_server_is_not_astrbot(tmp_path):
    with http_server(tmp_path) as url:
        code, output, doc = run_cli(tmp_path, "--base-url", url, "--api-key", KEY)
    assert_judged_nothing(code, output, doc, "not an AstrBot API", "HTTP 404")
    answers = [e["data"] for e in doc["run"]["bootstrap"]["log"] if e["dir"] == "<<"]
    assert answers and "<html" in answers[0]["body"].lower()


def test_a_server_answering_404_json_to_everything_is_not_astrbot(tmp_path):
    with broken_target("bare", tmp_path) as url:
        code, output, doc = run_cli(tmp_path, "--base-url", url, "--username", "a",
                                    "--password", "b")
    assert_judged_nothing(code, output, doc, "not an AstrBot API")


def test_nothing_listening(tmp_path):
    url = f"http://127.0.0.1:{launcher.free_port()}"
    code, output, doc = run_cli(tmp_path, "--base-url", url, "--api-key", KEY)
    assert_judged_nothing(code, output, doc, f"cannot reach {url}", "connection refused")


def test_an_unknown_host(tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", "http://no-such-host.invalid:6185",
                                "--api-key", KEY)
    assert_judged_nothing(code, output, doc, "cannot reach", "unknown host")


@pytest.fixture
def first_run_sim():
    """A fresh simulator in first-run state (no admin yet)."""
    with launcher.simulator() as launched:
        yield launched.url


def setup_required(url: str) -> bool:
    return http("GET", url + "/api/v1/auth/setup-status")["data"]["setup_required"]


def test_a_first_run_target_is_not_set_up_without_the_flag(first_run_sim, tmp_path):
    for extra in ([], ["--username", "owner", "--password", "Owner-passw0rd"]):
        code, output, doc = run_cli(tmp_path, "--base-url", first_run_sim, *extra)
        assert_judged_nothing(code, output, doc, "first-run state", "--setup-admin")
        assert setup_required(first_run_sim), "the suite claimed a target it did not start"
    assert not list(tmp_path.glob("*admin*"))


def test_setup_admin_prints_and_saves_the_credentials_once(first_run_sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", first_run_sim, "--setup-admin",
                                "--profile", "openapi-v1", "-k", "test_setup_status_is_public")
    assert code == 0, output
    assert not setup_required(first_run_sim)
    saved = tmp_path / "report-admin.toml"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    password = next(line.split('"')[1] for line in saved.read_text().splitlines()
                    if line.startswith("password"))
    assert output.count(password) == 1 and str(saved) in output
    artifacts = [p for p in (tmp_path / "report").rglob("*") if p.is_file()]
    assert artifacts
    for artifact in artifacts:
        assert password not in artifact.read_text(errors="replace"), artifact
    # the saved file is a --config that logs in again
    again = tmp_path / "again"
    again.mkdir()
    code, output, doc = run_cli(again, "--config", str(saved), "--profile", "openapi-v1",
                                "-k", "test_setup_status_is_public")
    assert code == 0 and doc["requirements"][0]["verdict"] in (PASS, "SKIPPED"), output


def test_the_pytest_route_runs_the_same_preflight(sim, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SCENARIOS), "-c", str(SCENARIOS / "pytest.ini"),
         "--rootdir", str(SCENARIOS), "-p", "no:cacheprovider", "-q",
         "--astrbot-base-url", sim, "--astrbot-api-key", "abk_wrong_" + secrets.token_hex(12),
         "--astrbot-timeout", "3", "--astrbot-report-dir", str(tmp_path / "report")],
        cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD, env=_clean_env())
    doc = json.loads((tmp_path / "report" / "results.json").read_text())
    assert_judged_nothing(proc.returncode, proc.stdout + proc.stderr, doc,
                          "API key (--api-key) was refused")


def test_every_scope_probe_is_a_read_of_that_scope():
    """The probes are reads of seed 004 declaring exactly the scope they test."""
    import re

    import yaml

    paths = yaml.safe_load((ROOT / "specs" / "openapi-v1.yaml").read_text())["paths"]
    for scope, probe in SCOPE_PROBES.items():
        matching = [ops for template, ops in paths.items()
                    if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), probe)]
        assert len(matching) == 1, (scope, probe)
        assert matching[0]["get"]["x-astrbot-scope"] == scope, (scope, probe)


def test_credentials_from_the_environment(sim, tmp_path):
    code, output, doc = run_cli(tmp_path, "--base-url", sim, env={
        "ASTRBOT_CONFORMANCE_API_KEY": "abk_from_env_" + secrets.token_hex(12)})
    assert_judged_nothing(code, output, doc, "API key (--api-key) was refused")
    good = tmp_path / "good"
    good.mkdir()
    code, output, doc = run_cli(good, "--base-url", sim, "--profile", "openapi-v1",
                                "-k", "test_setup_status_is_public", env={
                                    "ASTRBOT_CONFORMANCE_USERNAME": ADMIN,
                                    "ASTRBOT_CONFORMANCE_PASSWORD": PASSWORD})
    assert code == 0, output


def test_a_check_needing_a_credential_not_given_is_skipped_not_judged(sim, tmp_path):
    """A check that needs a key the run could not create (only --api-key given) is SKIPPED
    with the credential to give, never ERROR or FAIL; a run of only such checks judged
    nothing: exit 4, never "NOT conformant"."""
    code, output, doc = run_cli(tmp_path, "--base-url", sim, "--api-key", KEY, "--profile",
                                "openapi-v1", "-k", "test_missing_scope_is_403")
    assert code == 4, output
    result = {r["id"]: r for r in doc["requirements"]}["V1-AUTH-004"]
    assert result["verdict"] == SKIPPED and "username/password" in result["reason"], result
    assert doc["summary"]["judged"] == 0 and not doc["summary"][ERROR]
    assert "not judged: no requirement was judged" in output and "NOT conformant" not in output


def test_verbose_adds_the_traceback(tmp_path):
    url = f"http://127.0.0.1:{launcher.free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--report-dir", str(tmp_path / "r"),
         "--base-url", url, "--timeout", "2", "-v"], cwd=tmp_path, capture_output=True,
        text=True, timeout=HANG_GUARD, env=_clean_env())
    assert proc.returncode == EXIT_PREFLIGHT
    assert "Traceback" in proc.stdout and "ConnectionRefusedError" in proc.stdout, proc.stdout
