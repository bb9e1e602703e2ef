"""Deterministic speech back-ends: text-to-speech makes a real WAV file (16 kHz, mono, 16-bit
PCM, a tone whose pitch and length follow the text); speech-to-text gives a stable transcript
for any audio."""

from __future__ import annotations

import hashlib
import io
import math
import wave
from array import array

SAMPLE_RATE = 16_000
MS_PER_CHAR = 6
MIN_MS, MAX_MS = 40, 2_000


def _tone_period(text: str) -> array:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    period = 20 + digest[0] % 61  # 20..80 samples: 800 Hz .. 200 Hz, an exact number of samples
    return array("h", (int(8000 * math.sin(2 * math.pi * i / period)) for i in range(period)))


def synthesize(text: str) -> bytes:
    """A complete RIFF/WAVE file speaking `text` (as a tone)."""
    duration_ms = max(MIN_MS, min(MAX_MS, MS_PER_CHAR * len(text)))
    n_samples = SAMPLE_RATE * duration_ms // 1000
    period = _tone_period(text)
    samples = period * (n_samples // len(period) + 1)
    del samples[n_samples:]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.tobytes())
    return buf.getvalue()


def transcribe(pcm: bytes) -> str:
    """A stable transcript for 16 kHz mono 16-bit PCM: its length, and a fingerprint."""
    seconds = len(pcm) / (2 * SAMPLE_RATE)
    fingerprint = hashlib.sha256(pcm).hexdigest()[:8]
    return f"Audio of {seconds:.2f} seconds, fingerprint {fingerprint}."
