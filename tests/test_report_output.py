"""The suite's own output never breaks, whatever a target answered (issue 15): a results
document whose reasons, messages, evidence and target version hold every hostile kind of text
(XML-illegal control bytes, lone surrogates, U+FFFE/U+FFFF, `|`, newlines, backticks, HTML)
is built through the real report code path, then `junit.xml` must parse, every Markdown table
row (summary.md, the diff's Markdown, the matrix's) must keep its number of cells, and
report.html must parse with its embedded data intact."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from conformance import diff, report
from conformance.catalogue import Requirement
from conformance.markdown import cell
from conformance.outcomes import ERROR, FAIL, NON_STRICT, PASS, UNIMPLEMENTED
from conformance.redact import Redactor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools" / "real_astrbot"))
import matrix  # noqa: E402

CONTROL = "".join(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
HOSTILE = (f"a | b\nc\r\n`d` ``e </script><script>alert(1)</script> <b>f</b> {CONTROL}"
           " \ud800 \udfff \ufffe \uffff \\| end")
VERDICTS = {"H-OUT-001": PASS, "H-OUT-002": FAIL, "H-OUT-003": UNIMPLEMENTED,
            "H-OUT-004": ERROR, "H-OUT-005": NON_STRICT}


def requirement(rid: str) -> Requirement:
    return Requirement(rid, "MUST", "live-api", ({"seed": "001", "section": "x"},),
                       f"text of {rid} {HOSTILE}")


def hostile_doc(verdicts: dict[str, str] = VERDICTS, version: str = HOSTILE) -> dict:
    """A results document built by report.build, hostile text everywhere a target reaches."""
    results = []
    for rid, verdict in verdicts.items():
        res = report.RequirementResult(requirement(rid))
        res.checks.append(report.CheckRecord(
            f"t::{rid}", verdict, message=f"{verdict}: {HOSTILE}",
            evidence=[{"title": HOSTILE, "log": [{"at_ms": 1.0, "dir": "<<", "data": HOSTILE},
                                                 {"at_ms": 2.0, "dir": "<<",
                                                  "data": {"t": HOSTILE}}]}]))
        results.append(res)
    results.append(report.RequirementResult(requirement("H-OUT-006"), skip_reason=HOSTILE))
    return report.build(results, {"id": "r1", "target": {"name": HOSTILE, "base_url": HOSTILE,
                                                         "version": version},
                                  "profiles": ["live-api"], "started_at": HOSTILE}, Redactor())


def cells(row: str) -> list[str]:
    """A GFM table row split as GFM splits it: a `\\|` (odd backslashes) is no separator."""
    out, current = [], ""
    for token in re.findall(r"\\.|\||[^\\|]+|\\", row.strip()):
        if token == "|":
            out.append(current)
            current = ""
        else:
            current += token
    out.append(current)
    return out[1:-1]  # the row's leading and trailing pipes


def tables(md: str) -> list[list[str]]:
    """Each Markdown table of `md` as its lines (header, rule, rows)."""
    found, current = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found + ([current] if current else [])


def assert_tables_intact(md: str, expected: int) -> None:
    found = tables(md)
    assert len(found) >= expected
    for table in found:
        width = len(cells(table[0]))
        assert re.fullmatch(r"\|(-+\|)+", table[1]), table[1]
        for row in table[2:]:
            assert len(cells(row)) == width, row
            # no code span can open: every backtick is escaped or part of a closed span
            unescaped = re.sub(r"\\.", "", row)
            assert unescaped.count("`") % 2 == 0, row
            assert "<script" not in row and "<b>" not in row, row


def test_junit_xml_parses_whatever_the_target_answered(tmp_path):
    paths = report.write(hostile_doc(), tmp_path)
    raw = paths["junit"].read_bytes()
    suite = ET.fromstring(raw)  # valid XML 1.0, or this raises
    cases = list(suite.iter("testcase"))
    assert len(cases) == len(VERDICTS) + 1 == int(suite.get("tests"))
    text = raw.decode("utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["target_version"].startswith("a | b") and "\ufffd" in props["target_version"]
    failure = next(c for c in cases if c.get("name").startswith("H-OUT-002")).find("failure")
    assert "\ufffd" in failure.get("message") and "end" in failure.text  # replaced, not cut


def test_junit_xml_scrubs_every_attribute_and_text_not_only_reasons():
    doc = hostile_doc()
    doc["requirements"][1]["id"] = "H-OUT-\x07002"  # an id or profile is text too
    doc["requirements"][1]["profile"] = "live\x00api"
    suite = ET.fromstring(report.junit_xml(doc))
    assert len(list(suite.iter("testcase"))) == len(VERDICTS) + 1


def test_summary_md_tables_keep_their_cells(tmp_path):
    md = report.write(hostile_doc(), tmp_path)["markdown"].read_text(encoding="utf-8")
    assert_tables_intact(md, 2)
    assert md.count("<details><summary>") == md.count("</details>")
    rows = [r for r in md.splitlines() if r.startswith("| FAIL |")]
    assert rows and all("a \\| b c" in r for r in rows)


def test_report_html_opens_and_the_data_block_holds(tmp_path):
    page = report.write(hostile_doc(), tmp_path)["html"].read_text(encoding="utf-8")

    class Scripts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.scripts, self.inside = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.inside = dict(attrs).get("id") or "page"
                self.scripts.append([self.inside, ""])

        def handle_endtag(self, tag):
            if tag == "script":
                self.inside = None

        def handle_data(self, data):
            if self.inside:
                self.scripts[-1][1] += data

    parser = Scripts()
    parser.feed(page)
    parser.close()
    assert [name for name, _ in parser.scripts] == ["data", "page"]  # no injected script
    data = json.loads(dict(parser.scripts)["data"])
    assert len(data["requirements"]) == len(VERDICTS) + 1
    assert "</script>" not in dict(parser.scripts)["data"]


def test_the_diff_markdown_table_keeps_its_cells():
    a = hostile_doc({rid: PASS for rid in VERDICTS}, version="4.26.2")
    b = hostile_doc()
    md = diff.render_markdown(diff.compare(a, b), HOSTILE, HOSTILE)
    assert "### Requirements whose verdict changed (4)" in md
    assert_tables_intact(md, 1)
    assert "<script" not in md.split("### Requirements")[0]  # the A/B lines are cells too


def test_the_matrix_markdown_tables_keep_their_cells():
    a = hostile_doc({rid: PASS for rid in VERDICTS}, version="4.26.2")
    md = matrix.render_markdown([a, hostile_doc()])
    assert "## Changed verdicts" in md
    assert_tables_intact(md, 3)


def test_one_cell_helper():
    assert cell("a|b\n c") == "a\\|b c"
    assert cell("`x`") == "\\`x\\`"
    assert cell("<i>&") == "&lt;i&gt;&amp;"
    assert cell("\\|") == "\\\\\\|"
    assert cell("x" * 20, 5) == "xxxxx..."
    assert cell("\x07\ud800") == "\ufffd\ufffd"
