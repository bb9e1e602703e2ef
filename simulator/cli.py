"""`astrbot-sim`: run the reference simulator (127.0.0.1:6185, data in ./data by default).

`astrbot-sim providers ...` runs the offline OpenAI-compatible provider doubles instead
(simulator/providers.py; `astrbot-sim providers --help`)."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from .app import SIM, create_app
from .backends import timing
from .config import DEFAULT_HOST, DEFAULT_PORT, SimConfig
from .faults import FaultError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="astrbot-sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    p.add_argument("--data-dir", default="data", help="data directory with the SQLite file")
    p.add_argument("--llm-delay-ms", type=float, default=None,
                   help="a fixed pause between LLM deltas instead of the profile's token rate "
                        "(or $ASTRBOT_SIM_LLM_DELAY_MS)")
    p.add_argument("--timing-profile", choices=sorted(timing.PROFILES), default=None,
                   help=f"timing model (default {timing.DEFAULT_PROFILE}, or "
                        "$ASTRBOT_SIM_TIMING_PROFILE, or the timing file's `profile`)")
    p.add_argument("--timing-file", default=None, metavar="FILE",
                   help="timing settings in TOML, YAML or JSON (or $ASTRBOT_SIM_TIMING_FILE)")
    p.add_argument("--timing", action="append", default=[], metavar="NAME=VALUE",
                   help=f"one timing setting ({', '.join(timing.SETTINGS)}); repeatable; "
                        "beats $ASTRBOT_SIM_<NAME> and the timing file")
    p.add_argument("--faults", action="store_true", default=None,
                   help="enable the loopback-only fault control surface /_sim/faults "
                        "(or ASTRBOT_SIM_FAULTS=1)")
    p.add_argument("--faults-file", default=None, metavar="FILE",
                   help="faults to arm at start (TOML, YAML or JSON); enables /_sim/faults")
    p.add_argument("--no-tts", action="store_true", help="answer live turns with bot_msg only")
    p.add_argument("--client-mode", action="store_true", default=None,
                   help="grade every client frame against the CLIENT-* requirements: report on "
                   "GET /_sim/client-report and, when stopping, in --client-report")
    p.add_argument("--client-report", metavar="DIR", default=None,
                   help="where the client report is written when the simulator stops (implies "
                   "--client-mode; default reports/client-<run id>)")
    p.add_argument("--ws-idle-timeout", type=float, default=None, metavar="SECONDS",
                   help="close a WebSocket with 1001 after this long without a client frame "
                        "(default 300; 0 = never)")
    p.add_argument("--ws-outbox-bytes", type=int, default=None, metavar="BYTES",
                   help="bytes that may wait for a WebSocket client that does not read; past "
                        "them for 2 s the connection is closed with 1008 'client is not "
                        "reading' (default 2097152; 0 = no limit)")
    p.add_argument("--ws-max-queued", type=int, default=None, metavar="N",
                   help="/api/v1/chat/ws sends that may wait behind the running reply on one "
                        "connection; one more is refused with PROCESSING_ERROR (default 8)")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["providers"]:  # a subcommand; every other use stays `astrbot-sim --flags`
        from . import providers

        return providers.main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    for flag in ("ws_idle_timeout", "ws_outbox_bytes", "ws_max_queued"):
        if (getattr(args, flag) or 0) < 0:
            print(f"astrbot-sim: --{flag.replace('_', '-')} must be 0 or more", file=sys.stderr)
            return 2
    try:
        flags = {**timing.parse_assignments(args.timing), "llm_delay_ms": args.llm_delay_ms}
        config = SimConfig.from_env(timing_profile=args.timing_profile,
                                    timing_file=args.timing_file, timing_flags=flags,
                                    host=args.host, port=args.port, data_dir=args.data_dir,
                                    tts_enabled=False if args.no_tts else None,
                                    client_mode=True if args.client_report
                                    else args.client_mode,
                                    client_report_dir=args.client_report,
                                    faults=args.faults, faults_file=args.faults_file,
                                    ws_idle_timeout=args.ws_idle_timeout,
                                    ws_outbox_bytes=args.ws_outbox_bytes,
                                    ws_max_queued=args.ws_max_queued)
        app = create_app(config)
    except (timing.TimingError, FaultError) as exc:
        print(f"astrbot-sim: {exc}", file=sys.stderr)
        return 2
    sim = app[SIM]
    print(f"AstrBot simulator on http://{config.host}:{config.port} "
          f"(data: {sim.store.path})", flush=True)
    print(f"  - timing profile {config.timing.profile}"
          + (f"; faults on: {len(sim.faults.armed)} armed, control at /_sim/faults"
             if sim.faults.enabled else ""), flush=True)
    for note in sim.bootstrap_messages:
        print(f"  - {note}", flush=True)
    web.run_app(app, host=config.host, port=config.port, print=None,
                access_log=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
