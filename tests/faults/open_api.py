"""Faults: open_api (to be filled)."""

FAULTS: list = []
