"""Knowledge bases: CRUD, documents split into deterministic chunks (upload, import from the
data directory, URL import without fetching), lexical retrieval, tasks, and a restart."""

from __future__ import annotations

import aiohttp
import pytest

from .conftest import start_sim, stop_sim

BASE = "/api/v1/knowledge-bases"
SMALL = {"chunk_size": 20, "chunk_overlap": 5}


async def auth(sim) -> dict:
    return {"Authorization": f"Bearer {await sim.admin_jwt()}"}


async def new_kb(sim, h, name="docs", **extra) -> dict:
    status, body = await sim.call("POST", BASE, headers=h, json={"name": name, **extra})
    assert status == 200, body
    return body["data"]


async def upload(sim, h, kb_id, text: str | bytes, filename="notes.txt"):
    data = aiohttp.FormData()
    data.add_field("file", text.encode() if isinstance(text, str) else text,
                   filename=filename, content_type="text/plain")
    return await sim.call("POST", f"{BASE}/{kb_id}/documents", headers=h, data=data)


async def finish(sim, h, task_id: str, reads: int) -> tuple[list[str], dict]:
    seen = []
    for _ in range(reads):
        status, body = await sim.call("GET", f"{BASE}/tasks/{task_id}", headers=h)
        assert status == 200, body
        seen.append(body["data"]["status"])
    return seen, body["data"]


async def test_kb_crud_and_pagination(sim):
    h = await auth(sim)
    kb = await new_kb(sim, h, description="first", chunking=SMALL)
    assert (kb["doc_count"], kb["chunk_count"], kb["chunking"]) == (0, 0, SMALL)
    status, dup = await sim.call("POST", BASE, headers=h, json={"name": "docs"})
    assert status == 409 and dup["status"] == "error"
    for name in ("b", "c"):
        await new_kb(sim, h, name)
    status, page = await sim.call("GET", f"{BASE}?page=2&page_size=2", headers=h)
    assert page["data"]["total"] == 3 and [k["name"] for k in page["data"]["items"]] == ["c"]

    status, updated = await sim.call("PUT", f"{BASE}/{kb['kb_id']}", headers=h, json={
        "name": "renamed", "metadata": {"team": "x"}})
    assert status == 200 and updated["data"]["name"] == "renamed"
    assert updated["data"]["chunking"] == {"chunk_size": 512, "chunk_overlap": 50}  # replaced
    status, _ = await sim.call("PUT", f"{BASE}/{kb['kb_id']}", headers=h, json={"name": "b"})
    assert status == 409
    status, got = await sim.call("GET", f"{BASE}/{kb['kb_id']}", headers=h)
    assert got["data"]["name"] == "renamed" and got["data"]["metadata"] == {"team": "x"}

    status, _ = await sim.call("DELETE", f"{BASE}/{kb['kb_id']}", headers=h)
    assert status == 200
    for method in ("GET", "DELETE"):
        status, gone = await sim.call(method, f"{BASE}/{kb['kb_id']}", headers=h)
        assert status == 404 and gone["status"] == "error"
    status, _ = await sim.call("PUT", f"{BASE}/nope", headers=h, json={"name": "z"})
    assert status == 404


@pytest.mark.parametrize("body", [
    {"name": "x", "chunking": {"chunk_size": 8}},
    {"name": "x", "chunking": {"chunk_size": 100, "chunk_overlap": 100}},
    {"name": "x", "chunking": {"chunk_size": "big"}},
    {"name": "x", "unknown": 1},
])
async def test_invalid_kb_changes_nothing(sim, body):
    h = await auth(sim)
    status, err = await sim.call("POST", BASE, headers=h, json=body)
    assert status == 400 and err["status"] == "error"
    _, listing = await sim.call("GET", BASE, headers=h)
    assert listing["data"]["total"] == 0


