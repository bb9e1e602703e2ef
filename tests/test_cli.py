"""`astrbot-conformance` as documented in its --help and the README: usage errors are one line
and exit status 2 before anything is sent, ASTRBOT_CONFORMANCE_* variables are honoured,
--version prints the version, and every exit status means what the documents say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import __version__, cli
from conformance.launcher import free_port
from conformance.outcomes import (
    ERROR,
    EXIT_CONFORMANT,
    EXIT_NOT_CONFORMANT,
    EXIT_NOT_JUDGED,
    EXIT_PREFLIGHT,
    EXIT_USAGE,
    FAIL,
    NON_STRICT,
    PASS,
    SKIPPED,
    UNIMPLEMENTED,
    exit_status,
    headline,
)

ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD = 120  # never a timing assertion: a run still going by then is hung
DOCUMENTED = {EXIT_CONFORMANT: "conformant", EXIT_NOT_CONFORMANT: "not conformant",
              EXIT_USAGE: "usage error", EXIT_PREFLIGHT: "preflight failed",
              EXIT_NOT_JUDGED: "not judged"}


def cli_run(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ASTRBOT_CONFORMANCE_")}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=HANG_GUARD,
                          env={**base, **(env or {})})


def test_version_is_printed_as_documented(tmp_path):
    proc = cli_run(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"astrbot-conformance {__version__}"
    assert "--version" in cli_run(tmp_path, "--help").stdout


def test_exit_statuses_are_the_documented_ones(tmp_path):
    """The same five statuses, with the same meaning, in --help, the README and the code."""
    help_text = cli_run(tmp_path, "run", "--help").stdout
    readme = (ROOT / "README.md").read_text()
    for code, meaning in DOCUMENTED.items():
        assert re.search(rf"^\s+{code}\s+{meaning}\b", help_text, re.M), (code, meaning)
        assert re.search(rf"`{code}` {meaning}\b", readme), (code, meaning)


USAGE_ERRORS = {
    "a URL without a scheme": (["--base-url", "127.0.0.1:6185"], "http://host:port"),
    "a URL with a bad port": (["--base-url", "http://127.0.0.1:notaport"], "bad port"),
    "no target at all": ([], "no target"),
    "a missing config file": (["--config", "missing.toml"], "config file not found"),
    "an unknown profile": (["--base-url", "http://127.0.0.1:1", "--profile", "nope"],
                           "unknown profile nope"),
    "a timeout that is not a number": (["--base-url", "http://127.0.0.1:1", "--timeout", "abc"],
                                       "positive number"),
    "a zero timeout": (["--base-url", "http://127.0.0.1:1", "--timeout", "0"],
                       "positive number"),
    "a negative timeout on the simulator": (["--simulator", "--timeout", "-1"],
                                            "positive number"),
    "a username without a password": (["--base-url", "http://127.0.0.1:1", "--username", "u"],
                                      "--username and --password together"),
    "a missing baseline": (["--base-url", "http://127.0.0.1:1", "--baseline", "nope.yaml"],
                           "baseline file not found"),
    "an unknown option": (["--bogus"], "unrecognized arguments: --bogus"),
    "a bad depth": (["--base-url", "http://127.0.0.1:1", "--depth", "deep"], "invalid choice"),
    "a report dir that is a file": (["--base-url", "http://127.0.0.1:1", "--report-dir",
                                     "afile"], "is not a directory"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, case):
    args, needle = USAGE_ERRORS[case]
    (tmp_path / "afile").write_text("not a directory")
    proc = cli_run(tmp_path, "run", "--report-dir", "report", *args)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "report").exists(), "a usage error writes no report"


@pytest.mark.parametrize("content, needle", [
    ('[target]\nbase_url = "http://127.0.0.1:1"\nbaseurl = "typo"\n', "unknown setting(s) baseurl"),
    ('[target\nbase_url = 1\n', "cannot read config file"),
])
def test_a_broken_config_file_is_a_usage_error(tmp_path, content, needle):
    (tmp_path / "target.toml").write_text(content)
    proc = cli_run(tmp_path, "run", "--config", "target.toml")
    assert proc.returncode == EXIT_USAGE and needle in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_the_baseline_command_with_a_missing_file(tmp_path):
    proc = cli_run(tmp_path, "baseline", "nope.json")
    assert proc.returncode == EXIT_USAGE and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_environment_variables_are_honoured(tmp_path):
    """ASTRBOT_CONFORMANCE_BASE_URL / _TIMEOUT / _CONFIG reach the run; the command line
    beats them. Nothing listens on the URLs: preflight names the one the run used."""
    env_url, cli_url = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    proc = cli_run(tmp_path, "run", "-q", "--report-dir", "r1",
                   env={"ASTRBOT_CONFORMANCE_BASE_URL": env_url,
                        "ASTRBOT_CONFORMANCE_TIMEOUT": "2"})
    assert proc.returncode == EXIT_PREFLIGHT and f"cannot reach {env_url}" in proc.stdout, \
        proc.stdout + proc.stderr
    proc = cli_run(tmp_path, "run", "-q", "--report-dir", "r2", "--base-url", cli_url,
                   env={"ASTRBOT_CONFORMANCE_BASE_URL": env_url})
    assert proc.returncode == EXIT_PREFLIGHT and f"cannot reach {cli_url}" in proc.stdout
    proc = cli_run(tmp_path, "run", "--base-url", cli_url,
                   env={"ASTRBOT_CONFORMANCE_TIMEOUT": "soon"})
    assert proc.returncode == EXIT_USAGE and "'soon'" in proc.stderr
    (tmp_path / "t.toml").write_text(f'[target]\nbase_url = "{env_url}"\ntimeout = 2\n')
    proc = cli_run(tmp_path, "run", "-q", "--report-dir", "r3",
                   env={"ASTRBOT_CONFORMANCE_CONFIG": str(tmp_path / "t.toml")})
    assert proc.returncode == EXIT_PREFLIGHT and f"cannot reach {env_url}" in proc.stdout
    proc = cli_run(tmp_path, "run", env={"ASTRBOT_CONFORMANCE_CONFIG": "gone.toml"})
    assert proc.returncode == EXIT_USAGE and "config file not found: gone.toml" in proc.stderr


def summary(**counts) -> dict:
    base = {v: 0 for v in (PASS, FAIL, NON_STRICT, UNIMPLEMENTED, SKIPPED, ERROR)}
    base.update(counts)
    base["total"] = sum(base.values())
    return base


@pytest.mark.parametrize("counts, code, first_words", [
    ({PASS: 5, NON_STRICT: 1, SKIPPED: 2}, EXIT_CONFORMANT, "conformant:"),
    ({PASS: 5, FAIL: 1}, EXIT_NOT_CONFORMANT, "NOT conformant: 5 PASS, 1 FAIL"),
    ({PASS: 5, UNIMPLEMENTED: 2, ERROR: 1}, EXIT_NOT_CONFORMANT, "NOT conformant:"),
    ({ERROR: 99}, EXIT_NOT_JUDGED, "not judged: 99 ERROR"),
    ({PASS: 40, ERROR: 3}, EXIT_NOT_JUDGED, "not judged: 3 ERROR"),
    ({SKIPPED: 10}, EXIT_NOT_JUDGED, "not judged: no requirement was judged"),
])
def test_the_headline_says_what_the_exit_status_says(counts, code, first_words):
    s = summary(**counts)
    assert exit_status(s) == code
    assert headline(s).startswith(first_words), headline(s)
    if code != EXIT_NOT_CONFORMANT:
        assert "NOT conformant" not in headline(s)


def test_preflight_and_baseline_headlines():
    failed = {**summary(**{ERROR: 99}), "preflight": "cannot reach http://x: refused"}
    assert exit_status(failed) == EXIT_PREFLIGHT
    assert headline(failed) == "not judged, preflight failed: cannot reach http://x: refused"
    for passed, code, end in ((True, EXIT_CONFORMANT, "the baseline matches"),
                              (False, EXIT_NOT_CONFORMANT, "the baseline does NOT match")):
        gated = {**summary(**{PASS: 3, FAIL: 2}), "baseline": {"passed": passed}}
        assert exit_status(gated) == code
        assert headline(gated).startswith("NOT conformant: 3 PASS, 2 FAIL")
        assert headline(gated).endswith(end)


def test_the_cli_docstring_is_the_help():
    """What --help prints is the module docstring the code is documented by."""
    assert cli.build_parser().description == cli.__doc__


def test_the_simulator_run_sets_itself_up_and_ignores_foreign_settings(tmp_path):
    """`run --simulator` sets up the simulator it started, silently (no credentials file), and
    takes no target setting from the environment (a key there belongs to another server)."""
    proc = cli_run(tmp_path, "run", "--simulator", "-q", "--report-dir", "report", "--profile",
                   "openapi-v1", "-k", "test_setup_status_is_public",
                   env={"ASTRBOT_CONFORMANCE_API_KEY": "abk_of_another_server_0123456789",
                        "ASTRBOT_CONFORMANCE_BASE_URL": "http://127.0.0.1:1"})
    assert proc.returncode == EXIT_CONFORMANT, proc.stdout + proc.stderr
    assert "first-run setup" not in proc.stdout and not list(tmp_path.glob("*admin*"))


def test_a_malformed_keyword_expression_is_one_line_before_anything_starts(tmp_path):
    """A bad `-k` is refused before a simulator starts or a check is counted: one line, the
    usage exit status, no report."""
    proc = cli_run(tmp_path, "run", "--simulator", "--report-dir", "report", "-k", "and or (")
    assert proc.returncode == EXIT_USAGE, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "astrbot-conformance run: -k 'and or (' is not a pytest expression: expected not OR "
        "left parenthesis OR identifier; got and (at column 1)"], proc.stderr
    assert proc.stdout == "" and not (tmp_path / "report").exists()


def test_an_invalid_baseline_is_a_usage_error(tmp_path):
    (tmp_path / "b.yaml").write_text("known:\n  NOPE-XXX-001: {verdict: FAIL}\n")
    proc = cli_run(tmp_path, "run", "-q", "--report-dir", "report", "--base-url",
                   f"http://127.0.0.1:{free_port()}", "--baseline", "b.yaml")
    assert proc.returncode == EXIT_USAGE, proc.stdout + proc.stderr
    assert "NOPE-XXX-001: not a requirement of the catalogue" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "report" / "results.json").exists()
