"""Allure results of a run, written by allure-pytest (`--alluredir`; `astrbot-conformance run`
puts them in reports/<run-id>/allure-results).

Each check is labelled epic = profile, feature = area (LIVE-TURN), story = requirement id
(and, for Allure's default tree, parent suite / suite / sub-suite the same), severity from the
requirement's level (MUST critical, SHOULD normal, MAY minor) and tagged with its verdict; its
wire logs are attached as JSON. Checks the run makes over all its wire logs at the end (frame
order, frame schemas, undocumented types) have no pytest test: they are written here as results
of their own, with the same labels. After the run every file of the results
directory goes through the Redactor, so no key, JWT or password reaches the Allure report
either (allure-pytest also records exception texts and captured output).
Render them with `./noxw -s report` (Allure 3, the npm `allure` package).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest

SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}
STATUS = {"PASS": "passed", "FAIL": "failed", "NON-STRICT": "failed", "ERROR": "broken",
          "UNIMPLEMENTED": "skipped", "SKIPPED": "skipped"}
TEXT_SUFFIXES = (".json", ".txt", ".properties", ".xml", ".html", ".csv", ".log")


def enabled(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "allure_report_dir", None))


def label(item: pytest.Item, requirements) -> None:
    """Epic, feature, story and severity labels of a check, from the requirements it decides
    (markers allure-pytest reads when the check ends)."""
    for req in requirements:
        item.add_marker(pytest.mark.allure_label(req.profile, label_type="epic"))
        item.add_marker(pytest.mark.allure_label(req.id.rsplit("-", 1)[0], label_type="feature"))
        item.add_marker(pytest.mark.allure_label(req.id, label_type="story"))
    if requirements:  # the tree Allure shows first: profile > area > requirement
        first = requirements[0]
        for kind, value in (("parentSuite", first.profile),
                            ("suite", first.id.rsplit("-", 1)[0]), ("subSuite", first.id)):
            item.add_marker(pytest.mark.allure_label(value, label_type=kind))
    levels = [r.level for r in requirements]
    strictest = next((lvl for lvl in SEVERITY if lvl in levels), "SHOULD")
    item.add_marker(pytest.mark.allure_label(SEVERITY[strictest], label_type="severity"))


def record(item: pytest.Item, verdicts: list[str], evidence: list[dict], redactor) -> None:
    """The check's verdicts as tags, its wire logs as attachments."""
    import allure

    for verdict in dict.fromkeys(verdicts):
        item.add_marker(pytest.mark.allure_label(verdict, label_type="tag"))
    for n, ev in enumerate(evidence, 1):
        allure.attach(json.dumps(redactor.scrub(ev), indent=1, ensure_ascii=False),
                      name=f"wire log {n}: {redactor.scrub(str(ev.get('title', '')))[:80]}",
                      attachment_type=allure.attachment_type.JSON)


def sweeps(root: Path, requirements: list[dict]) -> int:
    """One Allure result per run-wide check (nodeid `<...>`) of the results document."""
    from allure_commons.logger import AllureFileLogger
    from allure_commons.model2 import Attachment, Label, StatusDetails, TestResult

    logger = AllureFileLogger(str(root))
    written = 0
    for req in requirements:
        for check in req["checks"]:
            if not check["nodeid"].startswith("<"):
                continue
            stop = int(time.time() * 1000)
            result = TestResult(
                uuid=str(uuid.uuid4()), name=f"{req['id']} {check['nodeid']}",
                fullName=f"conformance.{req['profile']}.{req['id']}.{check['nodeid']}",
                historyId=hashlib.md5(f"{req['id']} {check['nodeid']}".encode()).hexdigest(),
                status=STATUS.get(check["verdict"], "unknown"),
                statusDetails=StatusDetails(message=check["message"] or None),
                start=stop - int(check["duration_s"] * 1000), stop=stop,
                labels=[Label(name, value) for name, value in (
                    ("epic", req["profile"]), ("feature", req["area"]), ("story", req["id"]),
                    ("parentSuite", req["profile"]), ("suite", req["area"]),
                    ("subSuite", req["id"]), ("severity", SEVERITY[req["level"]]),
                    ("tag", check["verdict"]))])
            for n, ev in enumerate(check["evidence"], 1):
                source = f"{uuid.uuid4()}-attachment.json"
                logger.report_attached_data(json.dumps(ev, indent=1, ensure_ascii=False),
                                            source)
                result.attachments.append(Attachment(
                    name=f"wire log {n}: {ev.get('title', '')[:80]}", source=source,
                    type="application/json"))
            logger.report_result(result)
            written += 1
    return written


def finish(directory: str | Path, run: dict, redactor, requirements: list[dict] = ()) -> int:
    """Write the run's environment (target, profiles, seed) and the run-wide checks, then
    scrub every text file of the results directory; returns how many files were rewritten."""
    root = Path(directory)
    if not root.is_dir():
        return 0
    sweeps(root, list(requirements))
    target = run.get("target", {})
    env = {"target": target.get("base_url", ""), "target_name": target.get("name", ""),
           "target_version": target.get("version") or "", "profiles": ",".join(
               run.get("profiles", [])), "depth": run.get("depth", ""),
           "seed": run.get("seed", ""), "suite_version": run.get("suite_version", "")}
    (root / "environment.properties").write_text(
        "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in env.items()),
        encoding="utf-8")
    changed = 0
    for path in root.iterdir():
        if not path.is_file() or not path.name.endswith(TEXT_SUFFIXES):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        clean = redactor.scrub(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
            changed += 1
    return changed
