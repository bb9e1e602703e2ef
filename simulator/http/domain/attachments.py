"""Attachments of the chat APIs: the attachment kind a content type gives (research FILE-002)
and the safe stored form of a client's file name (research FILE-003), shared by the Open API
upload and the v1 files."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath
from urllib.parse import unquote


def attachment_kind(mime: str) -> str:
    """FILE-002: the attachment type from the part's content type."""
    for prefix, kind in (("image/", "image"), ("audio/", "record"), ("video/", "video")):
        if mime.startswith(prefix):
            return kind
    return "file"


def safe_name(name: str) -> str:
    """Only a base name is kept: no directories (also percent-encoded), no `..`, no NUL
    (FILE-003)."""
    name = unquote(name).replace("\\", "/").replace("\x00", "")
    base = PurePosixPath(name).name.strip()
    return base if base not in ("", ".", "..") else uuid.uuid4().hex
