"""The simulator's timing model: how long speech-to-text, the LLM and text-to-speech take.

A `Timing` is a set of named settings, resolved from a profile and overrides (precedence:
command-line flag > `ASTRBOT_SIM_<SETTING>` environment variable > timing file > profile).
The back-ends ask it for durations; the WebSocket adapter sleeps them. The protocol engine
never sleeps (it stays sans-I/O).

Profiles:

- `realistic` (the default of `astrbot-sim`): a deployment calling hosted providers.
  * STT, a batch request per utterance as AstrBot's STT providers make it: 300 ms plus 25 ms
    per second of audio. AssemblyAI documents synchronous requests for utterances under 15 s
    completing in 100-700 ms ("Processing times"); Deepgram's pre-recorded API processes about
    a minute of audio in 300-400 ms; Whisper-API round trips are commonly 0.5-2 s.
  * LLM, a GPT-4o-mini-class model: 450 ms to the first token, then 70 output tokens/s.
    Artificial Analysis reports time to first token of about 0.4 s on OpenAI for GPT-4o and
    60-85 tokens/s for GPT-4o mini; a public `tacho` run on the OpenAI API measured 59 tokens/s
    for gpt-4o-mini. A token is counted as 4 characters (OpenAI's rule of thumb).
  * TTS, one request per sentence: 250 ms to the first byte plus 2 ms per character. ElevenLabs
    documents about 75 ms model time for Flash and about 300 ms for Turbo v2.5, before network;
    Deepgram's TTS latency guide shows a 745 ms end-to-end request for one sentence.
  * jitter: every duration is scaled by a factor drawn uniformly from [0.8, 1.2].
- `fast`: a nearby, fast deployment (120 ms to first token, 250 tokens/s, STT 60 ms + 5 ms per
  audio second, TTS 40 ms + 0.3 ms per character, jitter 10 %).
- `instant`: no modelled latency at all, only the floors below (for benchmarks and the suite).

Floors, applied at every setting, directives and overrides included, so that no turn is ever
atomic: a frame a client sends while a turn runs is read while it runs. 20 ms before the first
delta (and before an LLM failure), 2 ms per delta (a reply of 100 words stays open for at
least 200 ms: long enough for a Python client on loopback to answer the first delta with an
interrupt), 20 ms of speech-to-text. Deltas paced faster than `GROUP_BELOW_S` apart (faster
than anyone reads) go out in groups spanning up to `QUANTUM_S`, each at most that early: fewer
wake-ups under load, the same total duration. Slower deltas are paced one by one.

Jitter is seeded: the same `seed`, username and turn number give the same durations.
"""

from __future__ import annotations

import json
import os
import random
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

DEFAULT_PROFILE = "realistic"
TTFT_FLOOR_MS = 20.0
DELTA_FLOOR_MS = 2.0
STT_FLOOR_MS = 20.0
QUANTUM_S = 0.025
GROUP_BELOW_S = 0.005
CHARS_PER_TOKEN = 4
ENV_PREFIX = "ASTRBOT_SIM_"


class TimingError(ValueError):
    """A bad profile name, setting name or value: one clear sentence."""


@dataclass(frozen=True)
class Timing:
    profile: str = "instant"
    stt_base_ms: float = 0.0  # per utterance
    stt_ms_per_audio_s: float = 0.0  # per second of audio
    llm_ttft_ms: float = 0.0  # time to the first delta
    llm_tokens_per_s: float = 0.0  # output rate; 0 = no pacing beyond the floor
    llm_delay_ms: float | None = None  # a fixed pause per delta instead of the token rate
    tts_base_ms: float = 0.0  # per sentence, to the first byte
    tts_ms_per_char: float = 0.0
    jitter: float = 0.0  # relative: 0.2 = every duration x uniform(0.8, 1.2)
    seed: int = 0

    # durations in seconds; `rng` is the turn's generator (None without jitter) -------------
    def _scaled(self, ms: float, rng: random.Random | None) -> float:
        if rng is not None and self.jitter and ms:
            ms *= 1 + self.jitter * (2 * rng.random() - 1)
        return max(ms, 0.0) / 1000

    def rng(self, username: str, turn: int) -> random.Random | None:
        """The turn's jitter generator: deterministic for (seed, username, turn)."""
        return random.Random(f"{self.seed}/{username}/{turn}") if self.jitter else None

    def stt_seconds(self, audio_seconds: float, rng: random.Random | None = None) -> float:
        ms = self.stt_base_ms + self.stt_ms_per_audio_s * audio_seconds
        return max(self._scaled(ms, rng), STT_FLOOR_MS / 1000)

    def ttft_seconds(self, rng: random.Random | None = None,
                     override_ms: float | None = None) -> float:
        ms = self.llm_ttft_ms if override_ms is None else override_ms
        return max(self._scaled(ms, rng), TTFT_FLOOR_MS / 1000)

    def delta_seconds(self, delta: str, rng: random.Random | None = None,
                      override_ms: float | None = None) -> float:
        if override_ms is None and self.llm_delay_ms is None and self.llm_tokens_per_s <= 0:
            return DELTA_FLOOR_MS / 1000  # no pace but the floor (`instant`): nothing to scale
        if override_ms is not None:
            ms = override_ms
        elif self.llm_delay_ms is not None:
            ms = self.llm_delay_ms
        elif self.llm_tokens_per_s > 0:
            ms = 1000 * max(1.0, len(delta) / CHARS_PER_TOKEN) / self.llm_tokens_per_s
        else:
            ms = 0.0
        return max(self._scaled(ms, rng), DELTA_FLOOR_MS / 1000)

    def tts_seconds(self, text: str, rng: random.Random | None = None) -> float:
        """0 means: synthesize at once, in the same step (the `instant` profile)."""
        return self._scaled(self.tts_base_ms + self.tts_ms_per_char * len(text), rng)


