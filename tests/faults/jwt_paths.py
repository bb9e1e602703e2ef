"""Faults: jwt_paths (to be filled)."""

FAULTS: list = []
