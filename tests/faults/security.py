"""Faults in object-level authorization, stale credentials, path safety and secrets
(SEC-*): the most plausible ways an implementation gets each wrong."""

from __future__ import annotations

FAULTS = ()
