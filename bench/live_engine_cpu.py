"""CPU per Live API text turn of the simulator's own Python, without sockets or an event loop
to share: the protocol engine (`simulator/live/engine.py`), the frame encoding of the outbox
(`outbox.py`) and the history writes, driven in one process exactly as the WebSocket adapter
drives them with the `instant` timing profile (every sentence's speech at once), turn after
turn on one session.

End-to-end figures (bench/live_limit.py, bench/live_bench.py) move by +-15 % with the load of a
shared machine; this one is CPU time of one process over thousands of turns, so two versions of
the code can be compared in alternated runs (`PYTHONPATH=<other checkout>` runs another one).

Only prints figures (one line per round, the median, and a `BENCH_JSON {...}` line).
Exit status: 0 ran, 2 bad options.

    python bench/live_engine_cpu.py                      # 5 rounds of 5,000 turns
    python bench/live_engine_cpu.py --store              # history in a real SQLite store
    python bench/live_engine_cpu.py --profile            # + the top 25 functions (cProfile)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from simulator.backends import llm as sim_llm
from simulator.backends import speech
from simulator.history import MemoryHistory, StoreHistory
from simulator.live.effects import SaveMessage, SaveTurn, Send, Speak, StartTurn, write_history
from simulator.live.engine import LiveSession
from simulator.live.outbox import Outbox
from simulator.store import Store

TEXT = "hello from the benchmark"  # bench/live_limit.py's turn: 22 frames


class Driver:
    """One session, its outbox and history; `turn()` runs one whole text turn."""

    def __init__(self, history):
        self.history, self.outbox = history, Outbox(limit=0)
        self.session = LiveSession("engine-bench")
        self.raw = json.dumps({"t": "text_input", "text": TEXT})
        self.frames = 0

    def apply(self, effects) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.outbox.put(effect.frame)
                self.frames += 1
            elif isinstance(effect, (SaveMessage, SaveTurn)):
                announced = write_history(self.history, effect)
                if announced is not None:
                    self.outbox.put(announced)
            elif isinstance(effect, Speak):  # instant speech: in the same step, in order
                self.apply(self.session.spoken(effect.turn, speech.synthesize(effect.text)))

    def turn(self) -> None:
        session = self.session
        effects = session.receive_text(self.raw)
        start = next(e for e in effects if isinstance(e, StartTurn))
        self.apply(effects)
        self.outbox.take()  # the writer's first batch: metrics, user_msg
        clean, directives = sim_llm.parse(start.text)
        for delta in sim_llm.split_deltas(sim_llm.reply_for(clean, directives),
                                          directives.chunk):
            self.apply(session.llm_delta(start.turn, delta))
        self.apply(session.llm_done(start.turn))
        self.history.flush()  # the writer flushes the history before its next write
        self.outbox.take()


def run_round(driver: Driver, turns: int) -> float:
    """Microseconds of CPU per turn over `turns` turns."""
    started = time.process_time()
    for _ in range(turns):
        driver.turn()
    return 1e6 * (time.process_time() - started) / turns


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="live_engine_cpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=5000, help="turns per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--store", action="store_true",
                   help="the history in a real SQLite store (a transaction per turn)")
    p.add_argument("--profile", action="store_true", help="one more round under cProfile")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if min(args.turns, args.rounds) < 1:
        print("live_engine_cpu: --turns and --rounds must be >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="live-engine-cpu-") as tmp:
        store = Store(Path(tmp)) if args.store else None
        driver = Driver(StoreHistory(store) if store else MemoryHistory())
        if not args.store:
            driver.history.rows = _Discard()  # a million turns must not keep a million rows
        run_round(driver, 200)  # warm the caches a running simulator has warm
        frames_per_turn = driver.frames / 200
        rounds = [run_round(driver, args.turns) for _ in range(args.rounds)]
        for i, us in enumerate(rounds, 1):
            print(f"  round {i}: {us:.1f} us of CPU per turn")
        median = statistics.median(rounds)
        print(f"live engine CPU per text turn ({frames_per_turn:g} frames, history "
              f"{'SQLite' if args.store else 'in memory'}): median {median:.1f} us, "
              f"min {min(rounds):.1f} us")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(run_round, driver, args.turns)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        if store is not None:
            store.close()
    print("BENCH_JSON " + json.dumps({"bench": "live_engine_cpu", "store": args.store,
                                      "turns": args.turns, "rounds_us": [round(r, 1)
                                                                         for r in rounds],
                                      "median_us": round(median, 1)}), flush=True)
    return 0


class _Discard(list):
    """A list that keeps nothing (MemoryHistory's rows, in a long run)."""

    def append(self, item) -> None:
        pass

    def __len__(self) -> int:
        return 0


if __name__ == "__main__":
    sys.exit(main())
