"""Contract notes (specs/contract-notes.yaml): the rules the documents' schemas do not state but
the contract does elsewhere, and how a conflict between the two documents is judged.

`excusing(label, request)` answers which note, if any, lets a target refuse a schema-valid
request; `conflict(label, parameter)` gives the note of a constraint the documents disagree on.
A request is a `Request`: the operation's query, path parameters and body, as sent.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from .contract import load_yaml

NOTES_FILE = "contract-notes.yaml"
UMO = re.compile(r"^[^:]+:(FriendMessage|GroupMessage|OtherMessage):.+$", re.S)
SLUG = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    source: tuple
    operations: tuple[str, ...] = ()
    when: dict = field(default_factory=dict, hash=False, compare=False)
    raw: dict = field(default_factory=dict, hash=False, compare=False)

    def cite(self) -> str:
        parts = [f"seed {s['seed']}" if "seed" in s else f"research {s['behavior']}"
                 for s in self.source]
        return f"{self.id} ({', '.join(parts)})"


@dataclass
class Request:
    query: dict = field(default_factory=dict)
    path: dict = field(default_factory=dict)
    body: object = None

    def values(self, name: str) -> list:
        found = [where[name] for where in (self.query, self.path) if name in where]
        if isinstance(self.body, dict) and name in self.body:
            found.append(self.body[name])
        return found


def _notes(section: str) -> list[Note]:
    data = load_yaml(NOTES_FILE) or {}
    return [Note(n["id"], " ".join(str(n["text"]).split()), tuple(n["source"]),
                 tuple(n.get("operations") or ()), n.get("when") or {}, n)
            for n in data.get(section) or []]


@functools.cache
def refusals() -> tuple[Note, ...]:
    return tuple(_notes("refusals"))


@functools.cache
def conflicts() -> tuple[Note, ...]:
    return tuple(_notes("conflicts"))


def _blank(value) -> bool:
    return isinstance(value, str) and not value.strip()


def _bad_umo(value) -> bool:
    if isinstance(value, list):
        return any(_bad_umo(v) for v in value)
    return isinstance(value, str) and not UMO.match(value)


def _no_content(message) -> bool:
    """No part the IM parser takes: a plain part with text (research IM-002)."""
    if isinstance(message, str):
        return not message.strip()
    if not isinstance(message, list):
        return True
    return not message or any(
        not isinstance(p, dict) or p.get("type") != "plain" or not str(p.get("text") or "")
        for p in message)


def _not_zip(value) -> bool:
    if isinstance(value, list):
        return any(_not_zip(v) for v in value)
    data = getattr(value, "data", value)  # schemathesis wraps generated files in Binary
    data = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return isinstance(data, bytes) and not data.startswith(b"PK")


def _not_url(value) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False  # blank: NOTE-EMPTY-KEY's business, or an absent optional URL
    try:
        parts = urlsplit(value.strip())
        return parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() for c in value.strip())
    except ValueError:
        return True


def _not_repository(value) -> bool:
    return _not_url(value) and not (isinstance(value, str) and SLUG.match(value.strip()))


def _path_unsafe(value) -> bool:
    if not isinstance(value, str):
        return False
    for text in (value, unquote(value), unquote(unquote(value))):
        if any(c in text for c in "/\\\x00") or ".." in text.replace("\\", "/").split("/"):
            return True
    return False


def _not_future(value) -> bool:
    """A date-time (RFC 3339) that is not after now."""
    if not isinstance(value, str):
        return False
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) <= datetime.now(UTC)


def _covers(note: Note, request: Request) -> bool:
    when = note.when
    for rule, test in (("not_url", _not_url), ("not_repository", _not_repository),
                       ("path_unsafe", _path_unsafe), ("not_future", _not_future)):
        if any(test(v) for name in when.get(rule, ()) for v in request.values(name)):
            return True
    if any(_blank(v) for name in when.get("empty", ()) for v in request.values(name)):
        return True
    if any(v == [] for name in when.get("empty_list", ()) for v in request.values(name)):
        return True
    if any(_bad_umo(v) for name in when.get("umo", ()) for v in request.values(name)):
        return True
    for name in when.get("umo_keys", ()):
        if any(isinstance(m, dict) and _bad_umo(list(m)) for m in request.values(name)):
            return True
    if any(_no_content(v) for name in when.get("message", ()) for v in request.values(name)):
        return True
    return any(_not_zip(v) for name in when.get("not_zip", ()) for v in request.values(name))


def excusing(label: str, request: Request) -> Note | None:
    """The note that lets a target refuse this schema-valid request, if any."""
    for note in refusals():
        if note.operations and label not in note.operations:
            continue
        if _covers(note, request):
            return note
    for note in conflicts():  # a value one document forbids may be refused under the other
        limit = note.raw.get("refuse_above")
        if note.raw.get("operation") == label and limit is not None:
            values = request.values(note.raw["parameter"])
            if any(_above(v, limit) for v in values):
                return note
    return None


def _above(value, limit: int) -> bool:
    try:
        return int(value) > limit
    except (TypeError, ValueError):
        return False


def conflict(label: str, parameter: str) -> Note | None:
    return next((n for n in conflicts() if n.raw.get("operation") == label
                 and n.raw.get("parameter") == parameter), None)
