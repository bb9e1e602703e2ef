"""Secrets never echoed (seed 004 createApiKey returns the raw key once; OWASP API3:2023): the
key listing shows no raw key, and the reads most likely to carry one (configuration, runtime,
stats, logs) carry neither the run's raw keys nor its password. The whole run's answers are
swept for the same secrets at its end (conformance/secrets_sweep.py). Messages name the answer
and the kind of secret, never the secret."""

from __future__ import annotations

import re

import pytest

from conformance.clients.transcript import Transcript
from conformance.outcomes import SuiteError
from conformance.scenarios.security.common import bearer, call, ok_data, said
from conformance.secrets_sweep import run_secrets

# a whole key (seed 003 "abk_xxx"): longer than any prefix a listing may show
WHOLE_KEY = re.compile(r"abk_[A-Za-z0-9_\-]{20,}")
READS = ("/api/v1/system-config", "/api/v1/system-config/runtime", "/api/v1/stats",
         "/api/v1/logs/history", "/api/v1/api-keys", "/api/v1/chat/configs")


def carried(text: str, secrets: dict[str, str]) -> list[str]:
    return [kind for secret, kind in secrets.items() if secret in text]


@pytest.mark.requirement("SEC-SECRET-001")
def test_the_key_listing_shows_no_raw_key(target, creds, evidence):
    log = Transcript("list the API keys with the dashboard JWT")
    evidence.append(log)
    listed = call(target, log, "GET", "/api/v1/api-keys", headers=bearer(creds.require_jwt()))
    data = ok_data(listed)
    items = data if isinstance(data, list) else (data or {}).get("items") \
        if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SuiteError(f"listApiKeys answered no list: {said(listed)}")
    ids = {str(i.get("key_id")) for i in items if isinstance(i, dict)}
    if creds.key_ids and not set(creds.key_ids.values()) & ids:
        raise SuiteError("none of the run's keys is in the listing: nothing to judge")
    kinds = carried(listed.text, run_secrets(creds))
    assert not kinds, f"the key listing carries {', '.join(kinds)}"
    whole = WHOLE_KEY.findall(listed.text)
    assert not whole, f"the key listing shows {len(whole)} whole raw key(s) (`abk_` and 20+ " \
        "characters)"


@pytest.mark.requirement("SEC-SECRET-001")
@pytest.mark.parametrize("path", READS)
def test_reads_carry_no_secret_of_the_run(target, creds, evidence, path):
    log = Transcript(f"GET {path} with the dashboard JWT")
    evidence.append(log)
    result = call(target, log, "GET", path, headers=bearer(creds.require_jwt()))
    secrets = run_secrets(creds)
    if not secrets:
        raise SuiteError("the run knows no secret of its own to look for")
    kinds = carried(result.text, secrets)
    assert not kinds, f"GET {path} (HTTP {result.status}) carries {', '.join(kinds)}"
