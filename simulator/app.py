"""The simulator application: its state (store, auth, back-ends, event log, handler table: all
on the Simulator object, so two simulators in one process share nothing) and the aiohttp app
around it. The HTTP handler modules are listed once, here (HANDLER_MODULES)."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from . import client_report, control
from .auth import DEVELOPER_SCOPES, Authenticator, hash_password, now_iso
from .backends.llm import SimLLM
from .client_mode import ClientMode
from .config import SimConfig
from .faults import Faults
from .faults import add_routes as add_fault_routes
from .faults import middleware as fault_middleware
from .history import StoreHistory
from .http.domain.event_log import EventLog
from .http.handlers import (
    api_keys,
    auth,
    backups,
    bot_config_routes,
    bots,
    chat,
    commands,
    config_profiles,
    conversations,
    cron,
    files,
    im,
    knowledge_base,
    legacy_open_api,
    logs,
    mcp,
    open_api,
    personas,
    plugin_pages,
    plugin_sources,
    provider_sources,
    providers,
    sessions,
    stats,
    subagents,
    system_config,
    t2i,
    tools,
    updates,
    webhooks,
)
from .http.handlers.plugins import files as plugin_files
from .http.handlers.plugins import installs as plugin_installs
from .http.handlers.plugins import manage as plugin_manage
from .http.handlers.skills import manage as skill_manage
from .http.handlers.skills import neo as skill_neo
from .http.kernel.envelope import ApiError, envelope_middleware
from .http.kernel.router import add_operation_routes
from .http.kernel.router import handler_table as _handler_table
from .live.engine import LiveSession
from .live.hub import Hub
from .live.ws import make_live_handlers
from .store import Store

log = logging.getLogger("astrbot_sim")
SIM = web.AppKey("sim", "Simulator")

# one module (or package of modules) per seed-004 tag, then the legacy Open API (seed 002)
HANDLER_MODULES = (
    auth, api_keys, system_config, config_profiles, bot_config_routes, bots, providers,
    provider_sources, chat, im, files, open_api, plugin_manage, plugin_installs, plugin_files,
    plugin_pages, plugin_sources, commands, tools, mcp, skill_manage, skill_neo,
    knowledge_base, personas, sessions, conversations, stats, backups, updates, cron, logs, t2i,
    subagents, webhooks, legacy_open_api,
)


def handler_table() -> dict:
    """{operationId: handler} of HANDLER_MODULES, built afresh for each simulator."""
    return _handler_table(HANDLER_MODULES)


class Simulator:
    def __init__(self, config: SimConfig):
        self.started_at = time.time()
        self.config = config
        self.store = Store(config.data_dir)
        self.auth = Authenticator(self.store)
        self.timing = config.timing
        self.llm = SimLLM(config.timing)
        self.faults = Faults(enabled=config.faults or config.faults_file is not None)
        if config.faults_file is not None:
            self.faults.load_file(config.faults_file)  # FaultError: refused at start
        self.history = StoreHistory(self.store)
        self.hub = Hub()
        self.clients = ClientMode(enabled=config.client_mode)
        self.events = EventLog()
        self.handlers = handler_table()
        self.bootstrap_messages = self._bootstrap_from_config()

    def _bootstrap_from_config(self) -> list[str]:
        """Pre-create the admin and an all-scope key when the environment asks for them."""
        cfg, notes = self.config, []
        if cfg.admin_username and cfg.admin_password:
            if self.store.password_hash(cfg.admin_username) is None:
                self.store.add_user(cfg.admin_username, hash_password(cfg.admin_password),
                                    now_iso())
            notes.append(f"admin user '{cfg.admin_username}' is ready: POST /api/v1/auth/login "
                         '{"username": ..., "password": ...}')
        if cfg.api_key:
            try:
                self.auth.lookup_key(cfg.api_key)
            except Exception:
                self.auth.create_key("preconfigured", list(DEVELOPER_SCOPES),
                                     created_by=cfg.admin_username or "simulator",
                                     raw_key=cfg.api_key)
            notes.append("API key from ASTRBOT_SIM_API_KEY has every developer scope "
                         "(send it as X-API-Key or ?api_key=)")
        if self.store.user_count() == 0:
            notes.append("first-run state: POST /api/v1/auth/setup {username, password, "
                         "confirm_password} from loopback creates the admin")
        return notes

    def new_live_session(self, username: str, mode: str | None) -> LiveSession:
        return LiveSession(username=username, mode=mode, tts_enabled=self.config.tts_enabled,
                           max_frame_chars=self.config.max_frame_bytes)

    @staticmethod
    def is_loopback(request: web.Request) -> bool:
        return control.is_loopback(request)

    def close(self) -> None:
        self.events.detach()
        self.store.close()


async def _not_found(request: web.Request):
    raise ApiError(404, "Not Found")


def create_app(config: SimConfig) -> web.Application:
    sim = Simulator(config)
    middlewares = [envelope_middleware]
    if sim.faults.enabled:
        middlewares.append(fault_middleware(sim.faults))
    app = web.Application(middlewares=middlewares, client_max_size=config.max_frame_bytes)
    app[SIM] = sim
    add_fault_routes(app, sim.faults)
    live = make_live_handlers(sim)
    add_operation_routes(app, sim, websocket_handlers=live)
    for path, handler in live.items():
        if not _has_route(app, path):
            app.router.add_get(path, handler)
    client_report.install(app, sim, config.client_report_dir)
    app.on_startup.append(lambda _app: _attach(sim))
    app.on_cleanup.append(lambda _app: _close(sim))
    return app


def _has_route(app: web.Application, path: str) -> bool:
    return any(getattr(r, "canonical", None) == path for r in app.router.resources())


async def _attach(sim: Simulator) -> None:
    sim.events.attach()


async def _close(sim: Simulator) -> None:
    sim.close()
