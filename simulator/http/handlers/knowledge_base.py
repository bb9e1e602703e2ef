"""Seed 004 tag Knowledge Base: KBs (a name is non-empty, <= 128 chars and unique: 409; PUT
replaces the KB's fields), their documents (upload, import, import from a URL: deterministic
tasks, kernel/tasks.py), chunks and retrieval (the rules are domain/knowledge_base.py's)."""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import unquote, urlsplit

from ...store import Store
from ..domain.knowledge_base import (
    KB,
    MAX_IMPORT_BYTES,
    MAX_TOP_K,
    TASK_KIND,
    chunking_of,
    chunks_kind,
    decode_text,
    doc_of,
    docs_kind,
    kb_view,
    prepare,
    stats,
    store_documents,
    terms,
)
from ..kernel import tasks
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError
from ..kernel.forms import FormFile, files_of, read_form
from ..kernel.paths import inside, safe_name
from ..kernel.router import Ctx, Operations

operation = Operations()


def page_of(ctx: Ctx, items: list) -> dict:
    page, size = ctx.query.get("page", 1), ctx.query.get("page_size", 20)
    return {"items": items[(page - 1) * size: page * size], "total": len(items), "page": page,
            "page_size": size}


# knowledge bases -------------------------------------------------------------------------------
def kb_of(ctx: Ctx) -> dict:
    kb_id = ctx.param("kb_id")
    kb = ctx.sim.store.get_resource(KB, kb_id)
    if kb is None:
        raise ApiError(404, f"Knowledge base {kb_id} not found")
    return kb


def kb_fields(ctx: Ctx, kb_id: str | None) -> dict:
    """The validated KB fields of the body; 409 when another KB has the name."""
    body = ctx.body
    name = body["name"].strip() or "untitled"  # the document takes any string
    if len(name) > 128:
        raise ApiError(400, "name must be at most 128 characters")
    if any(kb["name"] == name and kb["kb_id"] != kb_id
           for kb in ctx.sim.store.list_resources(KB)):
        raise ApiError(409, f"A knowledge base named {name!r} already exists")
    return {"name": name, "description": body.get("description", ""),
            "embedding_provider_id": body.get("embedding_provider_id"),
            "rerank_provider_id": body.get("rerank_provider_id"),
            "chunking": chunking_of(body.get("chunking")), "metadata": body.get("metadata", {})}


@operation("listKnowledgeBases")
async def list_kbs(ctx: Ctx):
    return page_of(ctx, [kb_view(ctx.sim, kb) for kb in ctx.sim.store.list_resources(KB)])


@operation("createKnowledgeBase")
async def create_kb(ctx: Ctx):
    now = now_iso()
    kb = {"kb_id": uuid.uuid4().hex, **kb_fields(ctx, None), "created_at": now,
          "updated_at": now}
    ctx.sim.store.put_resource(KB, kb["kb_id"], kb, now)
    return kb_view(ctx.sim, kb)


@operation("getKnowledgeBase")
async def get_kb(ctx: Ctx):
    return kb_view(ctx.sim, kb_of(ctx))


@operation("updateKnowledgeBase")
async def update_kb(ctx: Ctx):
    kb = kb_of(ctx)
    kb = {**kb, **kb_fields(ctx, kb["kb_id"]), "updated_at": now_iso()}
    ctx.sim.store.put_resource(KB, kb["kb_id"], kb, kb["created_at"])
    return kb_view(ctx.sim, kb)


@operation("deleteKnowledgeBase")
async def delete_kb(ctx: Ctx):
    kb, store = kb_of(ctx), ctx.sim.store
    for kind, key in ((chunks_kind(kb["kb_id"]), "chunk_id"),
                      (docs_kind(kb["kb_id"]), "document_id")):
        for item in store.list_resources(kind):
            store.delete_resource(kind, item[key])
    store.delete_resource(KB, kb["kb_id"])
    return {"kb_id": kb["kb_id"], "deleted": True}


@operation("getKnowledgeBaseStats")
async def kb_stats(ctx: Ctx):
    kb = kb_of(ctx)
    return {"kb_id": kb["kb_id"], "name": kb["name"], **stats(ctx.sim, kb),
            "updated_at": kb["updated_at"]}


@operation("uploadKnowledgeDocument")
async def upload_document(ctx: Ctx):
    kb = kb_of(ctx)
    form = await read_form(ctx)
    uploads = files_of(form.get("file"))
    if len(uploads) != 1 or not isinstance(uploads[0], FormFile):
        raise ApiError(400, "Expected exactly one `file`")
    parser = form.get("parser")
    if parser is not None and not isinstance(parser, str):
        raise ApiError(400, "parser must be one text field")
    name = safe_name(uploads[0].filename, "file name")
    text = decode_text(uploads[0].data, name)
    prepared = [prepare(kb, name, text, "upload", parser,
                        media_type=uploads[0].content_type)]
    return store_documents(ctx.sim, kb, prepared, "upload", 2)


@operation("importKnowledgeDocuments")
async def import_documents(ctx: Ctx):
    kb = kb_of(ctx)
    root = ctx.sim.config.data_dir
    raws = list(dict.fromkeys(ctx.body["paths"]))
    if not raws:
        raise ApiError(400, "paths must name at least one file")
    prepared = []
    for raw in raws:
        path = inside(root, raw, "path")
        if path.name.startswith(Store.DB_NAME) and path.parent == root.resolve():
            raise ApiError(400, f"{raw}: the simulator's database cannot be imported")
        if not path.exists():
            raise ApiError(404, f"{raw}: no such file under the data directory")
        if not path.is_file():
            raise ApiError(400, f"{raw}: not a file")
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise ApiError(413, f"{raw}: larger than {MAX_IMPORT_BYTES} bytes")
        text = decode_text(path.read_bytes(), raw)
        prepared.append(prepare(kb, path.name, text, "import", ctx.body.get("parser"),
                                path=path.relative_to(root.resolve()).as_posix()))
    return store_documents(ctx.sim, kb, prepared, "import", 2)


