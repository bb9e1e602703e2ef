"""Simulator settings: command line first, then environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    llm_delay_ms: float = 0.0  # pause between two LLM deltas; 0 = as fast as possible
    max_frame_bytes: int = 4 * 1024 * 1024
    # client mode (client_mode.py): grade the clients; write the report here when stopping
    client_mode: bool = False
    client_report_dir: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.client_report_dir is not None:
            self.client_report_dir = Path(self.client_report_dir)

    @classmethod
    def from_env(cls, **overrides) -> SimConfig:
        env = os.environ
        cfg = cls(
            admin_username=env.get("ASTRBOT_SIM_ADMIN_USERNAME") or None,
            admin_password=env.get("ASTRBOT_SIM_ADMIN_PASSWORD") or None,
            api_key=env.get("ASTRBOT_SIM_API_KEY") or None,
            client_mode=env.get("ASTRBOT_SIM_CLIENT_MODE", "0") not in ("0", "false", "off", ""),
            client_report_dir=env.get("ASTRBOT_SIM_CLIENT_REPORT") or None,
            tts_enabled=env.get("ASTRBOT_SIM_TTS", "1") not in ("0", "false", "off"),
            llm_delay_ms=float(env.get("ASTRBOT_SIM_LLM_DELAY_MS", "0")),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        cfg.__post_init__()
        return cfg
