"""The real-AstrBot runner (tools/real_astrbot/): how it finds Python 3.12, relaxes a pin pip
cannot satisfy, picks ports, renders the compatibility matrix and stops what it started.
No AstrBot is installed or started here: the interpreters and pyenv are tiny scripts, the
process stopped is a sleeping Python."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools" / "real_astrbot"
sys.path.insert(0, str(TOOLS))

import matrix  # noqa: E402
import procs  # noqa: E402
import session  # noqa: E402
import up  # noqa: E402
import venvs  # noqa: E402

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


# -- Python 3.12 -----------------------------------------------------------------------------
def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def fake_python(path: Path, version: str = "3 12") -> Path:
    """An 'interpreter' that answers the version probe (prints major and minor)."""
    return script(path, f'echo "{version}"\n')


def fake_pyenv(bindir: Path, root: Path, versions: list[str], prefix_ok: bool) -> None:
    for v in versions:
        fake_python(root / "versions" / v / "bin" / "python", " ".join(v.split(".")[:2]))
    prefix = (f'[ "$1" = prefix ] && {{ echo "{root}/versions/3.12.1"; exit 0; }}\n'
              if prefix_ok else '[ "$1" = prefix ] && exit 1\n')
    listed = "\\n".join(versions)
    script(bindir / "pyenv", prefix + f'[ "$1" = root ] && {{ echo "{root}"; exit 0; }}\n'
           f'[ "$1" = versions ] && {{ printf "{listed}\\n"; exit 0; }}\nexit 1\n')


def test_explicit_python_comes_first(tmp_path):
    bindir = tmp_path / "bin"
    fake_pyenv(bindir, tmp_path / "pyenv", ["3.12.1"], prefix_ok=True)
    fake_python(bindir / "python3.12")
    mine = fake_python(tmp_path / "mine" / "python")
    assert venvs.find_python312(str(mine), path=str(bindir)) == str(mine)


def test_explicit_python_too_old_is_refused(tmp_path):
    old = fake_python(tmp_path / "old" / "python", "3 11")
    with pytest.raises(venvs.NoPython, match="not a runnable Python >= 3.12"):
        venvs.find_python312(str(old), path=str(tmp_path))


def test_pyenv_prefix_before_python312_on_path(tmp_path):
    bindir, root = tmp_path / "bin", tmp_path / "pyenv"
    fake_pyenv(bindir, root, ["3.11.7", "3.12.1"], prefix_ok=True)
    fake_python(bindir / "python3.12")
    assert venvs.find_python312(path=str(bindir)) == str(root / "versions/3.12.1/bin/python")


def test_pyenv_newest_312_when_prefix_fails(tmp_path):
    bindir, root = tmp_path / "bin", tmp_path / "pyenv"
    # numeric, not lexical: 3.12.10 is newer than 3.12.9; 3.13 is not a 3.12
    fake_pyenv(bindir, root, ["3.11.7", "3.12.9", "3.12.10", "3.13.0"], prefix_ok=False)
    assert venvs.find_python312(path=str(bindir)) == str(root / "versions/3.12.10/bin/python")


def test_python312_on_path_without_pyenv(tmp_path):
    bindir = tmp_path / "bin"
    py = fake_python(bindir / "python3.12")
    assert venvs.find_python312(path=str(bindir)) == str(py)


def test_no_python_is_one_clear_message(tmp_path):
    bindir = tmp_path / "bin"
    fake_python(bindir / "python3.12", "3 11")  # a python3.12 that is not one
    with pytest.raises(venvs.NoPython) as err:
        venvs.find_python312(path=str(bindir))
    assert "\n" not in str(err.value) and "--python" in str(err.value)


# -- the relaxed pin -------------------------------------------------------------------------
# pip 24's words when astrbot 4.29.3 was installed from an index stopping at certifi 2026.10.18
PIP_STDERR = """\
ERROR: Ignored the following yanked versions: 2022.5.18
ERROR: Could not find a version that satisfies the requirement certifi>=2026.10.19 (from \
astrbot) (from versions: 2024.8.30, 2025.1.31, 2026.10.18)
ERROR: No matching distribution found for certifi>=2026.10.19
"""


def test_unsatisfiable_requirement_from_pips_error():
    assert venvs.unsatisfiable(PIP_STDERR) == {"certifi": "certifi>=2026.10.19"}
    assert venvs.unsatisfiable("ERROR: Could not install packages due to an OSError") == {}


def test_relax_only_the_named_lower_bound_and_drop_extras():
    names = {"certifi"}
    assert venvs.relax("certifi>=2026.10.19", names) == "certifi"
    assert venvs.relax("Certifi<2027,>=2026.10.19", names) == "Certifi<2027"
    assert (venvs.relax('certifi>=2026.10.19; python_version >= "3.10"', names)
            == 'certifi; python_version >= "3.10"')
    assert venvs.relax("aiohttp>=3.11.18", names) == "aiohttp>=3.11.18"  # not named: kept
    assert venvs.relax('pytest>=8; extra == "dev"', names) is None
    with pytest.raises(venvs.Failure, match="no lower bound"):
        venvs.relax("certifi==2026.10.19", names)


# -- ports -----------------------------------------------------------------------------------
def test_free_port_is_bindable_on_loopback():
    import socket

    port = up.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # raises if it were taken
    assert not up.port_in_use(port)


# -- the matrix ------------------------------------------------------------------------------
def results(version: str, date: str, verdicts: dict[str, str]) -> dict:
    levels = {"A-001": "MUST", "A-002": "SHOULD", "B-001": "MUST"}
    return {"run": {"started_at": f"{date}T10:00:00+00:00", "target": {"version": version}},
            "requirements": [{"id": rid, "level": levels.get(rid, "MAY"), "profile": "live-api",
                              "text": f"text of {rid} <&>", "verdict": v,
                              "reason": f"why {rid} is {v}"}
                             for rid, v in verdicts.items()]}


RUNS = [results("4.26.2", "2026-12-01", {"A-001": "PASS", "A-002": "FAIL", "B-001": "PASS"}),
        results("4.29.3", "2026-12-02", {"A-001": "PASS", "A-002": "PASS", "B-001": "PASS",
                                          "C-001": "UNIMPLEMENTED"})]


def test_matrix_rows_mark_changed_verdicts():
    rows = {r["id"]: r for r in matrix.rows(RUNS)}
    assert [c["changed"] for c in rows["A-001"]["cells"]] == [False, False]
    assert [c["changed"] for c in rows["A-002"]["cells"]] == [False, True]
    assert rows["A-002"]["cells"][1]["was"] == "FAIL"
    assert [c["verdict"] for c in rows["C-001"]["cells"]] == [None, "UNIMPLEMENTED"]
    assert rows["C-001"]["cells"][1]["changed"]  # new in 4.29.3
    assert matrix.totals(RUNS[0]) == {"PASS": 2, "FAIL": 1, "NON-STRICT": 0,
                                      "UNIMPLEMENTED": 0, "SKIPPED": 0, "ERROR": 0}


def test_matrix_markdown():
    md = matrix.render_markdown(RUNS)
    assert "| 4.26.2 | 2026-12-01 | PASS 2 FAIL 1 |" in md
    assert "| 4.29.3 | 2026-12-02 | PASS 3 UNIMPL 1 |" in md
    assert "| A-002 | SHOULD | live-api | FAIL | **PASS** (was FAIL) |" in md
    assert "| A-001 | MUST | live-api | PASS | PASS |" in md
    assert "(2 such cells)" in md
    assert "| A-002 | SHOULD | 4.29.3 | FAIL → PASS | why A-002 is PASS |" in md
    assert "| C-001 | MAY | 4.29.3 | — → UNIMPLEMENTED |" in md
    assert "| A-001 | MUST | 4.29.3 |" not in md  # unchanged: not listed


def test_matrix_html_is_well_formed_and_highlights():
    page = matrix.render_html(RUNS)
    assert page.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(page.split("\n", 1)[1])  # raises on a tag left open or bad escaping
    cells = {}
    for tr in root.iter("tr"):
        tds = tr.findall("td")
        if tds:
            cells[tds[0].text] = tds[3:]
    assert cells["A-002"][1].get("class") == "v PASS changed"
    assert cells["A-002"][1].get("title") == "was FAIL"
    assert "changed" not in cells["A-001"][1].get("class")
    headers = ["".join(th.itertext()) for th in root.iter("th")]
    assert headers[3] == "4.26.22026-12-01PASS 2 FAIL 1"
    assert "<script" not in page and "http" not in page


# -- stopping what the session started -------------------------------------------------------
def test_everything_stopped_after_an_exception(tmp_path):
    started = procs.Processes(tmp_path / "run", say=lambda m: None)
    with pytest.raises(RuntimeError), session.stopping(started):
        child = started.start("sleeper", SLEEPER, tmp_path)
        meta = json.loads((tmp_path / "run" / "sleeper.json").read_text())
        assert procs.alive(child.pid, meta)
        raise RuntimeError("a step failed")
    assert child.poll() is not None
    assert not procs.alive(child.pid, meta)
    assert not (tmp_path / "run" / "sleeper.pid").exists()


RUNNER = """
import sys, time
sys.path.insert(0, {tools!r})
import procs, session
session.handle_signals()
started = procs.Processes(procs.Path({run!r}), say=lambda m: None)
try:
    with session.stopping(started):
        child = started.start("sleeper", {sleeper!r}, procs.Path({run!r}))
        print(child.pid, flush=True)
        time.sleep(60)
