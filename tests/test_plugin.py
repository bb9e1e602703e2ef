"""The pytest plugin run the way users run it, on throw-away check modules (pytester),
against a real simulator process (preflight needs a target that answers)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conformance import launcher

pytest_plugins = ["pytester"]
ADMIN = ["--astrbot-username", "admin", "--astrbot-password", "Plugin-passw0rd"]
ADMIN_CLI = ["--username", "admin", "--password", "Plugin-passw0rd"]


@pytest.fixture(scope="module")
def target_url():
    with launcher.simulator(env={"ASTRBOT_SIM_ADMIN_USERNAME": "admin",
                                 "ASTRBOT_SIM_ADMIN_PASSWORD": "Plugin-passw0rd"}) as sim:
        yield sim.url


@pytest.fixture
def pytester(pytester, target_url):
    pytester.target_url = target_url
    return pytester

CHECK = '''
import pytest

@pytest.mark.requirement("LIVE-TURN-001")
def test_turn(target):
    assert {verdict}
'''


def run_plugin(pytester, body: str, *extra: str) -> dict:
    pytester.makepyfile(test_checks=body)
    report_dir = pytester.path / "report"
    pytester.runpytest("-p", "no:cacheprovider", "--astrbot-base-url", pytester.target_url,
                       *ADMIN, "--astrbot-report-dir", str(report_dir), *extra)
    return json.loads((report_dir / "results.json").read_text())


def verdict_of(doc: dict, rid: str) -> str:
    return next(r["verdict"] for r in doc["requirements"] if r["id"] == rid)


def test_a_check_module_that_cannot_load_makes_every_requirement_error(pytester):
    doc = run_plugin(pytester, "import no_such_module\n")
    assert {r["verdict"] for r in doc["requirements"]} == {"ERROR"}
    assert "could not load" in doc["requirements"][0]["reason"]
    assert doc["summary"]["conformant"] is False


def test_pass_and_fail_land_on_the_marked_requirement(pytester):
    assert verdict_of(run_plugin(pytester, CHECK.format(verdict="True")),
                      "LIVE-TURN-001") == "PASS"
    doc = run_plugin(pytester, CHECK.format(verdict="1 == 2"))
    assert verdict_of(doc, "LIVE-TURN-001") == "FAIL"
    assert verdict_of(doc, "LIVE-TURN-002") == "SKIPPED"
    assert doc["summary"]["conformant"] is False


def test_unknown_requirement_is_a_usage_error(pytester):
    pytester.makepyfile(test_checks='''
import pytest

@pytest.mark.requirement("NOPE-XXX-001")
def test_x():
    pass
''')
    result = pytester.runpytest("--astrbot-base-url", pytester.target_url, *ADMIN,
                                "--astrbot-report-dir", str(pytester.path / "r"))
    assert result.ret == 4  # pytest's usage error: the check module is wrong, not the user
    result.stderr.fnmatch_lines(["*unknown requirement*NOPE-XXX-001*"])


def test_a_usage_error_after_the_preflight_leaves_no_key_on_the_target(pytester):
    """The preflight runs before the checks are collected, so a usage error found in them (an
    unknown requirement, a bad -k expression given to pytest itself) comes after the run's keys
    were made: they are deleted all the same. The command refuses a bad -k before anything:
    no key is made at all."""
    pytester.makepyfile(test_checks=CHECK.format(verdict="True"))
    before = run_keys(pytester.target_url)
    report = str(pytester.path / "r")
    for expression in ("(", "and or"):  # as a user types it: its own process
        through_pytest = ([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "test_checks.py", "--astrbot-base-url", pytester.target_url, *ADMIN,
                           "--astrbot-report-dir", report],
                          4, "Wrong expression passed to '-k'")
        through_the_command = ([sys.executable, "-m", "conformance.cli", "run", "--base-url",
                                pytester.target_url, *ADMIN_CLI, "--profile", "live-api",
                                "--report-dir", report],
                               2, f"-k {expression!r} is not a pytest expression")
        for argv, status, message in (through_pytest, through_the_command):
            proc = subprocess.run([*argv, "-k", expression], cwd=pytester.path,
                                  capture_output=True, text=True, timeout=120)
            output = proc.stdout[-2000:] + proc.stderr[-2000:]
            assert proc.returncode == status, output
            assert message in proc.stdout + proc.stderr, output
            assert run_keys(pytester.target_url) == before, (expression, output)


def test_profile_selection_deselects_other_checks(pytester):
    doc = run_plugin(pytester, CHECK.format(verdict="True"), "--astrbot-profile", "openapi-v1")
    assert {r["profile"] for r in doc["requirements"]} == {"openapi-v1"}
    assert doc["run"]["profiles"] == ["openapi-v1"]


def test_the_exit_status_is_the_clis(pytester):
    """0 conformant, 1 a FAIL, 4 only ERROR, 2 an unknown profile (nothing judged, no report):
    the plugin route ends as `astrbot-conformance run` does."""
    for body, code in ((CHECK.format(verdict="True"), 0), (CHECK.format(verdict="1 == 2"), 1),
                       (CHECK.format(verdict="1 / 0"), 4)):
        pytester.makepyfile(test_checks=body)
        result = pytester.runpytest("-p", "no:cacheprovider", "--astrbot-base-url",
                                    pytester.target_url, *ADMIN, "--astrbot-report-dir",
                                    str(pytester.path / "report"))
        assert result.ret == code, (body, result.outlines[-3:])
    result = pytester.runpytest("--astrbot-base-url", pytester.target_url, *ADMIN,
                                "--astrbot-profile", "nope", "--astrbot-report-dir",
                                str(pytester.path / "none"))
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*unknown profile(s) nope*"])
    assert not (pytester.path / "none").exists()


FUZZ_CHECK = '''
import json
import subprocess
import sys
import urllib.request
import urllib.request

import pytest


def keys_on(settings, jwt):
    request = urllib.request.Request(settings.http_url("/api/v1/api-keys"),
                                     headers={"Authorization": f"Bearer {jwt}"})
    with urllib.request.urlopen(request, timeout=settings.timeout) as answer:
        return json.loads(answer.read())["data"]


@pytest.mark.requirement("LIVE-TURN-001")
def test_two_targets(target, creds, fuzz_target, fuzz_creds):
    assert fuzz_target.base_url == FUZZ_URL != target.base_url
    assert fuzz_creds.keys["all"] != creds.keys["all"]
    names = json.dumps(keys_on(fuzz_target, fuzz_creds.jwt))
    assert "conformance-all" in names  # the bootstrap made the fuzz target's own keys
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_fuzz_target_is_bootstrapped_handed_to_the_checks_and_cleaned_up(pytester, workers,
                                                                          monkeypatch):
    """--astrbot-fuzz-base-url: a second target, bootstrapped once (by the controller with
    workers), its credentials in the fuzz_target/fuzz_creds fixtures; its keys are deleted at
    the end as the target's are."""
    # a pytest of its own (xdist's workers): the suite beside this test, not an installed one
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    with launcher.simulator(env={"ASTRBOT_SIM_ADMIN_USERNAME": "admin",
                                 "ASTRBOT_SIM_ADMIN_PASSWORD": "Plugin-passw0rd"}) as fuzz:
        pytester.makepyfile(test_checks=FUZZ_CHECK.replace("FUZZ_URL", repr(fuzz.url)))
        # the target is shared with this module's other checks (a usage error leaves its keys)
        before = {url: run_keys(url) for url in (pytester.target_url, fuzz.url)}
        report_dir = pytester.path / "report"
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--astrbot-base-url", pytester.target_url, *ADMIN,
            "--astrbot-fuzz-base-url", fuzz.url, "--astrbot-report-dir", str(report_dir),
            *workers, timeout=120)
        doc = json.loads((report_dir / "results.json").read_text())
        assert verdict_of(doc, "LIVE-TURN-001") == "PASS", result.outlines[-20:]
        assert doc["run"]["fuzz_isolated"] is True
        assert doc["run"]["target"]["base_url"] == pytester.target_url
        # no key of the run left on either (the check saw the fuzz target's own keys made)
        assert {url: run_keys(url) for url in before} == before
        assert before[fuzz.url] == set()


def run_keys(url: str) -> set[str]:
    """The ids of the keys named conformance-* on the simulator at `url`."""
    login = urllib.request.Request(
        url + "/api/v1/auth/login", method="POST",
        data=json.dumps({"username": "admin", "password": "Plugin-passw0rd"}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(login, timeout=10) as answer:
        jwt = json.loads(answer.read())["data"]["token"]
    listing = urllib.request.Request(url + "/api/v1/api-keys",
                                     headers={"Authorization": f"Bearer {jwt}"})
    with urllib.request.urlopen(listing, timeout=10) as answer:
        keys = json.loads(answer.read())["data"]
    return {str(k.get("key_id")) for k in keys if str(k.get("name", "")).startswith("conformance-")}
