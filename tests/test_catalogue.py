"""The requirement catalogue: the shipped one is valid and fully covered by checks; the loader
refuses every kind of broken entry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conformance.catalogue import CatalogueError, load, parse
from conformance.contract import specs_dir

SCENARIOS = Path(__file__).resolve().parent.parent / "conformance" / "scenarios"


def marked_requirements() -> dict[str, list[str]]:
    """requirement id -> the check functions marked with it, read from the scenario sources."""
    found: dict[str, list[str]] = {}
    for path in SCENARIOS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "requirement":
                for arg in node.args:
                    assert isinstance(arg, ast.Constant), \
                        f"{path.name}:{node.lineno}: requirement ids must be literal strings"
                    found.setdefault(arg.value, []).append(f"{path.name}:{node.lineno}")
    return found


def test_shipped_catalogue_loads():
    catalogue = load()
    assert len(catalogue.requirements) >= 30
    assert {"live-api", "open-api", "openapi-v1", "legacy-jwt-live"} <= set(catalogue.profiles)


def test_every_requirement_has_a_check_and_every_check_a_requirement():
    catalogue, marked = load(), marked_requirements()
    unchecked = sorted(set(catalogue.requirements) - set(marked))
    assert not unchecked, f"requirements without a check: {unchecked}"
    unknown = sorted(set(marked) - set(catalogue.requirements))
    assert not unknown, f"checks naming unknown requirements: {unknown}"


def test_client_requirements_are_judged_by_the_simulator_not_the_suite():
    """CLIENT-* requirements (profile `client`) stay out of the suite's profiles, requirements
    and reports; each has exactly one rule in the simulator's client-mode table."""
    from simulator.client_mode import RULES
    from simulator.client_report import requirements as simulator_side

    catalogue = load()
    assert "client" not in catalogue.profiles
    assert not [rid for rid in catalogue.requirements if rid.startswith("CLIENT-")]
    judged = catalogue.simulator_judged
    assert judged and all(r.profile == "client" for r in judged.values())
    assert set(judged) == set(RULES), "client requirements and client-mode rules differ"
    assert [r["id"] for r in simulator_side()] == list(judged)  # the simulator reads the same


GOOD = {"id": "LIVE-TURN-901", "level": "MUST", "profile": "live-api",
        "source": [{"seed": "001", "section": "#### `end`"}], "text": "x"}


def catalogue_with(*entries) -> dict:
    return {"profiles": {"live-api": "live"}, "requirements": list(entries)}


def test_a_valid_entry_parses_with_its_citation():
    req = parse(catalogue_with(GOOD), specs_dir() / "sources").requirements["LIVE-TURN-901"]
    assert req.strict and req.cite() == "seed 001 #### `end`"


def test_a_public_standard_is_a_source_where_the_seeds_are_silent():
    entry = {**GOOD, "source": [{"standard": "RFC 6455", "section": "7.4.1"}]}
    req = parse(catalogue_with(entry), specs_dir() / "sources").requirements["LIVE-TURN-901"]
    assert req.cite() == "RFC 6455 7.4.1"


@pytest.mark.parametrize("entry, problem", [
    ({**GOOD, "level": "SHALL"}, "level 'SHALL'"),
    ({**GOOD, "profile": "voice"}, "unknown profile 'voice'"),
    ({**GOOD, "id": "live-1"}, "id must look like"),
    ({**GOOD, "source": [{"seed": "009", "section": "x"}]}, "no seed file 009"),
    ({**GOOD, "source": [{"seed": "001", "section": "#### `nope`"}]}, "not found in seed 001"),
    ({**GOOD, "source": [{"behavior": "LIVE-999"}]}, "behavior LIVE-999 not found"),
    ({**GOOD, "source": [{"url": "x"}]}, "needs `seed`"),
    ({**GOOD, "source": [{"standard": "RFC 1149", "section": "1"}]}, "unknown standard"),
    ({**GOOD, "source": [{"standard": "RFC 6455"}]}, "needs a `section`"),
    ({k: v for k, v in GOOD.items() if k != "text"}, "missing text"),
])
def test_broken_entries_are_refused(entry, problem):
    with pytest.raises(CatalogueError) as err:
        parse(catalogue_with(entry), specs_dir() / "sources")
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_simulator_profiles_must_be_known_and_are_kept_apart():
    with pytest.raises(CatalogueError) as err:
        parse({**catalogue_with(GOOD), "simulator_profiles": ["nope"]}, specs_dir() / "sources")
    assert any("simulator_profiles: unknown profile 'nope'" in p for p in err.value.problems)
    data = {"profiles": {"live-api": "live", "client": "clients"},
            "simulator_profiles": ["client"],
            "requirements": [GOOD, {**GOOD, "id": "CLIENT-X-001", "profile": "client"}]}
    catalogue = parse(data, specs_dir() / "sources")
    assert list(catalogue.profiles) == ["live-api"]
    assert list(catalogue.requirements) == ["LIVE-TURN-901"]
    assert list(catalogue.simulator_judged) == ["CLIENT-X-001"]


def test_duplicates_are_refused_and_all_problems_listed():
    with pytest.raises(CatalogueError) as err:
        parse(catalogue_with(GOOD, GOOD, {**GOOD, "id": "LIVE-TURN-902", "level": "X"}),
              specs_dir() / "sources")
    assert len(err.value.problems) == 2
    assert "duplicate id" in err.value.problems[0]