def url_text(url: str, host: str, path: str, query: str) -> str:
    """The deterministic stand-in for the page at `url`."""
    words = re.findall(r"[^\W_]+", unquote(f"{host} {path} {query}"))
    title = " ".join(re.findall(r"[^\W_]+", unquote(path))[-3:]) or host
    digest = hashlib.sha256(url.encode()).hexdigest()
    return "\n\n".join([
        f"# {title}", f"Source: {url}",
        f"This document stands for the page {url} on {host}. The simulator does not fetch "
        "pages: it builds this text from the address alone, the same text every time.",
        f"Keywords: {', '.join(words)}.", f"Fingerprint: {digest}.", ""])


@operation("importKnowledgeDocumentFromUrl")
async def import_url(ctx: Ctx):
    kb = kb_of(ctx)
    url = ctx.body["url"].strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        host = None
    if host is None or parts.scheme.lower() not in ("http", "https"):
        raise ApiError(400, f"url must be an http(s) URL with a host: {url!r}")
    segments = [s for s in unquote(parts.path).split("/") if s.strip()]
    name = (segments[-1] if segments else host)[:200]
    prepared = [prepare(kb, name, url_text(url, host, parts.path, parts.query), "url",
                        ctx.body.get("parser"), url=url)]
    return store_documents(ctx.sim, kb, prepared, "import-url", 3)


@operation("listKnowledgeDocuments")
async def list_documents(ctx: Ctx):
    kb = kb_of(ctx)
    search = (ctx.query.get("search") or "").strip().lower()
    docs = [d for d in ctx.sim.store.list_resources(docs_kind(kb["kb_id"]))
            if search in d["name"].lower()]
    return page_of(ctx, docs)


@operation("getKnowledgeDocument")
async def get_document(ctx: Ctx):
    kb = kb_of(ctx)
    return doc_of(ctx.sim, kb, ctx.param("document_id"))


@operation("deleteKnowledgeDocument")
async def delete_document(ctx: Ctx):
    kb, store = kb_of(ctx), ctx.sim.store
    doc = doc_of(ctx.sim, kb, ctx.param("document_id"))
    for chunk in store.list_resources(chunks_kind(kb["kb_id"])):
        if chunk["document_id"] == doc["document_id"]:
            store.delete_resource(chunks_kind(kb["kb_id"]), chunk["chunk_id"])
    store.delete_resource(docs_kind(kb["kb_id"]), doc["document_id"])
    return {"document_id": doc["document_id"], "deleted": True}


# chunks, retrieval, tasks ----------------------------------------------------------------------
@operation("listKnowledgeChunks")
async def list_chunks(ctx: Ctx):
    kb = kb_of(ctx)
    doc_id = ctx.query.get("document_id")
    if doc_id:
        doc_of(ctx.sim, kb, doc_id)
    chunks = [c for c in ctx.sim.store.list_resources(chunks_kind(kb["kb_id"]))
              if not doc_id or c["document_id"] == doc_id]
    return page_of(ctx, chunks)


@operation("deleteKnowledgeChunk")
async def delete_chunk(ctx: Ctx):
    kb, store = kb_of(ctx), ctx.sim.store
    doc = doc_of(ctx.sim, kb, ctx.query["document_id"])
    chunk_id = ctx.param("chunk_id")
    chunk = store.get_resource(chunks_kind(kb["kb_id"]), chunk_id)
    if chunk is None or chunk["document_id"] != doc["document_id"]:
        raise ApiError(404, f"Chunk {chunk_id} not found in document {doc['document_id']}")
    store.delete_resource(chunks_kind(kb["kb_id"]), chunk_id)
    doc.update(chunk_count=doc["chunk_count"] - 1, chars=doc["chars"] - chunk["chars"],
               updated_at=now_iso())
    store.put_resource(docs_kind(kb["kb_id"]), doc["document_id"], doc, doc["created_at"])
    return {"chunk_id": chunk_id, "document_id": doc["document_id"], "deleted": True}


@operation("retrieveKnowledgeBase")
async def retrieve(ctx: Ctx):
    kb, body = kb_of(ctx), ctx.body
    wanted = terms(body["query"])
    top_k = body.get("top_k", 5)
    threshold = body.get("score_threshold", 0)
    if not wanted:
        raise ApiError(400, "query has no searchable term")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ApiError(400, f"top_k must be in 1..{MAX_TOP_K}")
    names = {d["document_id"]: d["name"]
             for d in ctx.sim.store.list_resources(docs_kind(kb["kb_id"]))}
    scored = []
    for chunk in ctx.sim.store.list_resources(chunks_kind(kb["kb_id"])):
        score = round(len(wanted & terms(chunk["content"])) / len(wanted), 4)
        if score > 0 and score >= threshold:
            scored.append({"chunk_id": chunk["chunk_id"], "document_id": chunk["document_id"],
                           "document_name": names.get(chunk["document_id"], ""),
                           "index": chunk["index"], "content": chunk["content"],
                           "score": score})
    scored.sort(key=lambda r: -r["score"])  # stable: ties keep document/chunk order
    return {"kb_id": kb["kb_id"], "query": body["query"], "top_k": top_k,
            "results": scored[:top_k], "total_matched": len(scored)}


@operation("getKnowledgeTask")
async def get_task(ctx: Ctx):
    return tasks.advance(ctx.sim.store, ctx.param("task_id"), TASK_KIND)
