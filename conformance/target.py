"""Which server to test and with which credentials.

Each setting is taken from the command line, else the environment
(`ASTRBOT_CONFORMANCE_<NAME>`), else the `[target]` table of a TOML file (`--config`, or
`$ASTRBOT_CONFORMANCE_CONFIG`), else the default:

    [target]
    base_url = "http://127.0.0.1:6185"
    name = "my-deployment"          # shown in reports
    api_key = "abk_..."             # use this key as is, or ...
    username = "admin"              # ... log in (or run first-run setup) and create keys
    password = "..."
    timeout = 10                    # seconds, every single wait
    slow_text = "..."               # a user text the target answers slowly (races need it)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .outcomes import SuiteError

ENV_PREFIX = "ASTRBOT_CONFORMANCE_"


@dataclass
class TargetSettings:
    base_url: str = ""
    name: str = ""
    api_key: str | None = None
    jwt: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    # Spec-driven fuzzing sends writes (POST/PUT/PATCH/DELETE) only to a target that may lose
    # its data; `sandboxed` means operations that reach the outside world in AstrBot (update,
    # pip install, install from GitHub...) are simulated there too. `run --simulator` sets both.
    allow_writes: bool = False
    sandboxed: bool = False
    # A user text whose reply takes the target a few seconds, so that an interrupt or a second
    # input lands while the turn runs. The [[sim:...]] directives slow the reference simulator;
    # a real LLM reads the words.
    slow_text: str = ("[[sim:first_delay=300]] [[sim:delay=30]] [[sim:sentences=6]] "
                      "Please tell me a long story, in six sentences.")

    @classmethod
    def resolve(cls, cli: dict | None = None, env: dict | None = None) -> TargetSettings:
        cli = {k: v for k, v in (cli or {}).items() if v not in (None, "")}
        env = os.environ if env is None else env
        config_path = cli.pop("config", None) or env.get(ENV_PREFIX + "CONFIG")
        from_file: dict = {}
        if config_path:
            path = Path(config_path)
            if not path.is_file():
                raise SuiteError(f"target config file not found: {path}")
            with open(path, "rb") as fh:
                from_file = tomllib.load(fh).get("target", {})
        values = {}
        for f in fields(cls):
            for source in (cli.get(f.name), env.get(ENV_PREFIX + f.name.upper()),
                           from_file.get(f.name)):
                if source not in (None, ""):
                    values[f.name] = source
                    break
        settings = cls(**values)
        settings.timeout = float(settings.timeout)
        for flag in ("allow_writes", "sandboxed"):
            value = getattr(settings, flag)
            if isinstance(value, str):
                setattr(settings, flag, value.strip().lower() in ("1", "true", "yes", "on"))
        if not settings.base_url:
            raise SuiteError("no target: give --base-url (or ASTRBOT_CONFORMANCE_BASE_URL, or "
                             "base_url in the [target] table of --config)")
        parts = urlsplit(settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SuiteError(f"base URL must be http(s)://host:port, got {settings.base_url!r}")
        settings.base_url = settings.base_url.rstrip("/")
        settings.name = settings.name or parts.netloc
        return settings

    def http_url(self, path: str) -> str:
        return self.base_url + path

    def ws_url(self, path: str, **query) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        url = scheme + self.base_url[self.base_url.index("://"):] + path
        query = {k: v for k, v in query.items() if v is not None}
        return url + ("?" + urlencode(query) if query else "")

    def secrets(self) -> list[str]:
        return [s for s in (self.api_key, self.jwt, self.password) if s]
