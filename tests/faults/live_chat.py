"""Faults: live_chat (to be filled)."""

FAULTS: list = []
