"""Knowledge bases (seed 004 Knowledge Base): documents split into chunks (`chunk_size`
16..8192, default 512; `chunk_overlap` 0..chunk_size-1, default 50; at most MAX_CHUNKS per
document), stored as resources per KB, and retrieval: query terms are lower-cased words (each
CJK character is a term); a chunk scores by the terms it shares with the query."""

from __future__ import annotations

import re
import uuid

from ..kernel import tasks
from ..kernel.clock import now_iso
from ..kernel.envelope import ApiError

KB = "knowledge base"
TASK_KIND = "knowledge"
DEFAULT_CHUNKING = {"chunk_size": 512, "chunk_overlap": 50}
MAX_CHUNKS = 5000
MAX_TOP_K = 100
MAX_IMPORT_BYTES = 8 * 1024 * 1024
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"  # kana and CJK ideographs: one term each
TERM = re.compile(f"[{CJK}]|[^\\W_{CJK}]+")


def docs_kind(kb_id: str) -> str:
    return f"kb document:{kb_id}"


def chunks_kind(kb_id: str) -> str:
    return f"kb chunk:{kb_id}"


def stats(sim, kb: dict) -> dict:
    docs = sim.store.list_resources(docs_kind(kb["kb_id"]))
    return {"doc_count": len(docs), "chunk_count": sum(d["chunk_count"] for d in docs),
            "total_chars": sum(d["chars"] for d in docs)}


def kb_view(sim, kb: dict) -> dict:
    return {**kb, **stats(sim, kb)}


def chunking_of(raw: dict | None) -> dict:
    config = {**DEFAULT_CHUNKING, **(raw or {})}
    size, overlap = config["chunk_size"], config["chunk_overlap"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, overlap)) \
            or not 16 <= size <= 8192 or not 0 <= overlap < size:
        raise ApiError(400, "chunking: chunk_size must be an integer in 16..8192 and "
                            "chunk_overlap an integer in 0..chunk_size-1")
    return config


# documents -------------------------------------------------------------------------------------
def decode_text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, f"{what}: not UTF-8 text (the simulator parses text only)") from None
    if "\x00" in text:
        raise ApiError(400, f"{what}: binary content (the simulator parses text only)")
    if not text.strip():
        raise ApiError(400, f"{what}: the document is empty")
    return text


def split(text: str, chunking: dict) -> list[tuple[int, str]]:
    """(start offset, text) windows of chunk_size characters."""
    size, step = chunking["chunk_size"], chunking["chunk_size"] - chunking["chunk_overlap"]
    windows = []
    for start in range(0, len(text), step):
        if text[start:start + size].strip():
            windows.append((start, text[start:start + size]))
        if start + size >= len(text):
            break
    return windows


def prepare(kb: dict, name: str, text: str, source: str, parser, **extra) -> tuple[dict, list]:
    """A document and its chunks, not stored yet (413 when too many chunks)."""
    windows = split(text, kb["chunking"])
    if len(windows) > MAX_CHUNKS:
        raise ApiError(413, f"{name}: more than {MAX_CHUNKS} chunks with this chunking")
    now, doc_id = now_iso(), uuid.uuid4().hex
    doc = {"document_id": doc_id, "kb_id": kb["kb_id"], "name": name, "source": source,
           "parser": parser or "text", **extra, "size": len(text.encode()),
           "chars": len(text), "chunk_count": len(windows), "status": "completed",
           "created_at": now, "updated_at": now}
    chunks = [{"chunk_id": f"{doc_id}-{index:05d}", "document_id": doc_id,
               "kb_id": kb["kb_id"], "index": index, "start": start, "chars": len(content),
               "content": content} for index, (start, content) in enumerate(windows)]
    return doc, chunks


def store_documents(sim, kb: dict, prepared: list, how: str, steps: int) -> dict:
    store = sim.store
    for doc, chunks in prepared:
        store.put_resource(docs_kind(kb["kb_id"]), doc["document_id"], doc, doc["created_at"])
        for chunk in chunks:
            store.put_resource(chunks_kind(kb["kb_id"]), chunk["chunk_id"], chunk,
                               doc["created_at"])
    docs = [doc for doc, _ in prepared]
    result = {"kb_id": kb["kb_id"], "document_ids": [d["document_id"] for d in docs],
              "chunk_count": sum(d["chunk_count"] for d in docs)}
    task = tasks.start(store, TASK_KIND, steps, result=result, kb_id=kb["kb_id"],
                       operation=how)
    kb["updated_at"] = now_iso()
    store.put_resource(KB, kb["kb_id"], kb, kb["created_at"])
    return {"task_id": task["task_id"], "task": task, "documents": docs}


def doc_of(sim, kb: dict, doc_id: str) -> dict:
    doc = sim.store.get_resource(docs_kind(kb["kb_id"]), doc_id)
    if doc is None:
        raise ApiError(404, f"Document {doc_id} not found in knowledge base {kb['kb_id']}")
    return doc


def terms(text: str) -> set[str]:
    return set(TERM.findall(text.lower()))
