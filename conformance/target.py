"""Which server to test and with which credentials.

Each setting is taken from the command line, else the environment
(`ASTRBOT_CONFORMANCE_<NAME>`), else the `[target]` table of a TOML file (`--config`, or
`$ASTRBOT_CONFORMANCE_CONFIG`), else the default:

    [target]
    base_url = "http://127.0.0.1:6185"
    name = "my-deployment"          # shown in reports
    api_key = "abk_..."             # use this key as is, or ...
    username = "admin"              # ... log in and create keys
    password = "..."
    jwt = "eyJ..."                  # or a dashboard JWT instead of username/password
    timeout = 10                    # seconds, every single wait
    slow_text = "..."               # a user text the target answers slowly (races need it)
    setup_admin = false             # true: a target in first-run state may be set up
    operations = "GET /api/v1/personas,listPlugins"   # only these operations (selection.py)

Every problem with the settings themselves (no URL, a URL without a scheme, a missing or
unreadable file, an unknown key in [target], a timeout that is not a positive number, an
`operations` pattern that matches no operation of either OpenAPI document) raises
`ConfigurationError`: a usage error, reported before anything is sent.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .outcomes import ConfigurationError
from .selection import Selection, parse, select_operations

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
    # May the suite run first-run setup (POST /api/v1/auth/setup) on a target in first-run
    # state? False: no, preflight fails naming the flag. True: yes, and the generated admin
    # credentials are printed once and saved (mode 0600) next to the report. "quiet": yes,
    # silently; `run --simulator` uses it for the throw-away simulator it started itself.
    setup_admin: bool | str = False
    # A user text whose reply takes the target a few seconds, so that an interrupt or a second
    # input lands while the turn runs. The [[sim:...]] directives slow the reference simulator;
    # a real LLM reads the words.
    # Only these operations for the checks that walk the OpenAPI documents' operation list
    # (conformance/selection.py: comma-separated "METHOD /path" globs or operationIds); "": all.
    operations: str = ""
    slow_text: str = ("[[sim:first_delay=300]] [[sim:delay=30]] [[sim:sentences=6]] "
                      "Please tell me a long story, in six sentences.")

    @classmethod
    def resolve(cls, cli: dict | None = None, env: dict | None = None) -> TargetSettings:
        cli = {k: v for k, v in (cli or {}).items() if v not in (None, "")}
        env = os.environ if env is None else env
        config_path = cli.pop("config", None) or env.get(ENV_PREFIX + "CONFIG")
        from_file: dict = {}
        if config_path:
            from_file = _read_config(Path(config_path))
        values = {}
        for f in fields(cls):
            for source in (cli.get(f.name), env.get(ENV_PREFIX + f.name.upper()),
                           from_file.get(f.name)):
                if source not in (None, ""):
                    values[f.name] = source
                    break
        settings = cls(**values)
        settings.timeout = _timeout(settings.timeout)
        settings.operations = ",".join(select_operations(settings.operations).patterns)
        for flag in ("allow_writes", "sandboxed", "setup_admin"):
            value = getattr(settings, flag)
            if isinstance(value, str) and not (flag == "setup_admin" and value == "quiet"):
                setattr(settings, flag, value.strip().lower() in ("1", "true", "yes", "on"))
        if not settings.base_url:
            raise ConfigurationError(
                "no target: give --base-url (or ASTRBOT_CONFORMANCE_BASE_URL, or base_url in "
                "the [target] table of --config)")
        parts = urlsplit(str(settings.base_url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"the base URL must look like http://host:port, got "
                                     f"{settings.base_url!r}")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise ConfigurationError(f"bad port in the base URL {settings.base_url!r}") from exc
        if bool(settings.username) != bool(settings.password):
            raise ConfigurationError("give --username and --password together (or neither)")
        settings.base_url = settings.base_url.rstrip("/")
        settings.name = settings.name or parts.netloc
        return settings

    @property
    def selection(self) -> Selection:
        """What `operations` selects (every operation when it is empty)."""
        return Selection(parse(self.operations))

    def http_url(self, path: str) -> str:
        return self.base_url + path

    def ws_url(self, path: str, **query) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        url = scheme + self.base_url[self.base_url.index("://"):] + path
        query = {k: v for k, v in query.items() if v is not None}
        return url + ("?" + urlencode(query) if query else "")

    def secrets(self) -> list[str]:
        return [s for s in (self.api_key, self.jwt, self.password) if s]


def _read_config(path: Path) -> dict:
    if not path.is_file():
        raise ConfigurationError(f"config file not found: {path}")
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("target", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [target] must be a table")
    known = {f.name for f in fields(TargetSettings)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting(s) {', '.join(unknown)} in [target]; "
                                 f"known: {', '.join(sorted(known))}")
    return table


def _timeout(value) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"the timeout must be a positive number of seconds, got "
                                 f"{value!r}")
    return seconds
