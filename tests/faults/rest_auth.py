"""Faults: rest_auth (to be filled)."""

FAULTS: list = []
