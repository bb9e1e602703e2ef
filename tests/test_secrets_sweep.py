"""The end-of-run secrets sweep (conformance/secrets_sweep.py, SEC-SECRET-001) over the
credentials of every target the run bootstrapped: with an isolated fuzz target
(`run --simulator --workers N`), a key of the second simulator is as much the run's secret as
one of the first."""

from __future__ import annotations

from conformance.bootstrap import Credentials
from conformance.catalogue import load
from conformance.clients.transcript import Transcript
from conformance.report import RequirementResult
from conformance.secrets_sweep import REQUIREMENT, sweep
from conformance.target import TargetSettings


def creds(port: int, key: str) -> Credentials:
    settings = TargetSettings.resolve({"base_url": f"http://127.0.0.1:{port}"}, env={})
    return Credentials(settings, jwt="jwt", keys={"all": key}, login=("conformance", "pw"))


def verdict(*bootstrapped: Credentials) -> str:
    log = Transcript("an answer that leaks", kind="http")
    log.add(">>", {"method": "GET", "url": "http://127.0.0.1:2/api/v1/api-keys"})
    log.add("<<", {"status": 200, "body": '{"data": {"api_key": "abk_fuzz-target-key-0002"}}'})
    results = {REQUIREMENT: RequirementResult(load().requirements[REQUIREMENT])}
    sweep(results, [log], *bootstrapped)
    (check,) = results[REQUIREMENT].checks
    return check.verdict


def test_a_key_of_the_fuzz_target_is_swept_for_too():
    first, second = creds(1, "abk_first-target-key-0001"), creds(2, "abk_fuzz-target-key-0002")
    assert verdict(first, second) == "FAIL"
    assert verdict(first) == "PASS"  # swept for the first target's keys only, it passes
