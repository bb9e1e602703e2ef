"""Target text made safe for the suite's Markdown (summary.md, the diff's Markdown, the
compatibility matrix): one helper for a table cell, used by all three, so a reason copied from
a garbage response cannot split a row, open a code span, inject HTML or carry bytes no
renderer shows."""

from __future__ import annotations

import re

# control characters (tab, newline and carriage return are folded as whitespace first), lone
# surrogates (UTF-8 cannot carry them) and the two non-characters
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile(r"[\\|`&<>]")


def cell(text, limit: int | None = 180) -> str:
    """One Markdown table cell from any text: one line (whitespace folded), cut to `limit`
    characters (None: no cut), unprintable characters as U+FFFD, and `\\`, `|`, backticks and `&<>`
    escaped (a cell never splits, opens a code span or holds a tag)."""
    text = " ".join(str(text).split())
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], _UNPRINTABLE.sub("\ufffd", text))


def code(text, limit: int | None = 180) -> str:
    """Text as a code span inside a table cell: one line, unprintables as U+FFFD, `|`
    escaped (GFM splits cells before it reads code spans), fenced by more backticks than any
    run in the text, so the span closes where it should."""
    text = " ".join(str(text).split())
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    text = _UNPRINTABLE.sub("\ufffd", text).replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def printable(text: str) -> str:
    """Text for a fenced block: unprintable characters as U+FFFD, a fence in the text broken
    (it would end the block)."""
    return _UNPRINTABLE.sub("\ufffd", text.replace("\r\n", "\n")).replace("```", "` ` `")