except session.Stopped:
    sys.exit(143)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_everything_stopped_after_sigterm_or_ctrl_c(tmp_path, sig, status):
    run = tmp_path / "run"
    code = RUNNER.format(tools=str(TOOLS), run=str(run), sleeper=SLEEPER)
    # Ctrl-C as in a terminal, even when these tests run in the background (SIGINT ignored)
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        pid = int(runner.stdout.readline())
        meta = json.loads((run / "sleeper.json").read_text())
        assert procs.alive(pid, meta)
        runner.send_signal(sig)
        assert runner.wait(60) == status
    finally:
        if runner.poll() is None:
            runner.kill()
    assert not procs.alive(pid, meta)
    assert not (run / "sleeper.pid").exists()


def test_down_stops_only_the_recorded_process(tmp_path):
    started = procs.Processes(tmp_path / "run", say=lambda m: None)
    child = started.start("astrbot", SLEEPER, tmp_path)
    other = subprocess.Popen(SLEEPER)  # not recorded: must survive
    try:
        # a record whose start time does not match is another program: left alone
        meta = json.loads((tmp_path / "run" / "astrbot.json").read_text())
        (tmp_path / "run" / "providers.json").write_text(json.dumps({**meta, "starttime": "1"}))
        (tmp_path / "run" / "providers.pid").write_text(f"{other.pid}\n")
        import down

        assert down.stop_root(tmp_path, say=lambda m: None)
        child.wait(30)
        assert other.poll() is None
    finally:
        for p in (child, other):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert os.listdir(tmp_path / "run") == []


