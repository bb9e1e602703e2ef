"""Conversation records (seed 004 Conversations, Sessions): the store kinds and the UMO of a
chat session (`<platform>:FriendMessage:<platform>!<creator>!<session_id>`, as AstrBot's webchat
builds it), and one page of a list."""

from __future__ import annotations

CONVERSATION = "conversation"
LINK = "conversation link"


# --- UMOs -------------------------------------------------------------------------------------
def umo_of(session: dict) -> str:
    kind = "GroupMessage" if session["is_group"] else "FriendMessage"
    platform = session["platform_id"]
    return f"{platform}:{kind}:{platform}!{session['creator']}!{session['session_id']}"


def umo_info(umo: str) -> dict:
    platform, message_type, session_id = (umo.split(":", 2) + ["", ""])[:3]
    return {"umo": umo, "platform": platform, "message_type": message_type,
            "session_id": session_id}


def page_of(items: list, page: int, page_size: int) -> list:
    return items[(page - 1) * page_size: page * page_size]
