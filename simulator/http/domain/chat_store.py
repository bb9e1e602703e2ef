"""Chat data in the store (seed 004 Chat, Files): threads (`chat thread`), projects (`chat
project`) and their members, a session's deletion with everything kept beside it (messages,
threads, membership, conversation, the attachments its messages name), the replies a message
edit drops, and the attachment files under <data_dir>/attachments with their file tokens."""

from __future__ import annotations

from ...store import PROJECT_MEMBER_KIND
from .conversation_store import CONVERSATION, LINK

THREAD = "chat thread"


PROJECT = "chat project"


MEMBER = PROJECT_MEMBER_KIND


def entry(message: dict, platform_id: str, user_id: str) -> dict:
    return {"id": message["id"], "platform_id": platform_id, "user_id": user_id,
            "sender_id": message["sender"], "sender_name": message["sender"],
            "content": {"type": "user" if message["role"] == "user" else "bot",
                        "message": message["content"]},
            "llm_checkpoint_id": message["llm_checkpoint_id"],
            "interrupted": message["interrupted"], "created_at": message["created_at"],
            "updated_at": message["created_at"]}


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "creator"}


def threads_of(store, session_id: str) -> list[dict]:
    return [t for t in store.list_resources(THREAD) if t["parent_session_id"] == session_id]


def drop_threads(store, threads: list[dict]) -> None:
    for thread in threads:
        store.delete_messages(thread["thread_id"])
        store.delete_resource(THREAD, thread["thread_id"])


def delete_session(sim, session: dict) -> None:
    store, sid = sim.store, session["session_id"]
    for message in store.messages(sid):
        for part in message["content"] if isinstance(message["content"], list) else []:
            if isinstance(part, dict) and part.get("attachment_id"):
                remove_attachment(sim, part["attachment_id"])
    drop_threads(store, threads_of(store, sid))
    store.delete_resource(MEMBER, sid)
    forget_session(store, sid)
    store.delete_chat_session(sid)


def latest_user_message(messages: list[dict]) -> dict | None:
    return next((m for m in reversed(messages) if m["role"] == "user"), None)


def forget_replies(store, session_id: str, after: int) -> list[int]:
    """Delete the messages after `after`, and the threads hanging off them."""
    gone = store.delete_messages(session_id, after=after)
    drop_threads(store, [t for t in threads_of(store, session_id)
                         if t["parent_message_id"] in gone])
    return gone


def members(store, project_id: str) -> list[dict]:
    return [m for m in store.list_resources(MEMBER) if m["project_id"] == project_id]


def forget_session(store, session_id: str) -> None:
    """A chat session is gone: so are its conversation and the link to it."""
    link = store.get_resource(LINK, session_id)
    if link is not None:
        store.delete_resource(CONVERSATION, link["cid"])
        store.delete_resource(LINK, session_id)


TOKEN = "file token"


ATTACHMENT_TOKEN = "attachment token"


# --- files ------------------------------------------------------------------------------------
def folder(sim):
    return sim.config.data_dir / "attachments"


def remove_attachment(sim, attachment_id: str) -> bool:
    row = sim.store.attachment(attachment_id)
    if row is None:
        return False
    (folder(sim) / row["stored_name"]).unlink(missing_ok=True)
    token = sim.store.get_resource(ATTACHMENT_TOKEN, attachment_id)
    if token is not None:
        sim.store.delete_resource(TOKEN, token["token"])
        sim.store.delete_resource(ATTACHMENT_TOKEN, attachment_id)
    return sim.store.delete_attachment(attachment_id)
