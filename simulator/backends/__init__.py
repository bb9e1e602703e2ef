"""Deterministic, local back-ends: no network, no model, same input gives the same output."""
