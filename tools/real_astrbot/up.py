#!/usr/bin/env python3
"""Boot a real AstrBot from PyPI on 127.0.0.1 as a conformance target (idempotent).

Steps: venv (pyenv Python 3.12) + ``pip install astrbot==VERSION`` -> start llm_stub.py and
``astrbot run`` in the background (PIDs in <root>/run, logs in <root>/logs) -> wait for
``GET /api/v1/auth/setup-status`` -> bootstrap over HTTP (initial login, setup of an admin user,
stub as chat/STT/TTS provider, system-config) -> write <root>/target.toml.

Stdlib only. Stop with ``down.py``. See README.md next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parent.parent / ".real-astrbot"
PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python"
INITIAL_PASSWORD = "Init1alPassw0rd"  # ASTRBOT_DASHBOARD_INITIAL_PASSWORD (fresh data dir only)
ADMIN_USER = "admin"
HTTP_TIMEOUT = 30.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never use a proxy


class Failure(Exception):
    pass


def log(msg: str) -> None:
    print(f"[up {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- process bookkeeping (shared format with down.py) ------------------------------------------
def proc_info(pid: int) -> tuple[list[str], str, str] | None:
    """(argv, start time, state) of a live process, or None (same check as down.py)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0"), fields[19], fields[0]


