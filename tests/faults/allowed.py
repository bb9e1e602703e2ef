"""Allowed variations: behaviour the contract permits that the simulator happens not to show.
The suite must blame none of them (no FAIL, no NON-STRICT)."""

from __future__ import annotations

from . import Fault


def nothing() -> None:
    """No code change: the variation is in the target's settings (`sim_args`)."""


FAULTS = [
    Fault("slow-speech-to-text", "speech-to-text takes 1.5 s per segment (a deployed provider "
          "on a slow network): a voice turn's user_msg comes late, which the contract allows",
          nothing, profiles=("live-api", "legacy-jwt-live"),
          sim_args=("--timing", "stt_base_ms=1500")),
]
