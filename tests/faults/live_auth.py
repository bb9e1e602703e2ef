"""Faults: live_auth (to be filled)."""

FAULTS: list = []
