"""Simulator settings: command line first, then environment variables, then defaults.

The timing model has its own precedence (flag > `ASTRBOT_SIM_<SETTING>` > timing file >
profile), resolved by `backends/timing.py`. `SimConfig()` built in code (tests, embedding) is
`instant`; `astrbot-sim` (through `from_env`) is `realistic` unless told otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .backends import timing as sim_timing

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6185


@dataclass
class SimConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path("data"))
    # Pre-created admin and API key for scripts (ASTRBOT_SIM_ADMIN_USERNAME / _PASSWORD,
    # ASTRBOT_SIM_API_KEY). Without them the server starts in first-run state.
    admin_username: str | None = None
    admin_password: str | None = None
    api_key: str | None = None
    # AstrBot with skip_default_password_auth on loopback lets POST /auth/setup run without
    # credentials. The simulator only binds to loopback by default, so it is on.
    skip_default_password_auth: bool = True
    tts_enabled: bool = True
    timing: sim_timing.Timing = field(default_factory=sim_timing.Timing)  # instant
    faults: bool = False  # the /_sim/faults control surface (faults.py)
    faults_file: Path | None = None  # faults armed at start (enables the surface too)
    max_frame_bytes: int = 4 * 1024 * 1024
    # WebSocket connections (simulator/live/outbox.py, ws.py): bytes that may wait for a client
    # that does not read (then close 1008 "client is not reading"; 0 = no limit), seconds
    # without a client frame before close 1001 (0 = never), /api/v1/chat/ws sends that may
    # wait behind the running reply (one more is refused with PROCESSING_ERROR)
    ws_outbox_bytes: int = 2 * 1024 * 1024
    ws_idle_timeout: float = 300.0
    ws_max_queued: int = 8
    # client mode (client_mode.py): grade the clients; write the report here when stopping
    client_mode: bool = False
    client_report_dir: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.client_report_dir is not None:
            self.client_report_dir = Path(self.client_report_dir)
        if self.faults_file is not None:
            self.faults_file = Path(self.faults_file)

    @classmethod
    def from_env(cls, timing_profile: str | None = None, timing_file: str | None = None,
                 timing_flags: dict | None = None, **overrides) -> SimConfig:
        """Raises `backends.timing.TimingError` for a bad timing profile, setting or file."""
        env = os.environ
        cfg = cls(
            admin_username=env.get("ASTRBOT_SIM_ADMIN_USERNAME") or None,
            admin_password=env.get("ASTRBOT_SIM_ADMIN_PASSWORD") or None,
            api_key=env.get("ASTRBOT_SIM_API_KEY") or None,
            client_mode=env.get("ASTRBOT_SIM_CLIENT_MODE", "0") not in ("0", "false", "off", ""),
            client_report_dir=env.get("ASTRBOT_SIM_CLIENT_REPORT") or None,
            tts_enabled=env.get("ASTRBOT_SIM_TTS", "1") not in ("0", "false", "off"),
            timing=sim_timing.resolve(timing_profile, timing_flags, env, timing_file),
            faults=env.get("ASTRBOT_SIM_FAULTS", "0").lower() not in ("", "0", "false", "off"),
            faults_file=env.get("ASTRBOT_SIM_FAULTS_FILE") or None,
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        cfg.__post_init__()
        return cfg
