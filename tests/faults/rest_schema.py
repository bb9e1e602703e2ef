"""Faults: rest_schema (to be filled)."""

FAULTS: list = []
