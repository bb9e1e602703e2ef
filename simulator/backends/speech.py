"""Deterministic speech back-ends.

Text-to-speech makes a real WAV file (16 kHz, mono, 16-bit PCM, a tone whose pitch and length
follow the text).

Speech-to-text gives a known transcript for audio that carries one, and a stable answer for any
other audio. Audio carries a transcript in the least significant bit of its samples, inaudible:
the 8-byte marker `SIMSTT1\0`, a 2-byte big-endian length, then that many bytes of UTF-8 text,
each byte most significant bit first, one bit per 16-bit little-endian sample. A test client can
write this into any PCM (a tone, silence, speech) without sharing code with the simulator.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=4096)
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


TRANSCRIPT_MARKER = b"SIMSTT1\0"


def _lsb_bytes(pcm: bytes, start_byte: int, count: int) -> bytes | None:
    """`count` bytes hidden in the sample LSBs, starting at hidden byte `start_byte`."""
    first_sample = start_byte * 8
    if (first_sample + count * 8) * 2 > len(pcm):
        return None
    out = bytearray()
    for i in range(count):
        value = 0
        base = (first_sample + i * 8) * 2
        for bit in range(8):
            value = (value << 1) | (pcm[base + bit * 2] & 1)
        out.append(value)
    return bytes(out)


def embedded_transcript(pcm: bytes) -> str | None:
    if _lsb_bytes(pcm, 0, len(TRANSCRIPT_MARKER)) != TRANSCRIPT_MARKER:
        return None
    header = _lsb_bytes(pcm, len(TRANSCRIPT_MARKER), 2)
    length = int.from_bytes(header, "big") if header else 0
    text = _lsb_bytes(pcm, len(TRANSCRIPT_MARKER) + 2, length)
    try:
        return text.decode("utf-8") if text is not None else None
    except UnicodeDecodeError:
        return None


def transcribe(pcm: bytes) -> str:
    """The transcript the audio carries, else a stable one: its length and a fingerprint."""
    known = embedded_transcript(pcm)
    if known is not None:
        return known
    seconds = len(pcm) / (2 * SAMPLE_RATE)
    fingerprint = hashlib.sha256(pcm).hexdigest()[:8]
    return f"Audio of {seconds:.2f} seconds, fingerprint {fingerprint}."
