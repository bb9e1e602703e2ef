"""The scope matrix probes real deployments: it must never send a credential that should be
let through to an operation that writes (it once wiped a real AstrBot's config that way)."""

from __future__ import annotations

from conformance.scenarios.http.test_scope_matrix import (
    ACCEPTED,
    DEVELOPER_SCOPES,
    credentials_for,
    lacking_scope,
    spec_operations,
)

KEYS = {"all": "abk_all", **{s: f"abk_{s}" for s in DEVELOPER_SCOPES}}


def test_every_operation_of_the_spec_is_probed():
    ops = spec_operations()
    assert len(ops) >= 290 and len({o.operation_id for o in ops}) == len(ops)


def test_writes_only_get_credentials_that_must_be_refused():
    for op in spec_operations():
        names = set(credentials_for(op, KEYS, "jwt-token"))
        if op.method != "GET":
            assert not names & set(ACCEPTED), op
        if not op.jwt_only:
            assert "all-scope key" not in names, op


def test_the_lacking_key_really_lacks_the_scope():
    for scope in DEVELOPER_SCOPES:
        other = lacking_scope(scope)
        assert other != scope and not (other == "config" and scope in ("bot", "provider"))
