"""Faults: live_busy (to be filled)."""

FAULTS: list = []
