"""A deterministic streaming LLM whose reply, length, pace and failures the caller controls.

Directives go in the user text as `[[sim:name]]` or `[[sim:name=value]]` and are removed from
the text the model "sees":

    reply=TEXT      answer exactly TEXT
    sentences=N     answer with N sentences (a long reply)
    delay=MS        pause MS milliseconds before every delta (a slow reply)
    first_delay=MS  time to the first delta (instead of the timing model's)
    chunk=N         N words per delta (default 1)
    fail            fail before the first delta
    fail_after=N    fail after N deltas
    tts=off         no audio for this turn (the Live API then answers with bot_msg)

Without directives the reply is "You said: <text>. I am the AstrBot simulator." (so a long
user text gets a long reply). Pace comes from the timing model (`timing.py`): time to the first
delta, then a token rate, never faster than its floors; the directives replace those figures
for one turn and the floors still apply, so no turn is ever over in one step of the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from .timing import GROUP_BELOW_S, QUANTUM_S, Timing

DIRECTIVE = re.compile(r"\[\[sim:([a-z_]+)(?:=([^\]]*))?\]\]")
MAX_SENTENCES = 500
MAX_DELAY_MS = 60_000
CACHED_TEXT = 1024


class LLMFailure(Exception):
    pass


@dataclass(frozen=True)
class Directives:
    reply: str | None = None
    sentences: int | None = None
    delay_ms: float | None = None
    first_delay_ms: float | None = None
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
    """The text without its directives, and the directives (both immutable). A turn's text is
    parsed by the engine and again by the stream, and clients repeat texts: texts of up to
    `CACHED_TEXT` characters are parsed once (at most 1,024 of them kept: a few MiB)."""
    return _parse_cached(text) if len(text) <= CACHED_TEXT else _parse(text)


def _parse(text: str) -> tuple[str, Directives]:
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


_parse_cached = functools.lru_cache(maxsize=1024)(_parse)


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

    def __init__(self, timing: Timing | None = None):
        self.timing = timing or Timing()

    async def stream(self, user_text: str, rng: random.Random | None = None,
                     overrides: dict | None = None) -> AsyncIterator[str]:
        """The reply's deltas, paced. `overrides` replace directive fields for this turn (the
        simulator's faults use them: a slow or failing turn without changing the client)."""
        clean, d = parse(user_text)
        if overrides:
            d = replace(d, **overrides)
        timing = self.timing
        loop = asyncio.get_running_loop()
        due = loop.time() + timing.ttft_seconds(rng, d.first_delay_ms) + (d.delay_ms or 0) / 1000
        await asyncio.sleep(max(0.0, due - loop.time()))  # always: the turn is never atomic
        if d.fail:
            raise LLMFailure("simulated LLM failure")
        for index, delta in enumerate(split_deltas(reply_for(clean, d), d.chunk)):
            if d.fail_after is not None and index >= d.fail_after:
                raise LLMFailure(f"simulated LLM failure after {index} deltas")
            if index:
                step = timing.delta_seconds(delta, rng, d.delay_ms)
                due += step
                pause = due - loop.time()
                if pause > QUANTUM_S or (step >= GROUP_BELOW_S and pause > 0):
                    await asyncio.sleep(pause)  # else: a fast delta goes out with its group
            yield delta
