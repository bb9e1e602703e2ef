"""Deliberately broken targets for the boundary cases and the undocumented-answer check
(tests/broken_targets.py SPEC_FAULTS): the suite run as a user runs it names the one planted
fault, on its operation only, with the right verdict and the document whose constraint it used.
Faults like real AstrBot 4.26.2's: 422 `{"detail"}` bodies (DIFF-014), page bounds clamped
instead of enforced (DIFF-018), IM extra fields accepted (DIFF-024, writes allowed)."""

from __future__ import annotations

import pytest

from .broken_targets import FUZZED, SPEC_FAULTS
from .test_suite_runs import broken_target, run_suite, verdicts

DOCUMENT = {"v1": "v1", "legacy": "legacy"}
TEST_OF = {"v1": "test_v1_document", "legacy": "test_legacy_document"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(SPEC_FAULTS))
def test_a_planted_spec_fault_is_named_on_its_operation(tmp_path, mode):
    expected = SPEC_FAULTS[mode]
    selected = " or ".join(TEST_OF[key] for key in expected)
    with broken_target(mode, tmp_path) as url:
        code, doc = run_suite(tmp_path, "--base-url", url, "--profile", "openapi-v1,open-api",
                              "--allow-writes", "--setup-admin", "-k", selected,
                              "--operations", FUZZED)  # its operation and neighbours
    # a broken MUST fails the run; a broken SHOULD alone does not (README: exit status)
    assert code == (1 if any(v == "FAIL" for _, _, v in expected.values()) else 0)
    for key, (label, rid, verdict) in expected.items():
        assert verdicts(doc)[rid] == verdict, (rid, verdicts(doc)[rid])
        judged = {f"{op['method']} {op['path']}": op["requirements"].get(rid)
                  for op in doc["operations"] if op["document"] == key}
        failing = {label for label, found in judged.items() if found == verdict}
        assert failing == {label}, (rid, failing)
        assert list(judged.values()).count("PASS") >= 2, judged  # unfaulted neighbours
        reason = next(r for r in doc["requirements"] if r["id"] == rid)["reason"]
        assert label in reason
        if mode == "page-unbounded":  # the bound and the document it came from are named
            assert ("page=0" in reason or "page_size=" in reason), reason
            assert ("seed 002" if key == "legacy" else "seed 004") in reason, reason
        if mode == "undocumented-error":
            assert "422" in reason and "detail" in reason, reason
        if mode == "im-extra-field":
            assert "conformance_extra_field" in reason, reason
