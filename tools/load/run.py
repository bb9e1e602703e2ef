"""Load a deployment with Locust: `./noxw -s load -- [--target URL] [options]`.

Without --target it starts a fresh simulator (instant timing) and gets its credentials itself.
With --target it needs --api-key (chat scope, plus bot/persona/provider for the REST reads)
and, for the JWT user, --jwt; or --username/--password of an admin, with which it logs in for
a JWT and creates a run-long API key (deleted at the end). Locust runs headless, standalone,
or with --workers W as a master and W worker processes on 127.0.0.1 (Locust's distributed
mode). Every process this starts is stopped by its PID. The summary (sessions held, turns/s,
p50/p99, lost turns, violations) is printed and written to reports/load/<run-id>.{json,md}.

Exit status: 0 the run completed with no violation; 1 it completed with violations, or could
not run (a target that did not start, refused credentials, Locust failing); 2 bad options.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import report  # noqa: E402

from conformance import launcher  # noqa: E402
from conformance.outcomes import SuiteError  # noqa: E402

LOCUSTFILE = HERE / "locustfile.py"
HTTP_TIMEOUT = 15.0
WORKER_WAIT = 60  # seconds the master waits for its workers
EXTRA_WAIT = 120.0  # seconds past --run-time before the run is stopped as hung
READ_SCOPES = ["chat", "bot", "persona", "provider"]
MIX_NAMES = {"text": "LiveTextUser", "voice": "LiveVoiceUser", "jwt": "JwtLiveUser",
             "jwtvoice": "JwtVoiceUser", "sse": "SseChatUser", "rest": "RestReadUser"}
SIM_ADMIN = ("load-admin", "Ld-" + secrets.token_urlsafe(12))


class RunError(Exception):
    """The run could not be done: one line for the user."""


def run_seconds(text: str) -> float:
    """Locust's --run-time syntax (`30s`, `2m`, `1h30m`, `45`) in seconds."""
    if text.isdigit():
        return float(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None:
        raise ValueError(f"bad --run-time {text!r}: e.g. 30s, 2m, 1h30m")
    h, m, s = (int(x or 0) for x in parts.groups())
    return float(h * 3600 + m * 60 + s)


def parse_mix(text: str) -> dict[str, int]:
    weights = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in MIX_NAMES or not value.isdigit():
            raise ValueError(f"bad --mix part {part!r}: NAME=WEIGHT with NAME one of "
                             f"{', '.join(MIX_NAMES)}")
        weights[name] = int(value)
    if not any(weights.values()):
        raise ValueError("--mix gives every user a weight of 0")
    return weights


def http_json(method: str, url: str, body=None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError) as exc:
        raise RunError(f"{method} {url}: {exc}") from exc


def token_of(status: int, body: dict, what: str) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    if status == 200 and isinstance(data, dict) and isinstance(data.get("token"), str):
        return data["token"]
    raise RunError(f"{what} was refused: HTTP {status} {str(body)[:200]}")


class Credentials:
    """The API key and JWT of the run; a key made here is deleted by `close`."""

    def __init__(self, base: str, api_key: str | None, jwt: str | None):
        self.base, self.api_key, self.jwt = base, api_key, jwt
        self.made_key_id: str | None = None

    def login(self, username: str, password: str, setup: bool = False) -> None:
        path = "/api/v1/auth/setup" if setup else "/api/v1/auth/login"
        body = {"username": username, "password": password}
        if setup:
            body["confirm_password"] = password
        self.jwt = token_of(*http_json("POST", self.base + path, body),
                            "first-run setup" if setup else f"the login of {username!r}")

    def make_key(self) -> None:
        status, body = http_json("POST", self.base + "/api/v1/api-keys",
                                 {"name": "load-run", "scopes": READ_SCOPES}, token=self.jwt)
        data = body.get("data") if isinstance(body, dict) else None
        if status != 200 or not isinstance(data, dict) or "api_key" not in data:
            raise RunError(f"could not create an API key: HTTP {status} {str(body)[:200]}")
        self.api_key, self.made_key_id = data["api_key"], str(data.get("key_id"))

    def close(self) -> None:
        if self.made_key_id and self.jwt:
            with contextlib.suppress(RunError):
                http_json("DELETE", f"{self.base}/api/v1/api-keys/{self.made_key_id}",
                          token=self.jwt)


def locust_args(args, base: str, creds: Credentials, classes: list[str],
                summary: Path) -> list[str]:
    """The options every Locust process gets (workers too: custom options are theirs)."""
    return ["-f", str(LOCUSTFILE), "-H", base, "--api-key", creds.api_key or "",
            "--jwt", creds.jwt or "", "--username-prefix", args.username_prefix,
            "--mix", args.mix, "--turn-timeout", str(args.turn_timeout), "--pace",
            str(args.pace), "--summary-json", str(summary), "--loglevel", "WARNING"]


def run_locust(args, base: str, creds: Credentials, classes: list[str], work: Path) -> dict:
    summary = work / "summary.json"
    common = locust_args(args, base, creds, classes, summary)
    master = [sys.executable, "-m", "locust", *common, "--headless", "--only-summary",
              "-u", str(args.users), "-r", str(args.spawn_rate or args.users),
              "-t", args.run_time, "--stop-timeout", f"{math.ceil(args.turn_timeout)}s", *classes]
    procs: list[subprocess.Popen] = []
    log = open(work / "locust.log", "w")  # noqa: SIM115 - closed below
    try:
        if args.workers:
            port = launcher.free_port()
            master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                       str(port), "--expect-workers", str(args.workers),
                       "--expect-workers-max-wait", str(WORKER_WAIT)]
        procs.append(subprocess.Popen(master, stdout=log, stderr=subprocess.STDOUT))
        for _ in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "locust", *common, "--worker", "--master-host",
                 "127.0.0.1", "--master-port", str(port)],
                stdout=log, stderr=subprocess.STDOUT))
        limit = run_seconds(args.run_time) + WORKER_WAIT + EXTRA_WAIT
        try:
            code = procs[0].wait(limit)
        except subprocess.TimeoutExpired as exc:
            raise RunError(f"Locust did not finish within {limit:.0f} s: stopped") from exc
        for worker in procs[1:] if code == 0 else ():  # they quit with their master
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(15)
    finally:
        for proc in reversed(procs):
            launcher.stop(proc)
        log.close()
    tail = (work / "locust.log").read_text(errors="replace")
    if not summary.exists():
        raise RunError(f"Locust exited with {code} and wrote no summary:\n{tail[-2000:]}")
    if args.verbose:
        print(tail)
    return json.loads(summary.read_text())