# -- a release's outcome ---------------------------------------------------------------------
@pytest.mark.parametrize("code,gated,ok,gate", [
    (0, True, True, "ok"), (1, True, False, "failed"),
    (1, False, True, "ungated"), (0, False, True, "ungated"),
    (3, False, False, "ungated"), (4, True, False, "failed"),
])
def test_outcome_from_the_suites_exit_status(tmp_path, code, gated, ok, gate):
    results = tmp_path / "results.json"
    summary = {"PASS": 44, "FAIL": 19,
               "baseline": {"new": [{"id": "JWT-UNI-004", "verdict": "FAIL"}], "stale": []}}
    results.write_text(json.dumps({"summary": summary}))
    out = session.Outcome("4.26.2")
    session.judge(out, code, gated, results)
    assert (out.ok, out.gate, out.counts["FAIL"]) == (ok, gate, 19)
    if code == 1 and gated:
        assert out.problem == "the baseline gate failed (new: JWT-UNI-004; stale: none)"
    assert "PASS 44, FAIL 19; gate " + gate in out.line()


def test_no_results_is_a_failure_even_ungated(tmp_path):
    out = session.Outcome("4.29.3")
    session.judge(out, 1, False, tmp_path / "missing.json")
    assert not out.ok and "no results" in out.problem


def test_a_bad_release_number_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        session.main(["4.x"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'4.x' is not a release number" in err
