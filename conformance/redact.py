"""Secrets never reach a report: every artifact goes through `Redactor.scrub`.

Known secrets (keys, tokens and passwords the run used or created) are replaced wherever they
appear, and so is anything shaped like an AstrBot key (`abk_...`), a JWT, or the value of an
`api_key` / `key` / `token` / `password` query parameter or JSON field.
"""

from __future__ import annotations

import re

MASK = "***"
# (kept prefix)(secret): the secret part is masked
PATTERNS = (
    re.compile(r"()abk_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"()eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"),
    re.compile(r"([?&](?:api_key|key|token)=)[A-Za-z0-9_\-.%~+/=]{4,}"),
    re.compile(r"(\"(?:password|confirm_password|api_key|token)\": ?\")[^\"]+"),
    re.compile(r"(?i)(authorization: ?(?:bearer|apikey) )[A-Za-z0-9_\-.~+/=]{8,}"),
    re.compile(r"(?i)(x-api-key: ?)[A-Za-z0-9_\-.~+/=]{8,}"),
    re.compile(r"(?i)('(?:authorization|x-api-key)': ')[^']+"),
)


class Redactor:
    def __init__(self):
        self._secrets: set[str] = set()

    def add(self, *secrets: str | None) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def scrub(self, value):
        if isinstance(value, str):
            for secret in sorted(self._secrets, key=len, reverse=True):
                value = value.replace(secret, MASK)
            for pattern in PATTERNS:
                value = pattern.sub(lambda m: m.group(1) + MASK, value)
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value
