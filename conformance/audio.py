"""Test audio for the Live API: 16 kHz mono 16-bit PCM (seed 001 Transport), a soft tone that
carries its transcript in the samples' least significant bits (the marker `SIMSTT1\\0`, a 2-byte
big-endian length, the UTF-8 text, most significant bit first). The reference simulator's
speech-to-text reads it back exactly; a real STT hears a tone. Written independently of the
simulator: the format is the contract between them."""

from __future__ import annotations

import base64
import math
from array import array

SAMPLE_RATE = 16_000
MARKER = b"SIMSTT1\0"


def speech_pcm(transcript: str, seconds: float = 0.6) -> bytes:
    payload = MARKER + len(transcript.encode()).to_bytes(2, "big") + transcript.encode()
    bits = [(byte >> (7 - i)) & 1 for byte in payload for i in range(8)]
    n = max(int(SAMPLE_RATE * seconds), len(bits))
    samples = array("h", (int(3000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE)) & ~1
                          for i in range(n)))
    for i, bit in enumerate(bits):
        samples[i] |= bit
    return samples.tobytes()


def chunks_b64(pcm: bytes, chunk_ms: int = 100) -> list[str]:
    """Base64 `speaking_part` payloads of `chunk_ms` each, as a client would stream them."""
    size = SAMPLE_RATE * 2 * chunk_ms // 1000
    return [base64.b64encode(pcm[i:i + size]).decode("ascii") for i in range(0, len(pcm), size)]
