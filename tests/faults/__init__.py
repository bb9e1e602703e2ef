"""The fault catalogue: the real simulator with one behaviour changed, one small named fault
per entry, each the most plausible way a real implementation breaks a rule (not the easiest
to detect), plus allowed variations that break no rule. `./noxw -s mutants` starts each as a
process (`python -m tests.faults NAME [astrbot-sim options]`), runs the suite against it over
the network like against any target, and prints the kill matrix (tests/faults/mutants.py).

Adding a fault: a `Fault` in the area module it belongs to (one module per area, listed in
`AREAS`), with `breaks` naming every requirement the bug must make FAIL (NON-STRICT for a
SHOULD), `may` the ones the same bug may also break, and `patch` a function that changes the
simulator before its app is built (tests/faults/kit.py has the hooks). A fault with empty
`breaks` is an allowed variation: the suite must not blame it at all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

# the area modules, in the kill matrix's order
AREAS = ("live_turn", "live_interrupt", "live_busy", "live_auth", "live_chat", "jwt_paths",
         "rest_auth", "rest_schema", "open_api", "hostile_ws", "hostile_rest", "security",
         "allowed")


@dataclass(frozen=True)
class Fault:
    name: str  # unique, kebab-case
    doc: str  # what changed, and why an implementation would plausibly do it
    patch: Callable[[], None]  # changes the simulator (in the fault's own process)
    breaks: tuple[str, ...] = ()  # must each go FAIL (MUST) or NON-STRICT (SHOULD)
    may: tuple[str, ...] = ()  # the same bug may also break these; any other verdict is blame
    profiles: tuple[str, ...] = ()  # suite profiles to run; default: those of `breaks`
    sim_args: tuple[str, ...] = ()  # astrbot-sim options the target starts with, e.g. --no-tts
    # run the spec fuzzing (schemathesis, boundaries: ~50 s of a run)? None: when a -FUZZ-
    # requirement is in breaks or may, and for every allowed variation
    fuzz: bool | None = None
    area: str = field(default="", compare=False)  # filled in from its module

    @property
    def allowed(self) -> bool:
        return not self.breaks

    @property
    def fuzzed(self) -> bool:
        if self.fuzz is not None:
            return self.fuzz
        return self.allowed or any("-FUZZ-" in rid for rid in (*self.breaks, *self.may))


def catalogue(problems: list[str] | None = None) -> dict[str, Fault]:
    """Every fault by name, in AREAS order. A module that does not import, or a name defined
    twice (the first one is kept), is a problem: raised, or appended to `problems` when given
    (so one broken area does not stop the others from being run)."""
    faults: dict[str, Fault] = {}
    found: list[str] = []
    for area in AREAS:
        try:
            module = importlib.import_module(f"{__name__}.{area}")
        except Exception as exc:  # noqa: BLE001 - reported with the module's name
            found.append(f"tests/faults/{area}.py does not import: {exc!r}")
            continue
        for fault in module.FAULTS:
            if fault.name in faults:
                found.append(f"fault {fault.name!r} is defined twice (in "
                             f"{faults[fault.name].area} and {area}): rename one")
                continue
            faults[fault.name] = Fault(**{**fault.__dict__, "area": area})
    if found and problems is None:
        raise ValueError("; ".join(found))
    if problems is not None:
        problems.extend(found)
    return faults
