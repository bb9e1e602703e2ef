#!/usr/bin/env python3
"""Boot a real AstrBot from PyPI on 127.0.0.1 as a conformance target (idempotent).

Steps: the venv ``.real-astrbot/venv-VERSION`` (venvs.py: Python 3.12 found portably, ``pip
install astrbot==VERSION``) -> the provider doubles (``python -m simulator providers``) and
``astrbot run`` started in the background on free loopback ports (records in
<root>/run, logs in <root>/logs) -> wait for ``GET /api/v1/auth/setup-status`` -> bootstrap
over HTTP (initial login, setup of an admin user, the doubles as chat/STT/TTS provider,
system-config) -> <root>/target.toml. <root> is ``.real-astrbot/VERSION`` by default.

Stdlib only, but the doubles need the project importable by this Python (``pip install -e .``;
``./noxw -s real_astrbot`` runs it so).
Stop with ``down.py``; ``session.py`` (``./noxw -s real_astrbot``) wraps it with the suite.
See README.md next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import venvs
from procs import Processes, running, tail

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_HOME = REPO / ".real-astrbot"
INITIAL_PASSWORD = "Init1alPassw0rd"  # ASTRBOT_DASHBOARD_INITIAL_PASSWORD (fresh data dir only)
ADMIN_USER = "admin"
HTTP_TIMEOUT = 30.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never use a proxy
# the doubles stream a reply with "[slow]" over about 10 s: the suite's races need a slow turn
SLOW_TEXT = "[slow] Please tell me a long story."
Failure = venvs.Failure


def log(msg: str) -> None:
    print(f"[up {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it: bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- HTTP ------------------------------------------------------------------------------------
def http(method: str, url: str, body=None, token: str | None = None, timeout=HTTP_TIMEOUT):
    """Return (status, parsed JSON or text). Never raises on HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with OPENER.open(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def ok(resp, what: str):
    status, body = resp
    if status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        raise Failure(f"{what} failed: HTTP {status} {body!r}"[:2000])
    return body.get("data")


class AstrBot:
    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body=None, **kw):
        return http(method, self.base + path, body, token=self.token, **kw)

    def login(self, username: str, password: str) -> str | None:
        for _ in range(10):  # 429 only if ASTRBOT_TEST_MODE did not disable the rate limit
            status, body = self.call(
                "POST", "/api/v1/auth/login", {"username": username, "password": password}
            )
            if status == 429:
                time.sleep(2)
                continue
            if status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                return body["data"]["token"]
            return None
        return None


