"""Faults in how the HTTP operations take hostile JSON bodies and query values (ROB-HTTP-*),
and in sessions and tokens (SEC-TOKEN-*): the defects found by hand (issue 15) planted back."""

from __future__ import annotations

FAULTS = ()
