"""Faults on demand, so a client's error paths can be tested with the client unchanged.

Off unless enabled (`astrbot-sim --faults`, `ASTRBOT_SIM_FAULTS=1`, or `--faults-file F`, which
arms F's faults at start). Then `/_sim/faults` (loopback peers only) takes faults:

    GET    /_sim/faults        the armed faults
    POST   /_sim/faults        arm one fault (an object), or several (a list, or {"faults": [...]})
    DELETE /_sim/faults        disarm all;  DELETE /_sim/faults/{id}  disarm one

A fault hits the next `count` (default 1) matching turns or requests, then disarms itself.
Turn faults name a `user` (the Live API `username`, the dashboard login on the JWT paths, the
key owner on /api/v1/chat/ws; default "*", anyone):

    {"kind": "slow", "user": "alice", "count": 2, "delay_ms": 5000}   first delta after 5 s
    {"kind": "fail", "after_deltas": 3}      the LLM fails after 3 deltas (default 0): error frame
    {"kind": "stt_fail"}                     the next voice turn's speech-to-text fails
    {"kind": "tts_fail"}                     the next live turn's text-to-speech fails
    {"kind": "drop", "after_deltas": 1}      the socket closes without a close frame (1006)

HTTP faults name an `operation`, by operationId (`listBots`) or `METHOD /path` (the spec's
template, `GET /api/v1/bots/{bot_id}`, or a concrete path):

    {"kind": "http", "operation": "listBots", "status": 429}   429 with Retry-After: 1
    {"kind": "http", "operation": "GET /api/v1/bots", "status": 500}
    {"kind": "http", "operation": "listBots", "status": "hang", "delay_ms": 30000}
                                             held 30 s (at most 600 s), then answered as usual

A fault file (`--faults-file`, TOML `[[fault]]` tables, YAML or JSON: a list or `faults:`)
holds the same objects. Bad faults are refused whole with a 400 naming the field.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from aiohttp import web

from .control import add_control_route
from .http.kernel.envelope import error, ok

MAX_DELAY_MS = 600_000
TURN_KINDS = {"slow": {"delay_ms": 3000}, "fail": {"after_deltas": 0},
              "stt_fail": {}, "tts_fail": {}, "drop": {"after_deltas": 1}}
HTTP_STATUSES = (429, 500, "hang")
COMMON = ("kind", "count")


class FaultError(ValueError):
    """A fault the control surface refuses: one sentence naming the field."""


@dataclass
class Fault:
    id: str
    kind: str
    count: int = 1
    user: str | None = "*"  # turn faults only
    delay_ms: int | None = None
    after_deltas: int | None = None
    operation: str | None = None
    status: int | str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def llm_overrides(self) -> dict | None:
        """Directive fields (backends/llm.py) that make this turn slow or failing."""
        if self.kind == "slow":
            return {"first_delay_ms": float(self.delay_ms)}
        if self.kind == "fail":
            return {"fail_after": self.after_deltas}
        return None


def _integer(spec: dict, name: str, lo: int, hi: int, default):
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FaultError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
    return value


class Faults:
    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.armed: list[Fault] = []
        self._ids = itertools.count(1)

    # arming -----------------------------------------------------------------------------
    def parse(self, spec) -> Fault:
        if not isinstance(spec, dict):
            raise FaultError(f"a fault is a JSON object, got {type(spec).__name__}")
        kind = spec.get("kind")
        if kind != "http" and kind not in TURN_KINDS:
            raise FaultError(f"kind must be one of {', '.join([*TURN_KINDS, 'http'])}, "
                             f"got {kind!r}")
        if kind == "http":
            allowed = (*COMMON, "operation", "status", "delay_ms")
        else:
            allowed = (*COMMON, "user", *TURN_KINDS[kind])
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise FaultError(f"unknown field(s) {', '.join(unknown)}; a {kind} fault takes "
                             f"{', '.join(allowed)}")
        fault = Fault(f"f{next(self._ids)}", kind, _integer(spec, "count", 1, 1_000_000, 1))
        if kind == "http":
            fault.user = None
            operation = spec.get("operation")
            if not isinstance(operation, str) or not operation.strip():
                raise FaultError("an http fault needs operation: an operationId or "
                                 "'METHOD /path'")
            fault.operation = " ".join(operation.split())
            status = spec.get("status", 500)
            if status not in HTTP_STATUSES or isinstance(status, bool):
                raise FaultError(f"status must be 429, 500 or \"hang\", got {status!r}")
            fault.status = status
            if status == "hang":
                fault.delay_ms = _integer(spec, "delay_ms", 0, MAX_DELAY_MS, 30_000)
            elif "delay_ms" in spec:
                raise FaultError("delay_ms goes with status \"hang\" only")
            return fault
        user = spec.get("user", "*")
        if not isinstance(user, str) or not user.strip():
            raise FaultError(f"user must be a non-empty username or \"*\", got {user!r}")
        fault.user = user.strip()
        for name, default in TURN_KINDS[kind].items():
            hi = MAX_DELAY_MS if name == "delay_ms" else 1_000_000
            setattr(fault, name, _integer(spec, name, 0, hi, default))
        return fault

    def arm(self, specs) -> list[Fault]:
        """Arm one fault or a list of them: all or none (a bad one refuses the lot)."""
        if isinstance(specs, dict) and "faults" in specs and "kind" not in specs:
            specs = specs["faults"]
        specs = specs if isinstance(specs, list) else [specs]
        parsed = []
        for n, spec in enumerate(specs, 1):
            try:
                parsed.append(self.parse(spec))
            except FaultError as exc:
                raise FaultError(f"fault #{n}: {exc}" if len(specs) > 1 else str(exc)) from None
        self.armed += parsed
        return parsed

    def load_file(self, path: str | Path) -> list[Fault]:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".toml":
                data = tomllib.loads(text).get("fault", [])
            elif path.suffix in (".yaml", ".yml"):
                data = yaml.safe_load(text) or []
            elif path.suffix == ".json":
                data = json.loads(text)
            else:
                raise FaultError("use a .toml, .yaml, .yml or .json file")
        except OSError as exc:
            raise FaultError(f"faults file {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
            raise FaultError(f"faults file {path}: {exc}") from None
        try:
            return self.arm(data)
        except FaultError as exc:
            raise FaultError(f"faults file {path}: {exc}") from None

    # consuming --------------------------------------------------------------------------
    def _take(self, match) -> Fault | None:
        for fault in self.armed:
            if match(fault):
                fault.count -= 1
                if fault.count <= 0:
                    self.armed.remove(fault)
                return fault
        return None

    def take_turn(self, username: str, channel: str) -> Fault | None:
        """The fault for a turn starting now; `channel` is "text", "audio" or "chat"."""
        if not self.armed:
            return None

        def match(f: Fault) -> bool:
            if f.kind == "http" or f.user not in ("*", username):
                return False
            if f.kind == "stt_fail":
                return channel == "audio"
            return channel != "chat" if f.kind == "tts_fail" else True

        return self._take(match)

    def take_http(self, request: web.Request) -> Fault | None:
        if not self.armed:
            return None
        route = request.match_info.route
        names = {f"{request.method} {request.path}"}
        canonical = getattr(route.resource, "canonical", None) if route.resource else None
        if canonical:
            names.add(f"{request.method} {canonical}")
        handler_name = getattr(route.handler, "__name__", None)
        if handler_name:
            names.add(handler_name)
        return self._take(lambda f: f.kind == "http" and f.operation in names)


# the HTTP side ------------------------------------------------------------------------------

def middleware(faults: Faults):
    @web.middleware
    async def http_faults(request: web.Request, handler):
        if request.path.startswith("/_sim/"):
            return await handler(request)
        fault = faults.take_http(request)
        if fault is None:
            return await handler(request)
        if fault.status == 429:
            response = error(429, "Too Many Requests (simulated fault)")
            response.headers["Retry-After"] = "1"
            return response
        if fault.status == 500:
            return error(500, "Internal server error (simulated fault)")
        await asyncio.sleep(fault.delay_ms / 1000)  # a hang, bounded
        return await handler(request)

    return http_faults


def add_routes(app: web.Application, faults: Faults) -> None:
    async def refuse_when_off(request: web.Request):
        return error(404, "fault control is off: start astrbot-sim with --faults "
                          "(or ASTRBOT_SIM_FAULTS=1)")

    async def listing(request: web.Request):
        if not faults.enabled:
            return await refuse_when_off(request)
        return ok({"faults": [f.as_dict() for f in faults.armed]})

    async def arm(request: web.Request):
        if not faults.enabled:
            return await refuse_when_off(request)
        try:
            body = json.loads(await request.text() or "null")
        except ValueError as exc:
            return error(400, f"the body is not JSON: {exc}")
        try:
            added = faults.arm(body)
        except FaultError as exc:
            return error(400, str(exc))
        return ok({"faults": [f.as_dict() for f in added]})

    async def clear(request: web.Request):
        if not faults.enabled:
            return await refuse_when_off(request)
        removed, faults.armed = len(faults.armed), []
        return ok({"removed": removed})

    async def clear_one(request: web.Request):
        if not faults.enabled:
            return await refuse_when_off(request)
        fault_id = request.match_info["fault_id"]
        kept = [f for f in faults.armed if f.id != fault_id]
        if len(kept) == len(faults.armed):
            return error(404, f"no armed fault {fault_id}")
        faults.armed = kept
        return ok({"removed": 1})

    add_control_route(app, "GET", "faults", listing)
    add_control_route(app, "POST", "faults", arm)
    add_control_route(app, "DELETE", "faults", clear)
    add_control_route(app, "DELETE", "faults/{fault_id}", clear_one)