def wait_ready(base: str, astrbot_pid_ok, logfile: Path, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not astrbot_pid_ok():
            raise Failure(f"AstrBot exited during startup. Log tail ({logfile}):\n{tail(logfile)}")
        try:
            status, body = http("GET", base + "/api/v1/auth/setup-status", timeout=3)
            if status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                return time.monotonic() - t0
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise Failure(
        f"AstrBot did not answer setup-status within {timeout:.0f} s. "
        f"Log tail ({logfile}):\n{tail(logfile)}"
    )


# -- bootstrap -------------------------------------------------------------------------------
def bootstrap(bot: AstrBot, creds_file: Path, stub_base: str, password: str | None) -> str:
    """Set AstrBot up over HTTP only (steps in README.md); the admin password."""
    creds = json.loads(creds_file.read_text()) if creds_file.exists() else {}
    if password:
        creds["password"] = password
    setup = ok(bot.call("GET", "/api/v1/auth/setup-status"), "setup-status")
    if setup.get("setup_required"):
        creds.setdefault("password", f"Conf0rm{secrets.token_hex(8)}")
        creds_file.write_text(json.dumps(creds) + "\n")  # persisted before it is used
        creds_file.chmod(0o600)
        log("setup required: login astrbot/<initial password>, then setup of user 'admin'")
        bot.token = bot.login("astrbot", INITIAL_PASSWORD)
        if not bot.token:
            raise Failure(
                "login with the initial password failed; the data dir was probably "
                "created without ASTRBOT_DASHBOARD_INITIAL_PASSWORD: run down.py --wipe"
            )
        pw = creds["password"]
        ok(
            bot.call(
                "POST",
                "/api/v1/auth/setup",
                {"username": ADMIN_USER, "password": pw, "confirm_password": pw},
            ),
            "setup",
        )
    elif "password" not in creds:
        raise Failure(
            f"AstrBot is set up but {creds_file} is missing, so the admin password is "
            "unknown: run down.py --wipe and up.py again"
        )
    bot.token = bot.login(ADMIN_USER, creds["password"])
    if not bot.token:
        raise Failure(f"login as {ADMIN_USER} failed (stale {creds_file}? run down.py --wipe)")

    # Chat provider: a provider source (OpenAI compatible) plus a provider using its model.
    ok(
        bot.call(
            "POST",
            "/api/v1/provider-sources",
            {
                "id": "stub_openai",
                "provider": "openai",
                "type": "openai_chat_completion",
                "provider_type": "chat_completion",
                "enable": True,
                "key": ["sk-stub"],
                "api_base": stub_base,
                "timeout": 60,
                "proxy": "",
                "custom_headers": {},
            },
        ),
        "create provider source stub_openai",
    )
    listed = ok(bot.call("GET", "/api/v1/providers"), "list providers") or {}
    existing = {p.get("id") for p in listed.get("providers", []) if isinstance(p, dict)}
    if "stub_chat" not in existing:
        ok(
            bot.call(
                "POST",
                "/api/v1/provider-sources/stub_openai/providers",
                {"id": "stub_chat", "model": "stub-chat", "enable": True},
            ),
            "create provider stub_chat",
        )
    audio = [
        {
            "id": "stub_stt",
            "provider": "openai",
            "type": "openai_whisper_api",
            "provider_type": "speech_to_text",
            "enable": True,
            "api_key": "sk-stub",
            "api_base": stub_base,
            "model": "whisper-1",
            "proxy": "",
        },
        {
            "id": "stub_tts",
            "provider": "openai",
            "type": "openai_tts_api",
            "provider_type": "text_to_speech",
            "enable": True,
            "api_key": "sk-stub",
            "api_base": stub_base,
            "model": "tts-1",
            "openai-tts-voice": "alloy",
            "timeout": "20",
            "proxy": "",
        },
    ]
    for prov in audio:
        if prov["id"] in existing:
            ok(bot.call("PUT", f"/api/v1/providers/{prov['id']}", prov), f"update {prov['id']}")
        else:
            ok(bot.call("POST", "/api/v1/providers", prov), f"create provider {prov['id']}")

    cfg = ok(bot.call("GET", "/api/v1/system-config"), "get system-config")["config"]
    cfg.setdefault("provider_settings", {})["default_provider_id"] = "stub_chat"
    cfg.setdefault("provider_stt_settings", {}).update(enable=True, provider_id="stub_stt")
    cfg.setdefault("provider_tts_settings", {}).update(
        enable=True, provider_id="stub_tts", trigger_probability=0.0
    )
    cfg["disable_metrics"] = True
    ok(bot.call("PUT", "/api/v1/system-config", cfg), "put system-config")

    test = ok(bot.call("POST", "/api/v1/providers/stub_chat/test", timeout=60), "test stub_chat")
    if (test or {}).get("status") != "available":
        raise Failure(f"chat provider stub_chat is not available: {test!r}")
    return creds["password"]


# -- the provider doubles --------------------------------------------------------------------
def provider_argv(port: int, request_log: Path) -> list[str]:
    """The provider doubles' command, `python -m simulator providers` with this Python (the
    project must be importable by it: a clear Failure when it is not)."""
    argv = [sys.executable, "-m", "simulator", "providers"]
    probe = subprocess.run([*argv, "--help"], capture_output=True, text=True, cwd=REPO)
    if probe.returncode != 0:
        raise Failure(f"{sys.executable} cannot run the provider doubles (`python -m simulator "
                      "providers`): run this with the project's Python, after `pip install -e .`")
    return [*argv, "--host", "127.0.0.1", "--port", str(port), "--log", str(request_log)]


def wait_models(base: str, proc_ok, logfile: Path, timeout: float = 30.0) -> None:
    """Wait until the doubles answer GET /v1/models (the process must stay alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_ok():
            raise Failure(f"the provider doubles exited at start. Log tail ({logfile}):\n"
                          f"{tail(logfile)}")
        try:
            if http("GET", base + "/models", timeout=2)[0] == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise Failure(f"the provider doubles did not answer within {timeout:.0f} s ({logfile})")


# -- the deployment --------------------------------------------------------------------------
def astrbot_env(port: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({
        "DASHBOARD_HOST": "127.0.0.1",
        "DASHBOARD_PORT": str(port),
        "ASTRBOT_DASHBOARD_INITIAL_PASSWORD": INITIAL_PASSWORD,
        "ASTRBOT_DISABLE_METRICS": "1",
        "ASTRBOT_TEST_MODE": "true",  # turns the login rate limit off
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def deploy(version: str, root: Path, venv: Path, procs: Processes, port: int = 0,
           provider_port: int = 0, password: str | None = None, timeout: float = 120.0,
           say=log) -> dict:
    """Start the doubles and AstrBot `version` (from `venv`) on data `root`, each unless its
    record in root/run says it already runs; bootstrap; write root/target.toml. A port 0 is
    picked free. Returns {"base_url", "start_s", "bootstrap_s"}; Failure on any problem."""
    data, logs, run_dir = root / "astrbot-root", root / "logs", root / "run"
    for d in (root, data, logs, run_dir):
        d.mkdir(parents=True, exist_ok=True)
    marker = data / ".conformance-version"
    if marker.exists() and marker.read_text().strip() != version:
        raise Failure(f"{data} holds data of AstrBot {marker.read_text().strip()}; "
                      f"run down.py --wipe --root {root} first")
    t0 = time.monotonic()
    doubles_log = logs / "providers.log"
    rec = running(run_dir, "providers")
    if rec:
        provider_port = rec[1]["port"]
        say(f"provider doubles already running (pid {rec[0]}, port {provider_port})")
    else:
        provider_port = provider_port or free_port()
        if port_in_use(provider_port):
            raise Failure(f"port {provider_port} is in use by another process (--provider-port)")
        argv = provider_argv(provider_port, logs / "provider-requests.jsonl")
        p = procs.start("providers", argv, root, dict(os.environ), doubles_log,
                        extra={"port": provider_port})
        say(f"started provider doubles pid {p.pid} on 127.0.0.1:{provider_port}")
    provider_base = f"http://127.0.0.1:{provider_port}/v1"
    wait_models(provider_base, lambda: running(run_dir, "providers") is not None, doubles_log)

    astrbot_log = logs / "astrbot.log"
    rec = running(run_dir, "astrbot")
    if rec:
        port = rec[1]["port"]
        say(f"AstrBot already running (pid {rec[0]}, port {port})")
    else:
        port = port or free_port()
        if port_in_use(port):
            raise Failure(f"port {port} is in use by another process (--port)")
        (data / ".astrbot").touch()  # `astrbot run` wants it; `astrbot init` would ask
        marker.write_text(version + "\n")
        argv = [str(venv / "bin" / "python"), str(venv / "bin" / "astrbot"), "run"]
        p = procs.start("astrbot", argv, data, astrbot_env(port), astrbot_log,
                        extra={"port": port})
        say(f"started AstrBot {version} pid {p.pid} on 127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    ready = wait_ready(base, lambda: running(run_dir, "astrbot") is not None, astrbot_log,
                       timeout)
    t_start = time.monotonic() - t0
    say(f"setup-status answers after {ready:.1f} s")
    t1 = time.monotonic()
    password = bootstrap(AstrBot(base), run_dir / "credentials.json", provider_base, password)
    t_boot = time.monotonic() - t1
    target = root / "target.toml"
    target.write_text(
        "[target]\n"
        f'base_url = "{base}"\n'
        f'username = "{ADMIN_USER}"\n'
        f'password = "{password}"\n'
        f'name = "astrbot-{version}"\n'
        f'slow_text = "{SLOW_TEXT}"\n'
    )
    target.chmod(0o600)
    return {"base_url": base, "start_s": t_start, "bootstrap_s": t_boot,
            "provider_base": provider_base}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="4.26.2")
    ap.add_argument("--home", type=Path, default=DEFAULT_HOME,
                    help="where the venvs live (default .real-astrbot/)")
    ap.add_argument("--root", type=Path, help="the data directory (default HOME/VERSION)")
    ap.add_argument("--port", type=int, default=0, help="AstrBot's port (default: a free one)")
    ap.add_argument("--provider-port", "--stub-port", type=int, default=0,
                    help="the provider doubles' port (default: a free one)")
    ap.add_argument("--python", help="Python >= 3.12 to create the venv with (default: "
                    "pyenv's 3.12, else python3.12 on PATH)")
    ap.add_argument("--password", help="admin password to use (default: generated, kept in run/)")
    ap.add_argument("--timeout", type=float, default=120.0, help="startup wait in seconds")
    args = ap.parse_args()
    home = args.home.resolve()
    root = (args.root or home / args.version).resolve()
    venv = home / f"venv-{args.version}"
    t0 = time.monotonic()
    try:
        provider_argv(0, root / "logs" / "provider-requests.jsonl")  # before a long install
        t_install = venvs.ensure_venv(venv, args.version,
                                      lambda: venvs.find_python312(args.python), say=log)
        log(f"install {t_install:.1f} s ({venv})")
        got = deploy(args.version, root, venv, Processes(root / "run", say=log), args.port,
                     args.provider_port, args.password, args.timeout)
    except venvs.NoPython as e:
        print(f"up.py: {e}", file=sys.stderr)
        return 2
    except Failure as e:
        msg, astrbot_log = str(e), root / "logs" / "astrbot.log"
        if "Log tail" not in msg and astrbot_log.exists():
            msg += f"\nAstrBot log tail ({astrbot_log}):\n{tail(astrbot_log, 25)}"
        print(f"up.py: FAILED: {msg}", file=sys.stderr)
        return 1
    total = time.monotonic() - t0
    (root / "run" / "timings.txt").write_text(
        f"install {t_install:.1f}s start {got['start_s']:.1f}s "
        f"bootstrap {got['bootstrap_s']:.1f}s total {total:.1f}s\n")
    log(f"ready: {got['base_url']}; install {t_install:.1f} s, start {got['start_s']:.1f} s, "
        f"bootstrap {got['bootstrap_s']:.1f} s, total {total:.1f} s")
    print(f"target.toml: {root / 'target.toml'}")
    print(f"stop with: python3 {HERE.relative_to(REPO) / 'down.py'} --root {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