def running(run_dir: Path, name: str) -> int | None:
    """PID of the recorded process `name` if it is still the very process we started."""
    try:
        pid = int((run_dir / f"{name}.pid").read_text().strip())
        meta = json.loads((run_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    info = proc_info(pid)
    if info and info[2] != "Z" and info[0] == meta["argv"] and info[1] == meta["starttime"]:
        return pid
    return None


def start(run_dir: Path, name: str, argv: list[str], cwd: Path, env: dict, logfile: Path) -> int:
    with open(logfile, "ab") as out:
        out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start {argv}\n".encode())
        out.flush()
        p = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    time.sleep(0.2)
    info = proc_info(p.pid)
    if p.poll() is not None or not info or info[0] != argv:
        raise Failure(f"{name} exited right away (see {logfile}):\n{tail(logfile)}")
    meta = {"argv": argv, "starttime": info[1], "cwd": str(cwd)}
    (run_dir / f"{name}.json").write_text(json.dumps(meta) + "\n")
    (run_dir / f"{name}.pid").write_text(f"{p.pid}\n")
    return p.pid


def tail(path: Path, n: int = 40) -> str:
    try:
        text = re.sub(r"\x1b\[[0-9;]*m", "", path.read_text(errors="replace"))  # drop colours
        return "\n".join(text.splitlines()[-n:])
    except OSError:
        return "(no log)"


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


# -- main ------------------------------------------------------------------------------------
def ensure_venv(venv: Path, version: str, python: str) -> float:
    t0 = time.monotonic()
    vpy = venv / "bin" / "python"
    if not vpy.exists():
        if not Path(python).exists():
            raise Failure(f"Python 3.12 not found at {python} (use --python)")
        log(f"creating venv {venv}")
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run(
        [str(vpy), "-c", "import importlib.metadata as m; print(m.version('astrbot'))"],
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0 and probe.stdout.strip() == version:
        return 0.0
    log(f"pip install astrbot=={version} (takes ~90 s, ~750 MB)")
    r = subprocess.run(
        [str(vpy), "-m", "pip", "install", "-q", f"astrbot=={version}"],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise Failure(f"pip install astrbot=={version} failed:\n{r.stderr[-3000:]}")
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="4.26.2")
    ap.add_argument("--port", type=int, default=6185)
    ap.add_argument("--stub-port", type=int, default=18080)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--python", default=PYTHON312, help="Python >= 3.12 used to create the venv")
    ap.add_argument("--password", help="admin password to use (default: generated, kept in run/)")
    ap.add_argument("--timeout", type=float, default=120.0, help="startup wait in seconds")
    args = ap.parse_args()

    root = args.root.resolve()
    venv, data = root / f"venv-{args.version}", root / "astrbot-root"
    run_dir, logs = root / "run", root / "logs"
    for d in (root, data, run_dir, logs):
        d.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{args.port}"
    stub_base = f"http://127.0.0.1:{args.stub_port}/v1"
    astrbot_log = logs / "astrbot.log"
    t_start = time.monotonic()

    try:
        # Fail fast (before a long install) when a port we need is taken by someone else.
        for name, port, flag in (
            ("stub", args.stub_port, "--stub-port"),
            ("astrbot", args.port, "--port"),
        ):
            if not running(run_dir, name) and port_in_use(port):
                raise Failure(f"port {port} is in use by another process (choose {flag})")
        # The data dir must not be reused across versions silently.
        marker = data / ".conformance-version"
        if marker.exists() and marker.read_text().strip() != args.version:
            raise Failure(
                f"{data} holds data of AstrBot {marker.read_text().strip()}; "
                "run down.py --wipe first"
            )
        t_install = ensure_venv(venv, args.version, args.python)

        # stub
        stub_pid = running(run_dir, "stub")
        if stub_pid:
            log(f"stub already running (pid {stub_pid})")
        else:
            if port_in_use(args.stub_port):
                raise Failure(f"port {args.stub_port} is in use by another process (--stub-port)")
            argv = [
                sys.executable,
                str(HERE / "llm_stub.py"),
                "--port",
                str(args.stub_port),
                "--log",
                str(logs / "stub-requests.jsonl"),
            ]
            stub_pid = start(run_dir, "stub", argv, root, dict(os.environ), logs / "stub.log")
            log(f"started stub pid {stub_pid} on {stub_base}")

        # AstrBot
        ab_pid = running(run_dir, "astrbot")
        if ab_pid:
            log(f"AstrBot already running (pid {ab_pid})")
        else:
            if port_in_use(args.port):
                raise Failure(f"port {args.port} is in use by another process (--port)")
            (data / ".astrbot").touch()
            marker.write_text(args.version + "\n")
            env = dict(os.environ)
            for k in (
                "http_proxy",
                "https_proxy",
                "all_proxy",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
            ):
                env.pop(k, None)
            env.update(
                {
                    "DASHBOARD_HOST": "127.0.0.1",
                    "DASHBOARD_PORT": str(args.port),
                    "ASTRBOT_DASHBOARD_INITIAL_PASSWORD": INITIAL_PASSWORD,
                    "ASTRBOT_DISABLE_METRICS": "1",
                    "ASTRBOT_TEST_MODE": "true",  # turns the login rate limit off
                    "NO_PROXY": "127.0.0.1,localhost",
                    "no_proxy": "127.0.0.1,localhost",
                    "PYTHONUNBUFFERED": "1",
                }
            )
            argv = [str(venv / "bin" / "python"), str(venv / "bin" / "astrbot"), "run"]
            ab_pid = start(run_dir, "astrbot", argv, data, env, astrbot_log)
            log(f"started AstrBot {args.version} pid {ab_pid} on {base}")

        t_ready = wait_ready(
            base, lambda: running(run_dir, "astrbot") is not None, astrbot_log, args.timeout
        )
        log(f"setup-status answers after {t_ready:.1f} s")
        t0 = time.monotonic()
        password = bootstrap(AstrBot(base), run_dir / "credentials.json", stub_base, args.password)
        t_boot = time.monotonic() - t0
    except Failure as e:
        msg = str(e)
        if "Log tail" not in msg and astrbot_log.exists():
            msg += f"\nAstrBot log tail ({astrbot_log}):\n{tail(astrbot_log, 25)}"
        print(f"up.py: FAILED: {msg}", file=sys.stderr)
        return 1
    except Exception as e:  # unexpected: still report clearly, with the AstrBot log tail
        print(
            f"up.py: FAILED: {e!r}\nAstrBot log tail ({astrbot_log}):\n{tail(astrbot_log)}",
            file=sys.stderr,
        )
        return 1

    target = root / "target.toml"
    target.write_text(
        "[target]\n"
        f'base_url = "{base}"\n'
        f'username = "{ADMIN_USER}"\n'
        f'password = "{password}"\n'
        f'name = "astrbot-{args.version}"\n'
        # the stub streams "[slow]" replies over seconds: the suite's races need a slow turn
        'slow_text = "[slow] Please tell me a long story."\n'
    )
    target.chmod(0o600)
    total = time.monotonic() - t_start
    (run_dir / "timings.txt").write_text(
        f"install {t_install:.1f}s ready {t_ready:.1f}s "
        f"bootstrap {t_boot:.1f}s total {total:.1f}s\n"
    )
    log(
        f"ready: {base}  (astrbot pid {ab_pid}, stub pid {stub_pid}); install {t_install:.1f} s, "
        f"startup {t_ready:.1f} s, bootstrap {t_boot:.1f} s, total {total:.1f} s"
    )
    print(f"target.toml: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