def parse(argv):
    p = argparse.ArgumentParser(prog="load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", help="base URL (default: start a fresh simulator)")
    p.add_argument("--api-key", help="API key (chat scope; bot/persona/provider for reads)")
    p.add_argument("--jwt", help="dashboard JWT for JwtLiveUser")
    p.add_argument("--username", help="admin username: log in for a JWT (and an API key)")
    p.add_argument("--password", help="admin password (with --username)")
    p.add_argument("--users", type=int, default=50, help="concurrent users (%(default)s)")
    p.add_argument("--spawn-rate", type=float, help="users started per second (default: all "
                   "at once)")
    p.add_argument("--run-time", default="30s", help="Locust run time (%(default)s)")
    p.add_argument("--workers", type=int, default=0,
                   help="worker processes under a master on 127.0.0.1 (0: standalone)")
    p.add_argument("--mix", default="text=4,voice=2,jwt=1,sse=1,rest=1",
                   help="user weights (%(default)s)")
    p.add_argument("--pace", type=float, default=1.0,
                   help="seconds between turn starts per user, 0 = closed loop (%(default)s)")
    p.add_argument("--turn-timeout", type=float, default=10.0,
                   help="seconds for a turn to end before it counts as lost (%(default)s)")
    p.add_argument("--username-prefix", default="load")
    p.add_argument("--sim-arg", action="append", default=[], metavar="ARG",
                   help="extra option for the started simulator")
    p.add_argument("--label", help="name of the target in the table (default: its URL)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "load")
    p.add_argument("--verbose", action="store_true", help="print Locust's own output")
    args = p.parse_args(argv)
    try:
        run_seconds(args.run_time)
        weights = parse_mix(args.mix)
    except ValueError as exc:
        p.error(str(exc))
    if args.users < 1 or args.workers < 0 or args.turn_timeout <= 0 or args.pace < 0:
        p.error("--users >= 1, --workers >= 0, --turn-timeout > 0 and --pace >= 0")
    if bool(args.username) != bool(args.password):
        p.error("--username and --password go together")
    if args.target and not (args.api_key or args.username):
        p.error("--target needs --api-key, or --username and --password")
    return args, weights


def main(argv=None) -> int:
    try:
        args, weights = parse(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if importlib.util.find_spec("locust") is None:
        print("load: Locust is not installed here: run ./noxw -s load, or pip install -e "
              "'.[load]'", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="load-") as tmp:
        try:
            if args.target:
                base, mode = args.target.rstrip("/"), "given target"
                if not launcher.ready(base):
                    raise RunError(f"{base} does not answer GET /api/v1/auth/setup-status: "
                                   "is the target running, and is the URL right?")
                creds = Credentials(base, args.api_key, args.jwt)
                if args.username:
                    creds.login(args.username, args.password)
                    if not args.api_key:
                        creds.make_key()
            else:
                key = "abk_load_" + secrets.token_urlsafe(24)
                launched = stack.enter_context(launcher.simulator(
                    args.sim_arg, env={"ASTRBOT_SIM_API_KEY": key}))
                base = launched.url
                mode = "simulator started here" + (f" ({' '.join(args.sim_arg)})"
                                                   if args.sim_arg else " (instant timing)")
                creds = Credentials(base, key, None)
                creds.login(*SIM_ADMIN, setup=True)
            stack.callback(creds.close)
            for name in ("jwt", "jwtvoice"):
                if not creds.jwt and weights.get(name):
                    print(f"load: no JWT (--jwt or --username/--password): {MIX_NAMES[name]} "
                          "left out", file=sys.stderr)
                    weights[name] = 0
            classes = [MIX_NAMES[n] for n, w in weights.items() if w > 0]
            if not classes:
                raise RunError("no user class left to run")
            args.mix = ",".join(f"{n}={w}" for n, w in weights.items())
            print(f"load: {args.users} users ({args.mix}) for {args.run_time} against {base}"
                  f"{f', {args.workers} workers' if args.workers else ', standalone'}",
                  file=sys.stderr)
            raw = run_locust(args, base, creds, classes, Path(tmp))
        except (RunError, SuiteError, OSError) as exc:
            print(f"load: {exc}", file=sys.stderr)
            return 1
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    summary = report.summarize(raw, {
        "run_id": run_id, "target": args.label or base, "mode": mode, "users": args.users,
        "workers": args.workers, "run_time": args.run_time, "mix": args.mix,
        "pace": args.pace, "turn_timeout_s": args.turn_timeout})
    print(report.text(summary))
    json_path, md_path = report.write(summary, args.out)
    print(f"summary: {json_path} and {md_path}")
    print("LOAD_JSON " + json.dumps({k: v for k, v in summary.items()
                                     if k not in ("rows", "failures")}, separators=(",", ":")))
    return 1 if summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