async def test_upload_chunks_stats_task_and_deletes(sim):
    h = await auth(sim)
    kb = await new_kb(sim, h, chunking=SMALL)
    text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"  # 46 chars
    status, made = await upload(sim, h, kb["kb_id"], text)
    assert status == 200, made
    doc = made["data"]["documents"][0]
    assert (doc["name"], doc["chars"], doc["chunk_count"]) == ("notes.txt", 46, 3)
    status, chunks = await sim.call("GET", f"{BASE}/{kb['kb_id']}/chunks", headers=h,
                                    params={"document_id": doc["document_id"]})
    assert [c["content"] for c in chunks["data"]["items"]] == [
        text[0:20], text[15:35], text[30:46]]
    seen, task = await finish(sim, h, made["data"]["task_id"], 3)
    assert seen == ["running", "completed", "completed"]
    assert task["result"] == {"kb_id": kb["kb_id"], "document_ids": [doc["document_id"]],
                              "chunk_count": 3}
    status, stats = await sim.call("GET", f"{BASE}/{kb['kb_id']}/stats", headers=h)
    assert (stats["data"]["doc_count"], stats["data"]["chunk_count"]) == (1, 3)

    second = chunks["data"]["items"][1]["chunk_id"]
    path = f"{BASE}/{kb['kb_id']}/chunks/{second}"
    status, _ = await sim.call("DELETE", path, headers=h, params={"document_id": "other"})
    assert status == 404
    status, _ = await sim.call("DELETE", path, headers=h,
                               params={"document_id": doc["document_id"]})
    assert status == 200
    status, got = await sim.call("GET", f"{BASE}/{kb['kb_id']}/documents/{doc['document_id']}",
                                 headers=h)
    assert got["data"]["chunk_count"] == 2
    status, _ = await sim.call("DELETE", f"{BASE}/{kb['kb_id']}/documents/{doc['document_id']}",
                               headers=h)
    assert status == 200
    _, chunks = await sim.call("GET", f"{BASE}/{kb['kb_id']}/chunks", headers=h)
    assert chunks["data"]["total"] == 0
    status, _ = await sim.call("GET", f"{BASE}/{kb['kb_id']}/documents/{doc['document_id']}",
                               headers=h)
    assert status == 404
    status, _ = await sim.call("GET", f"{BASE}/tasks/nope", headers=h)
    assert status == 404


@pytest.mark.parametrize("payload, filename, status", [
    (b"\xff\xfe\x00binary", "blob.bin", 400),
    (b"   \n", "empty.txt", 400),
    (b"fine", "../../evil.txt", 400),
])
async def test_bad_uploads_change_nothing(sim, payload, filename, status):
    h = await auth(sim)
    kb = await new_kb(sim, h)
    got, err = await upload(sim, h, kb["kb_id"], payload, filename=filename)
    assert got == status and err["status"] == "error"
    _, docs = await sim.call("GET", f"{BASE}/{kb['kb_id']}/documents", headers=h)
    assert docs["data"]["total"] == 0
    got, _ = await upload(sim, h, "nope", b"text")
    assert got == 404


async def test_import_paths_inside_the_data_dir(sim):
    h = await auth(sim)
    kb = await new_kb(sim, h)
    folder = sim.sim.config.data_dir / "inbox"
    folder.mkdir()
    (folder / "a.md").write_text("alpha document")
    (folder / "b.md").write_text("beta document")
    url = f"{BASE}/{kb['kb_id']}/documents/import"
    for paths, status in ((["inbox/a.md", "../outside.md"], 400), (["/etc/passwd"], 400),
                          (["inbox/a.md", "inbox/missing.md"], 404), (["inbox"], 400),
                          (["simulator.db"], 400), ([], 400)):
        got, err = await sim.call("POST", url, headers=h, json={"paths": paths})
        assert got == status and err["status"] == "error", (paths, err)
    _, docs = await sim.call("GET", f"{BASE}/{kb['kb_id']}/documents", headers=h)
    assert docs["data"]["total"] == 0  # all-or-nothing
    status, made = await sim.call("POST", url, headers=h,
                                  json={"paths": ["inbox/a.md", "inbox/b.md", "inbox/a.md"]})
    assert status == 200 and [d["path"] for d in made["data"]["documents"]] == [
        "inbox/a.md", "inbox/b.md"]
    _, found = await sim.call("GET", f"{BASE}/{kb['kb_id']}/documents?search=B.M", headers=h)
    assert [d["name"] for d in found["data"]["items"]] == ["b.md"]


