"""specs/contract-notes.yaml: every note's source resolves, and each rule covers the requests it
names and no others (so a note never excuses a refusal it does not state)."""

from __future__ import annotations

from conformance import notes
from conformance.catalogue import _check_source, _seed_texts
from conformance.contract import specs_dir


def test_every_note_has_a_source_that_resolves():
    sources = specs_dir() / "sources"
    seeds = _seed_texts(sources)
    behaviors = (sources / "astrbot-4.26.2-behavior.md").read_text(encoding="utf-8")
    all_notes = [*notes.refusals(), *notes.conflicts()]
    assert all_notes and len({n.id for n in all_notes}) == len(all_notes)
    for note in all_notes:
        assert note.text and note.source, note.id
        for src in note.source:
            assert not _check_source(note.id, src, seeds, behaviors), (note.id, src)


def R(query=None, body=None, path=None):  # noqa: N802 (a short constructor for the table)
    return notes.Request(query or {}, path or {}, body)


def test_each_rule_covers_what_it_says_and_nothing_else():
    im = "POST /api/v1/im/messages"
    assert notes.excusing("GET /api/v1/file", R({"attachment_id": ""})).id == "NOTE-EMPTY-KEY"
    assert notes.excusing("GET /api/v1/file", R({"attachment_id": "a1"})) is None
    assert notes.excusing(im, R(body={"umo": "nope", "message": "hi"})).id == "NOTE-UMO"
    assert notes.excusing("PUT /api/v1/config-routes",
                          R(body={"routing": {"bad": "x"}})).id == "NOTE-UMO"
    good = {"umo": "webchat:FriendMessage:s1", "message": "hi"}
    assert notes.excusing(im, R(body=good)) is None
    reply = {**good, "message": [{"type": "reply", "message_id": "m"}]}
    assert notes.excusing(im, R(body=reply)).id == "NOTE-IM-CONTENT"
    assert notes.excusing("POST /api/v1/chat", R(body=reply)) is None  # IM only
    upload = "POST /api/v1/skills"
    assert notes.excusing(upload, R(body={"file": b"\x89PNG"})).id == "NOTE-ZIP"
    assert notes.excusing(upload, R(body={"file": b"PK\x03\x04"})) is None
    assert notes.excusing("POST /api/v1/file", R(body={"file": b"\x89PNG"})) is None


def test_an_api_key_with_no_scope_may_be_refused_only_there():
    keys = "POST /api/v1/api-keys"
    assert notes.excusing(keys, R(body={"name": "k", "scopes": []})).id == "NOTE-KEY-SCOPES"
    assert notes.excusing(keys, R(body={"name": "k", "scopes": ["bot"]})) is None
    assert notes.excusing(keys, R(body={"name": "k"})) is None
    assert notes.excusing("POST /api/v1/personas", R(body={"scopes": []})) is None


def test_the_page_size_conflict_allows_refusing_only_what_seed_002_forbids():
    label = "GET /api/v1/chat/sessions"
    assert notes.excusing(label, R({"page_size": 150})).id == "NOTE-PAGE-SIZE"
    assert notes.excusing(label, R({"page_size": 100})) is None
    assert notes.excusing("GET /api/v1/conversations", R({"page_size": 150})) is None
    assert notes.conflict(label, "page_size").id == "NOTE-PAGE-SIZE"


def test_url_and_path_segment_rules():
    install = "POST /api/v1/plugins/install/url"
    assert notes.excusing(install, R(body={"url": "ftp://x/y.zip"})).id == "NOTE-URL"
    assert notes.excusing(install, R(body={"url": "https://x.example/y.zip"})) is None
    github = "POST /api/v1/plugins/install/github"
    assert notes.excusing(github, R(body={"repository": "owner/repo"})) is None
    assert notes.excusing(github, R(body={"repository": "no slug"})).id == "NOTE-URL"
    skill = "DELETE /api/v1/skills/by-name"
    assert notes.excusing(skill, R({"skill_name": "a/b"})).id == "NOTE-PATH-SEGMENT"
    assert notes.excusing(skill, R({"skill_name": "..%2Fx"})).id == "NOTE-PATH-SEGMENT"
    assert notes.excusing(skill, R({"skill_name": "greeter"})) is None
    keys = "POST /api/v1/api-keys"
    past = {"name": "k", "expires_at": "2026-01-01T00:00:00Z"}
    assert notes.excusing(keys, R(body=past)).id == "NOTE-KEY-LIFETIME"
    assert notes.excusing(keys, R(body={**past, "expires_at": "2999-01-01T00:00:00Z"})) is None
    assert notes.excusing("POST /api/v1/chat", R(body=past)) is None
