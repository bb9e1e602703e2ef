"""The pytest plugin run the way users run it, on throw-away check modules (pytester)."""

from __future__ import annotations

import json

pytest_plugins = ["pytester"]

CHECK = '''
import pytest

@pytest.mark.requirement("LIVE-TURN-001")
def test_turn(target):
    assert {verdict}
'''


def run_plugin(pytester, body: str, *extra: str) -> dict:
    pytester.makepyfile(test_checks=body)
    report_dir = pytester.path / "report"
    pytester.runpytest("-p", "no:cacheprovider", "--astrbot-base-url", "http://127.0.0.1:9",
                       "--astrbot-report-dir", str(report_dir), *extra)
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
    result = pytester.runpytest("--astrbot-base-url", "http://127.0.0.1:9",
                                "--astrbot-report-dir", str(pytester.path / "r"))
    assert result.ret == 4  # pytest's usage error
    result.stderr.fnmatch_lines(["*unknown requirement*NOPE-XXX-001*"])


def test_profile_selection_deselects_other_checks(pytester):
    doc = run_plugin(pytester, CHECK.format(verdict="True"), "--astrbot-profile", "openapi-v1")
    assert {r["profile"] for r in doc["requirements"]} == {"openapi-v1"}
    assert doc["run"]["profiles"] == ["openapi-v1"]
