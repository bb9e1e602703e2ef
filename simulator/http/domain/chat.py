"""Chat turns over the v1 API (seed 004 Chat, research CHAT-010, SSE-001..SSE-014): the text a
message gives the LLM and the parts kept in history, and one deterministic reply as the event
sequence of `POST /api/v1/chat` (kernel/sse.py writes it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from ...backends.llm import LLMFailure
from ...history import StoreHistory

HEARTBEAT_SECONDS = 1.0  # SSE-003: a comment line after each silent second
MEDIA = ("image", "record", "file", "video")


def chat_text(store, message) -> tuple[str, list[dict]]:
    """The text the LLM gets and the parts kept in history (research CHAT-010: unknown parts
    and parts naming a missing attachment are dropped; reply alone is not content)."""
    if isinstance(message, str):
        text = message.strip()
        return text, ([{"type": "plain", "text": text}] if text else [])
    kept = []
    for part in message:
        kind = part.get("type")
        if kind in ("plain", "text") and part.get("text"):  # seed 004 MessagePart adds `text`
            kept.append({"type": "plain", "text": part["text"]})
        elif kind == "reply" and part.get("message_id"):
            kept.append({"type": "reply", "message_id": part["message_id"],
                         "selected_text": part.get("selected_text", "")})
        elif kind in (*MEDIA, "audio") and part.get("attachment_id"):  # seed 004: `audio`
            stored = store.attachment(part["attachment_id"])
            if stored:
                kept.append({"type": stored["kind"], "attachment_id": stored["attachment_id"],
                             "filename": stored["filename"]})
    text = "".join(p["text"] for p in kept if p["type"] == "plain")
    return text, kept


async def reply_events(sim, session_id: str, text: str, checkpoint: str, streaming: bool,
                       user_saved=None):
    """The POST /api/v1/chat events for one deterministic bot reply, saved under `session_id`
    with `checkpoint`; None for each silent second. Closed early (the client went away), the
    partial reply is still kept (SSE-014)."""
    history, loop = StoreHistory(sim.store), asyncio.get_running_loop()
    message_id = str(uuid.uuid4())
    yield {"type": "session_id", "data": None, "session_id": session_id}
    if user_saved is not None:
        yield {"type": "user_message_saved", "data": user_saved.as_data()}
    reply, started, first = "", loop.time(), None
    try:
        async with contextlib.aclosing(heartbeats(sim.llm.stream(text))) as deltas:
            async for delta in deltas:
                if delta is None:
                    yield None
                    continue
                first = first or loop.time()
                reply += delta
                if streaming:
                    yield {"type": "plain", "data": delta, "streaming": True,
                           "chain_type": None, "message_id": message_id}
    except LLMFailure as exc:
        yield {"type": "error", "data": f"Processing failed: {exc}"}
    finally:
        saved = history.save(session_id, "bot", "assistant", [{"type": "plain", "text": reply}],
                             checkpoint)
    done = loop.time()
    if not streaming:
        yield {"type": "plain", "data": reply, "streaming": False, "chain_type": None,
               "message_id": message_id}
    yield {"type": "agent_stats", "data": {
        "token_usage": {"input_other": 0, "input_cached": 0, "output": len(reply.split())},
        "start_time": started, "end_time": done, "time_to_first_token": (first or done) - started}}
    if streaming:
        yield {"type": "complete", "data": reply, "reasoning": "", "streaming": True,
               "message_id": message_id}
    yield {"type": "message_saved", "data": saved.as_data()}
    yield {"type": "end", "data": "", "streaming": False, "message_id": message_id}


async def heartbeats(deltas):
    """The deltas of `deltas`, and None whenever HEARTBEAT_SECONDS pass without one."""
    iterator = deltas.__aiter__()
    pending = asyncio.ensure_future(iterator.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_SECONDS)
            if not done:
                yield None
                continue
            try:
                yield pending.result()
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(iterator.__anext__())
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, LLMFailure):
            await pending
