"""A deterministic streaming LLM whose reply, length, pace and failures the caller controls.

Directives go in the user text as `[[sim:name]]` or `[[sim:name=value]]` and are removed from
the text the model "sees":

    reply=TEXT      answer exactly TEXT
    sentences=N     answer with N sentences (a long reply)
    delay=MS        pause MS milliseconds before every delta (a slow reply)
    first_delay=MS  pause before the first delta only
    chunk=N         N words per delta (default 1)
    fail            fail before the first delta
    fail_after=N    fail after N deltas
    tts=off         no audio for this turn (the Live API then answers with bot_msg)

Without directives the reply is "You said: <text>. I am the AstrBot simulator."
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

DIRECTIVE = re.compile(r"\[\[sim:([a-z_]+)(?:=([^\]]*))?\]\]")
MAX_SENTENCES = 500
MAX_DELAY_MS = 60_000


class LLMFailure(Exception):
    pass


@dataclass(frozen=True)
class Directives:
    reply: str | None = None
    sentences: int | None = None
    delay_ms: float | None = None
    first_delay_ms: float = 0.0
    chunk: int = 1
    fail: bool = False
    fail_after: int | None = None
    tts: bool = True


def _int(value: str | None, lo: int, hi: int, default: int) -> int:
    try:
        return max(lo, min(hi, int(float(value or ""))))
    except ValueError:
        return default


def parse(text: str) -> tuple[str, Directives]:
    fields: dict = {}
    for name, value in DIRECTIVE.findall(text):
        if name == "reply":
            fields["reply"] = value
        elif name == "sentences":
            fields["sentences"] = _int(value, 1, MAX_SENTENCES, 3)
        elif name in ("delay", "first_delay"):
            fields[f"{name}_ms"] = float(_int(value, 0, MAX_DELAY_MS, 0))
        elif name == "chunk":
            fields["chunk"] = _int(value, 1, 10_000, 1)
        elif name == "fail":
            fields["fail"] = True
        elif name == "fail_after":
            fields["fail_after"] = _int(value, 0, 1_000_000, 0)
        elif name == "tts":
            fields["tts"] = value.lower() not in ("off", "0", "false", "no")
    clean = " ".join(DIRECTIVE.sub(" ", text).split())
    return clean, Directives(**fields)


def reply_for(clean_text: str, d: Directives) -> str:
    if d.reply is not None:
        return d.reply
    if d.sentences is not None:
        return " ".join(
            f"This is sentence {i} of {d.sentences} from the simulator."
            for i in range(1, d.sentences + 1)
        )
    return f"You said: {clean_text or 'nothing'}. I am the AstrBot simulator."


def split_deltas(reply: str, chunk: int) -> list[str]:
    words = re.findall(r"\s*\S+", reply) or ([reply] if reply else [])
    return ["".join(words[i : i + chunk]) for i in range(0, len(words), chunk)]


class SimLLM:
    model = "sim-llm"

    def __init__(self, delay_ms: float = 0.0):
        self.delay_ms = delay_ms

    async def stream(self, user_text: str) -> AsyncIterator[str]:
        clean, d = parse(user_text)
        if d.fail:
            raise LLMFailure("simulated LLM failure")
        delay = (d.delay_ms if d.delay_ms is not None else self.delay_ms) / 1000
        if d.first_delay_ms:
            await asyncio.sleep(d.first_delay_ms / 1000)
        for index, delta in enumerate(split_deltas(reply_for(clean, d), d.chunk)):
            if d.fail_after is not None and index >= d.fail_after:
                raise LLMFailure(f"simulated LLM failure after {index} deltas")
            if delay:  # a paced reply: an interrupt can land between two deltas
                await asyncio.sleep(delay)
            yield delta