async def test_url_import_is_deterministic_and_never_fetched(sim):
    h = await auth(sim)
    texts = []
    for name in ("one", "two"):
        kb = await new_kb(sim, h, name)
        status, made = await sim.call("POST", f"{BASE}/{kb['kb_id']}/documents/import-url",
                                      headers=h, json={"url": "https://example.com/guides/setup"})
        assert status == 200, made
        doc = made["data"]["documents"][0]
        assert doc["name"] == "setup" and doc["url"] == "https://example.com/guides/setup"
        seen, task = await finish(sim, h, made["data"]["task_id"], 3)
        assert seen == ["running", "running", "completed"] and task["progress"] == 100
        _, chunks = await sim.call("GET", f"{BASE}/{kb['kb_id']}/chunks", headers=h)
        texts.append([c["content"] for c in chunks["data"]["items"]])
    assert texts[0] == texts[1] and "example.com" in texts[0][0]
    for url in ("ftp://example.com/x", "not a url", "file:///etc/passwd"):
        status, _ = await sim.call("POST", f"{BASE}/{kb['kb_id']}/documents/import-url",
                                   headers=h, json={"url": url})
        assert status == 400


async def test_retrieve_ranks_by_term_overlap(sim):
    h = await auth(sim)
    kb = await new_kb(sim, h)
    for name, text in (("cats.txt", "cats purr and sleep all day"),
                       ("dogs.txt", "dogs bark and fetch sticks"),
                       ("both.txt", "cats and dogs sleep together")):
        assert (await upload(sim, h, kb["kb_id"], text, filename=name))[0] == 200
    url = f"{BASE}/{kb['kb_id']}/retrieve"
    status, found = await sim.call("POST", url, headers=h,
                                   json={"query": "Cats sleep dogs", "top_k": 2})
    results = found["data"]["results"]
    assert [(r["document_name"], r["score"]) for r in results] == [
        ("both.txt", 1.0), ("cats.txt", 0.6667)]
    assert found["data"]["total_matched"] == 3
    _, found = await sim.call("POST", url, headers=h,
                              json={"query": "cats sleep dogs", "score_threshold": 0.5})
    assert [r["document_name"] for r in found["data"]["results"]] == ["both.txt", "cats.txt"]
    _, found = await sim.call("POST", url, headers=h, json={"query": "giraffe"})
    assert found["data"]["results"] == []
    for body in ({"query": "  ?! "}, {"query": "cats", "top_k": 0}, {"query": 3}):
        status, err = await sim.call("POST", url, headers=h, json=body)
        assert status == 400 and err["status"] == "error"


async def test_kb_delete_cascades_and_state_survives_restart(sim_config):
    first = await start_sim(sim_config)
    h = await auth(first)
    keep = await new_kb(first, h, "keep", chunking=SMALL)
    drop = await new_kb(first, h, "drop")
    _, made = await upload(first, h, keep["kb_id"], "persistent knowledge about restarts")
    await upload(first, h, drop["kb_id"], "to be removed")
    await first.call("DELETE", f"{BASE}/{drop['kb_id']}", headers=h)
    store = first.sim.store
    assert store.list_resources(f"kb document:{drop['kb_id']}") == []
    assert store.list_resources(f"kb chunk:{drop['kb_id']}") == []
    await stop_sim(first)

    second = await start_sim(sim_config)
    try:
        h = await auth(second)
        _, listing = await second.call("GET", BASE, headers=h)
        assert [(k["name"], k["doc_count"], k["chunk_count"]) for k in
                listing["data"]["items"]] == [("keep", 1, 2)]
        _, found = await second.call("POST", f"{BASE}/{keep['kb_id']}/retrieve", headers=h,
                                     json={"query": "restarts"})
        assert found["data"]["results"][0]["document_id"] == \
            made["data"]["documents"][0]["document_id"]
        _, task = await finish(second, h, made["data"]["task_id"], 2)
        assert task["status"] == "completed"
    finally:
        await stop_sim(second)