PROFILES: dict[str, Timing] = {
    "realistic": Timing("realistic", stt_base_ms=300, stt_ms_per_audio_s=25, llm_ttft_ms=450,
                        llm_tokens_per_s=70, tts_base_ms=250, tts_ms_per_char=2, jitter=0.2),
    "fast": Timing("fast", stt_base_ms=60, stt_ms_per_audio_s=5, llm_ttft_ms=120,
                   llm_tokens_per_s=250, tts_base_ms=40, tts_ms_per_char=0.3, jitter=0.1),
    "instant": Timing("instant"),
}
SETTINGS = tuple(f.name for f in fields(Timing) if f.name != "profile")


def _convert(name: str, value, source: str):
    if name == "llm_delay_ms" and (value is None or str(value).strip().lower()
                                   in ("", "none", "off")):
        return None
    try:
        number = int(value) if name == "seed" else float(value)
    except (TypeError, ValueError):
        raise TimingError(f"{source}: {name} must be a number, got {value!r}") from None
    if name != "seed" and not 0 <= number <= 600_000:
        raise TimingError(f"{source}: {name} must be between 0 and 600000, got {value!r}")
    if name == "jitter" and number > 1:
        raise TimingError(f"{source}: jitter must be between 0 and 1, got {value!r}")
    return number


def read_file(path: str | Path) -> dict:
    """A TOML, YAML or JSON file: settings at the top level or under a `timing` table."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TimingError(f"timing file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise TimingError(f"timing file {path}: use a .toml, .yaml, .yml or .json file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
        if isinstance(exc, TimingError):
            raise
        raise TimingError(f"timing file {path}: not valid: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("timing"), dict):
        data = data["timing"]
    if not isinstance(data, dict):
        raise TimingError(f"timing file {path}: expected a table of settings")
    return data


def resolve(profile: str | None = None, flags: dict | None = None,
            env: dict | None = None, file: str | Path | None = None) -> Timing:
    """The timing in force. `flags` hold command-line values (None = not given), `env` the
    environment (os.environ by default), `file` a timing file (else $ASTRBOT_SIM_TIMING_FILE)."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    file = file or env.get(ENV_PREFIX + "TIMING_FILE") or None
    from_file = {str(k): v for k, v in read_file(file).items()} if file else {}
    unknown = set(from_file) - set(SETTINGS) - {"profile"}
    if unknown:
        raise TimingError(f"timing file {file}: unknown setting(s) {', '.join(sorted(unknown))}"
                          f"; known: profile, {', '.join(SETTINGS)}")
    name = profile or env.get(ENV_PREFIX + "TIMING_PROFILE") or from_file.get("profile") \
        or DEFAULT_PROFILE
    if name not in PROFILES:
        raise TimingError(f"unknown timing profile {name!r}; choose one of "
                          f"{', '.join(PROFILES)}")
    chosen: dict = {}
    for setting in SETTINGS:  # lowest precedence first
        if setting in from_file:
            chosen[setting] = _convert(setting, from_file[setting], f"timing file {file}")
        env_value = env.get(ENV_PREFIX + setting.upper())
        if env_value is not None and env_value != "":
            chosen[setting] = _convert(setting, env_value, ENV_PREFIX + setting.upper())
        if setting in flags:
            chosen[setting] = _convert(setting, flags[setting], f"--timing {setting}")
    return replace(PROFILES[name], **chosen)


def parse_assignments(items: list[str]) -> dict:
    """`--timing NAME=VALUE` flags as a dict (unknown names refused)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in SETTINGS:
            raise TimingError(f"--timing {item!r}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(SETTINGS)}")
        out[name] = value.strip()
    return out
