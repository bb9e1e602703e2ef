#!/usr/bin/env python3
"""Smoke-check a target booted by up.py: admin login, API key, IM bots, chat SSE, one live turn.

Run it with the AstrBot venv's Python (it uses that venv's ``websockets`` for the live turn):

    .real-astrbot/venv-4.26.2/bin/python tools/real_astrbot/smoke.py [--version V | --root DIR]

The temporary API key it creates is deleted again.
Exit 0 when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

HOME = Path(__file__).resolve().parent.parent.parent / ".real-astrbot"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, headers=None, timeout=30):
    req = urllib.request.Request(
        url,
        method=method,
        headers=headers or {},
        data=json.dumps(body).encode() if body is not None else None,
    )
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def check(name, cond, detail=""):
    print(f"{'PASS' if cond else 'FAIL'}  {name}  {detail}"[:400], flush=True)
    return bool(cond)


async def live_turn(ws_url: str) -> list[dict]:
    import websockets  # from the AstrBot venv

    silence = base64.b64encode(b"\x00\x00" * 8000).decode()  # 0.5 s of 16 kHz mono PCM16
    frames = []
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        await ws.send(json.dumps({"t": "start_speaking", "stamp": "s1"}))
        await ws.send(json.dumps({"t": "speaking_part", "data": silence}))
        await ws.send(json.dumps({"t": "end_speaking", "stamp": "s1"}))
        t0, seen_end = time.monotonic(), False
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=2 if seen_end else 60)
            except TimeoutError:
                break
            frame = json.loads(raw)
            frames.append(frame)
            seen_end = seen_end or frame.get("t") == "end"
            shown = dict(frame)
            if frame.get("t") == "response":
                shown["data"] = f"<base64 audio, {len(frame['data'])} chars>"
            print(f"  +{time.monotonic() - t0:5.2f}s << {json.dumps(shown, ensure_ascii=False)}")
    return frames


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="4.26.2")
    ap.add_argument("--root", type=Path, help="the data directory (default .real-astrbot/V)")
    args = ap.parse_args()
    args.root = args.root or HOME / args.version
    target = tomllib.loads((args.root / "target.toml").read_text())["target"]
    base = target["base_url"]
    results = []

    st, body = http(
        "POST",
        base + "/api/v1/auth/login",
        {"username": target["username"], "password": target["password"]},
    )
    jwt = json.loads(body).get("data", {}).get("token") if st == 200 else None
    results.append(check("login as admin", jwt, f"HTTP {st}"))
    if not jwt:
        return 1
    bearer = {"Authorization": f"Bearer {jwt}"}

    st, body = http("POST", base + "/api/v1/api-keys", {"name": "real-astrbot-smoke"}, bearer)
    data = json.loads(body).get("data") or {}
    key = data.get("api_key")
    results.append(check("create API key", key, f"HTTP {st} scopes={data.get('scopes')}"))
    try:
        st, body = http("GET", base + "/api/v1/im/bots", headers={"X-API-Key": key or ""})
        results.append(
            check("GET /api/v1/im/bots with the key", st == 200 and '"ok"' in body, body)
        )

        st, body = http(
            "POST",
            base + "/api/v1/chat",
            {"message": "hello", "username": "smoke"},
            {"X-API-Key": key or ""},
        )
        frames = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
        complete = [f["data"] for f in frames if f.get("type") == "complete"]
        results.append(
            check(
                "POST /api/v1/chat SSE",
                len(complete) == 1 and complete[0].strip() != "",
                " ".join(f.get("type", "?") for f in frames),
            )
        )
    finally:
        if data.get("key_id"):
            http("DELETE", f"{base}/api/v1/api-keys/{data['key_id']}", headers=bearer)

    ws_url = base.replace("http", "ws", 1) + f"/api/v1/live-chat/ws?token={jwt}"
    print("live turn on /api/v1/live-chat/ws:")
    frames = asyncio.run(live_turn(ws_url))
    kinds = [f.get("t") for f in frames]
    want = ["metrics", "user_msg", "bot_text_chunk", "response", "end"]
    in_order = [k for k in kinds if k in want and k != "metrics"] == want[1:]
    results.append(check("live turn frames", "metrics" in kinds and in_order, " ".join(kinds)))
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
