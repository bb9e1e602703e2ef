"""`--operations`: which operations of the two OpenAPI documents the operation-driven checks walk
(the spec-driven fuzzing, its stream reads, boundary cases and lifecycles, and the scope
matrix). The scenario checks are chosen with -k / --profile instead.

The setting is comma-separated patterns; each is an fnmatch glob (case kept) matched against
an operation's "METHOD /path" (the method part upper-cased, `*` for any method; a pattern that
starts with "/" is a path for any method) or against its operationId:

    GET /api/v1/personas,POST /api/v1/personas*,listPlugins,* /api/v1/skills*

A pattern that matches no operation of either document is a usage error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from .documents import DocOperation, operations
from .outcomes import ConfigurationError

DOCUMENT_KEYS = ("v1", "legacy")


def parse(text) -> tuple[str, ...]:
    """The patterns of the setting: a comma-separated string (or a list, from TOML)."""
    if text is None:
        return ()
    items = text if isinstance(text, list | tuple) else str(text).split(",")
    return tuple(p.strip() for p in (str(i) for i in items) if p.strip())


def matches(pattern: str, op: DocOperation) -> bool:
    if fnmatchcase(op.operation_id, pattern):
        return True
    method, _, path = pattern.partition(" ") if not pattern.startswith("/") else ("*", "",
                                                                                  pattern)
    path = path.strip()
    return bool(path) and fnmatchcase(op.method, method.upper()) and fnmatchcase(op.path, path)


@dataclass(frozen=True)
class Selection:
    """The patterns (empty: every operation) and what they select."""
    patterns: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.patterns)

    def selected(self, op: DocOperation) -> bool:
        return not self.patterns or any(matches(p, op) for p in self.patterns)

    def of(self, key: str) -> list[DocOperation]:
        """The selected operations of document `key`, in document order."""
        return [op for op in operations(key) if self.selected(op)]

    def counts(self) -> tuple[int, int]:
        """(selected, total) over both documents."""
        every = [op for key in DOCUMENT_KEYS for op in operations(key)]
        return sum(1 for op in every if self.selected(op)), len(every)

    def describe(self) -> str:
        """"operations: N of M selected (--operations ...)", or "" when not filtered."""
        if not self.active:
            return ""
        chosen, total = self.counts()
        return f"operations: {chosen} of {total} selected (--operations {','.join(self.patterns)})"

    def as_run(self) -> dict | None:
        """results.json `run.operations`: null when every operation was walked."""
        if not self.active:
            return None
        chosen, total = self.counts()
        return {"patterns": list(self.patterns), "selected": chosen, "total": total,
                "labels": [f"{key} {op.label}" for key in DOCUMENT_KEYS
                           for op in operations(key) if self.selected(op)]}


def select_operations(text) -> Selection:
    """The setting as a Selection; a pattern that matches nothing is a ConfigurationError."""
    patterns = parse(text)
    if text not in (None, "", [], ()) and not patterns:
        raise ConfigurationError(f"--operations {text!r} names no pattern")
    every = [op for key in DOCUMENT_KEYS for op in operations(key)]
    unmatched = [p for p in patterns if not any(matches(p, op) for op in every)]
    if unmatched:
        raise ConfigurationError(
            f"--operations: {', '.join(repr(p) for p in unmatched)} matches no operation of "
            "either OpenAPI document (patterns are 'METHOD /path' globs, '*' for any method, "
            "or operationIds; case of the path kept)")
    return Selection(patterns)
