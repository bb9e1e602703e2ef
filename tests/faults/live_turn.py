"""Faults in a live turn's frame order: text, audio, without audio (TTS off), in each kind of
turn (LIVE-TURN-*, LIVE-AUDIO-*, LIVE-ORDER-001, LIVE-FRAME-001)."""

from __future__ import annotations

from . import Fault, kit


def no_bot_msg() -> None:
    """The bot_msg of a turn without audio is forgotten (TTS off: no response frames)."""
    kit.frames(lambda session, method, effects: [
        e for e in effects if not kit.sent([e], "bot_msg")])


FAULTS = [
    Fault("no-bot-msg-without-tts", "with TTS off, the turn sends its deltas and `end` but no "
          "`bot_msg`: the server only ever built bot_msg from the TTS path",
          no_bot_msg, breaks=("LIVE-TURN-008",), may=("LIVE-ORDER-001",),
          sim_args=("--no-tts",)),
]
