"""specs/requirements.yaml: the requirement catalogue, and its loader.

Format:

    profiles:                      # name -> what it covers
      live-api: "..."
    requirements:
      - id: LIVE-TURN-001          # unique, upper case, used in @pytest.mark.requirement
        level: MUST                # MUST | SHOULD | MAY (RFC 2119)
        profile: live-api          # one of `profiles`
        source:                    # one or more; each must resolve
          - seed: "001"            # a file specs/sources/001_*.txt ...
            section: "#### `end`"  # ... that contains this text
          - behavior: LIVE-012     # an ID of specs/sources/astrbot-4.26.2-behavior.md
          - standard: RFC 6455     # where the seeds are silent: a public standard (STANDARDS)
            section: "7.4.1"       # ... and the part of it relied on
        text: The server MUST ...
    simulator_profiles: [client]   # judged by the simulator (client mode), not by the suite

Requirements of a `simulator_profiles` profile (CLIENT-*: rules for clients) are judged by
`astrbot-sim --client-mode`; they are kept apart in `Catalogue.simulator_judged`, so the suite
neither runs nor reports them (`profiles` and `requirements` are the suite's).

`load()` refuses a catalogue with duplicate ids, unknown levels or profiles, or a source that
does not resolve, listing every problem at once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from .contract import load_yaml, specs_dir

LEVELS = ("MUST", "SHOULD", "MAY")
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-\d{3}$")
BEHAVIOR_FILE = "astrbot-4.26.2-behavior.md"
# the public standards a requirement may cite where the seeds are silent (hostile input,
# credentials, object-level authorization): name -> where to read it
STANDARDS = {
    "RFC 6455": "https://www.rfc-editor.org/rfc/rfc6455",  # The WebSocket Protocol
    "RFC 8259": "https://www.rfc-editor.org/rfc/rfc8259",  # JSON
    "RFC 7519": "https://www.rfc-editor.org/rfc/rfc7519",  # JSON Web Token
    "RFC 9110": "https://www.rfc-editor.org/rfc/rfc9110",  # HTTP Semantics
    "OWASP API Security Top 10 2023": "https://owasp.org/API-Security/editions/2023/en/0x11-t10/",
    "OWASP ASVS 4.0.3": "https://owasp.org/www-project-application-security-verification-standard/",
}


class CatalogueError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("invalid requirement catalogue:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    profile: str
    source: tuple[dict, ...]
    text: str

    @property
    def strict(self) -> bool:
        return self.level == "MUST"

    def cite(self) -> str:
        parts = []
        for src in self.source:
            if "seed" in src:
                parts.append(f"seed {src['seed']} {src['section']}")
            elif "standard" in src:
                parts.append(f"{src['standard']} {src['section']}")
            else:
                parts.append(f"behavior {src['behavior']}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Catalogue:
    profiles: dict[str, str]
    requirements: dict[str, Requirement]
    simulator_judged: dict[str, Requirement] = field(default_factory=dict)

    def in_profiles(self, profiles: set[str] | None) -> list[Requirement]:
        return [r for r in self.requirements.values() if profiles is None or r.profile in profiles]


def _seed_texts(sources: Path) -> dict[str, str]:
    return {p.name.split("_", 1)[0]: p.read_text(encoding="utf-8")
            for p in sorted(sources.glob("[0-9][0-9][0-9]_*.txt"))}


def parse(data: dict, sources: Path) -> Catalogue:
    problems: list[str] = []
    profiles = data.get("profiles") or {}
    seeds = _seed_texts(sources)
    behavior_path = sources / BEHAVIOR_FILE
    behaviors = behavior_path.read_text(encoding="utf-8") if behavior_path.exists() else ""
    requirements: dict[str, Requirement] = {}
    for index, entry in enumerate(data.get("requirements") or []):
        rid = entry.get("id") if isinstance(entry, dict) else None
        where = rid or f"entry #{index}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping")
            continue
        missing = [k for k in ("id", "level", "profile", "source", "text") if not entry.get(k)]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if not ID_PATTERN.match(rid):
            problems.append(f"{rid}: id must look like AREA-TOPIC-001")
        if rid in requirements:
            problems.append(f"{rid}: duplicate id")
        if entry["level"] not in LEVELS:
            problems.append(f"{rid}: level {entry['level']!r} is not one of {', '.join(LEVELS)}")
        if entry["profile"] not in profiles:
            problems.append(f"{rid}: unknown profile {entry['profile']!r}")
        source = entry["source"] if isinstance(entry["source"], list) else [entry["source"]]
        for src in source:
            problems += _check_source(rid, src, seeds, behaviors)
        requirements[rid] = Requirement(rid, entry["level"], entry["profile"],
                                        tuple(source), " ".join(str(entry["text"]).split()))
    judged_elsewhere = set(data.get("simulator_profiles") or [])
    problems += [f"simulator_profiles: unknown profile {p!r}"
                 for p in sorted(judged_elsewhere - set(profiles))]
    if problems:
        raise CatalogueError(problems)
    return Catalogue({k: v for k, v in profiles.items() if k not in judged_elsewhere},
                     {k: r for k, r in requirements.items() if r.profile not in judged_elsewhere},
                     {k: r for k, r in requirements.items() if r.profile in judged_elsewhere})


def _check_source(rid: str, src, seeds: dict[str, str], behaviors: str) -> list[str]:
    if not isinstance(src, dict):
        return [f"{rid}: source {src!r} is not a mapping"]
    if "seed" in src:
        seed = str(src["seed"])
        if seed not in seeds:
            return [f"{rid}: no seed file {seed}_*.txt"]
        section = src.get("section")
        if not section or section not in seeds[seed]:
            return [f"{rid}: section {section!r} not found in seed {seed}"]
        return []
    if "behavior" in src:
        if f"**{src['behavior']}.**" not in behaviors:
            return [f"{rid}: behavior {src['behavior']} not found in {BEHAVIOR_FILE}"]
        return []
    if "standard" in src:
        if src["standard"] not in STANDARDS:
            return [f"{rid}: unknown standard {src['standard']!r} (known: "
                    f"{', '.join(STANDARDS)})"]
        if not src.get("section"):
            return [f"{rid}: standard {src['standard']} needs a `section`"]
        return []
    return [f"{rid}: source needs `seed` + `section`, `behavior`, or `standard` + `section`"]


def source_label(src: dict) -> str:
    """A short name of one source, for tables: `seed 001`, `LIVE-012`, `RFC 6455 7.4.1`."""
    if "seed" in src:
        return f"seed {src['seed']}"
    if "standard" in src:
        return f"{src['standard']} {src['section']}"
    return str(src.get("behavior", "?"))


@functools.cache
def load() -> Catalogue:
    return parse(load_yaml("requirements.yaml"), specs_dir() / "sources")
