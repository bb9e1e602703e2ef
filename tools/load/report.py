"""The load run's summary: from the Locust master's JSON (`locustfile._write_summary`) to the
table printed at the end and the JSON + Markdown files under reports/load/."""

from __future__ import annotations

import json
from pathlib import Path

WS_TURNS = ("live text turn", "live voice turn", "jwt live text turn", "jwt live voice turn")


def summarize(raw: dict, meta: dict) -> dict:
    """The figures of one run: sessions held, turns/s, p50/p99, lost turns, violations."""
    rows = {(r["type"], r["name"]): r for r in raw["rows"]}
    failures = raw["failures"]

    def count(prefix: str, names=None) -> int:
        return sum(f["occurrences"] for f in failures if f["error"].startswith(prefix)
                   and (names is None or f["name"] in names))

    connects = rows.get(("WS", "connect"), {"requests": 0, "failures": 0})
    opened = connects["requests"] - connects["failures"]
    dropped = count("session dropped", ("session dropped",))
    lost_ws = count("lost turn", WS_TURNS)
    turns = raw["turns"]
    lost = count("lost turn")
    duration = raw["duration_s"] or 0.0
    completed = turns["requests"] - lost
    reads = [r for r in raw["rows"] if r["type"] == "GET"]
    read_count = sum(r["requests"] for r in reads)
    violations = count("violation:")
    rules: dict[str, int] = {}
    for f in failures:
        if f["error"].startswith("violation:"):
            rules[f["error"]] = rules.get(f["error"], 0) + f["occurrences"]
    return {
        **meta,
        "duration_s": duration,
        "sessions_opened": opened, "connect_failures": connects["failures"],
        "sessions_held": max(0, opened - dropped - lost_ws),
        "sessions_dropped": dropped,
        "turns": turns["requests"], "turns_completed": completed,
        "turns_per_s": round(completed / duration, 1) if duration else 0.0,
        "turn_p50_ms": turns["p50_ms"], "turn_p99_ms": turns["p99_ms"],
        "lost_turns": lost, "violations": violations, "violation_rules": rules,
        "other_failures": sum(f["occurrences"] for f in failures) - lost - violations,
        "reads": read_count, "reads_per_s": round(read_count / duration, 1) if duration else 0.0,
        "rows": raw["rows"], "failures": failures,
    }


COLUMNS = (("target", "target"), ("users", "users"), ("sessions held", "sessions_held"),
           ("turns/s", "turns_per_s"), ("turn p50 ms", "turn_p50_ms"),
           ("turn p99 ms", "turn_p99_ms"), ("lost turns", "lost_turns"),
           ("violations", "violations"), ("reads/s", "reads_per_s"))


def markdown(summaries: list[dict]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    rule = "|" + "|".join(" --- " for _ in COLUMNS) + "|"
    lines = [head, rule]
    for s in summaries:
        lines.append("| " + " | ".join("-" if s.get(k) is None else str(s.get(k))
                                       for _, k in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def text(summary: dict) -> str:
    s = summary
    out = [f"load run against {s['target']} ({s['mode']}; {s['users']} users, run time "
           f"{s['run_time']}, mix {s['mix']}, pace {s['pace']:g} s)",
           f"  sessions held    {s['sessions_held']} of {s['sessions_opened']} opened "
           f"({s['connect_failures']} connect failures, {s['sessions_dropped']} dropped)",
           f"  turns            {s['turns_completed']} completed of {s['turns']} in "
           f"{s['duration_s']:.1f} s: {s['turns_per_s']} turns/s",
           f"  turn latency     p50 {s['turn_p50_ms']} ms, p99 {s['turn_p99_ms']} ms "
           "(a lost turn counts at its timeout)",
           f"  lost turns       {s['lost_turns']}",
           f"  violations       {s['violations']}",
           f"  other failures   {s['other_failures']}",
           f"  REST reads       {s['reads']} ({s['reads_per_s']}/s)"]
    for rule_text, n in sorted(s["violation_rules"].items(), key=lambda kv: -kv[1])[:8]:
        out.append(f"    {n:>6} x {rule_text[:160]}")
    other = [f for f in s["failures"] if not f["error"].startswith(("violation:", "lost turn"))]
    for f in sorted(other, key=lambda f: -f["occurrences"])[:5]:
        out.append(f"    {f['occurrences']:>6} x {f['type']} {f['name']}: {f['error'][:140]}")
    return "\n".join(out)


def write(summary: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / summary["run_id"]
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    md_path.write_text(f"# Load run {summary['run_id']}\n\n{markdown([summary])}\n```\n"
                       f"{text(summary)}\n```\n")
    for name, path in (("latest.json", json_path), ("latest.md", md_path)):
        (out_dir / name).write_text(path.read_text())
    return json_path, md_path
