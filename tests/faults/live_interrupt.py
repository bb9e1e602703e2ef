"""Faults: live_interrupt (to be filled)."""

FAULTS: list = []
