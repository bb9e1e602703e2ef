#!/usr/bin/env python3
"""Deterministic OpenAI-compatible stub used as the LLM, STT and TTS backend of a real AstrBot.

Stdlib only. Binds 127.0.0.1. Usage::

    python3 llm_stub.py [--port 18080] [--log requests.jsonl] [--stt-text TEXT]

Endpoints
  GET  /v1/models                 stub-chat, stub-embed, stub-stt, stub-tts
  POST /v1/chat/completions       reply "STUB-REPLY: <last user text>" (stream or not)
  POST /v1/audio/transcriptions   {"text": <stt_text>}  (default "hello from stub stt")
  POST /v1/audio/speech           a 0.2 s silent 16 kHz mono 16-bit WAV
  POST /v1/embeddings             deterministic unit vectors derived from the input
  GET  /_stub/requests            the last 200 requests received (for debugging)
  POST /_stub/config              change knobs at runtime, e.g. {"stt_text": "[slow] hi"}

Knobs in the last user text: "[slow]" streams the reply one character per chunk spread over
``slow_seconds`` (default 10 s); "[fail]" answers HTTP 500.
The "<system_reminder>...</system_reminder>" part AstrBot injects is removed before echoing.
A title-generation request (AstrBot asks for a concise title of a new chat) gets "Stub Title".
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import json
import math
import os
import re
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = b"SIMSTT1\0"


def embedded_transcript(upload: bytes) -> str | None:
    """The transcript a test client hid in the audio: the sample LSBs after the RIFF data
    chunk carry `SIMSTT1\\0`, a 2-byte big-endian length and UTF-8 text, MSB first (the
    convention of conformance/audio.py and the simulator's STT). None when absent."""
    start = upload.find(b"data", upload.find(b"WAVE"))
    if start < 0:
        return None
    pcm = upload[start + 8:]

    def hidden(first_byte: int, count: int) -> bytes | None:
        base = first_byte * 8
        if (base + count * 8) * 2 > len(pcm):
            return None
        return bytes(sum((pcm[(base + i * 8 + b) * 2] & 1) << (7 - b) for b in range(8))
                     for i in range(count))

    if hidden(0, len(MARKER)) != MARKER:
        return None
    size = hidden(len(MARKER), 2)
    text = hidden(len(MARKER) + 2, int.from_bytes(size, "big")) if size else None
    try:
        return text.decode("utf-8") if text else None
    except UnicodeDecodeError:
        return None


CONFIG = {"stt_text": "hello from stub stt", "slow_seconds": 10.0, "chunk_delay": 0.0}
REQUESTS: collections.deque = collections.deque(maxlen=200)
LOCK = threading.Lock()
LOG_PATH: str | None = None
MODELS = ["stub-chat", "stub-embed", "stub-stt", "stub-tts"]
REMINDER = re.compile(r"<system_reminder>.*?</system_reminder>", re.S)
TITLE = re.compile(r"concise title|generate (a )?(short )?title|summari[sz]e .*title", re.I)


def text_of(content) -> str:
    """Text of a chat message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list) -> str:
    for m in reversed(messages or []):
        if isinstance(m, dict) and m.get("role") == "user":
            return REMINDER.sub("", text_of(m.get("content"))).strip()
    return ""


def is_title_request(messages: list) -> bool:
    return any(
        TITLE.search(text_of(m.get("content"))) for m in messages or [] if isinstance(m, dict)
    )


def silent_wav(seconds: float = 0.2, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return buf.getvalue()


def embedding(text: str, dim: int) -> list[float]:
    raw = b""
    while len(raw) < dim:
        raw += hashlib.sha256(f"{text}|{len(raw)}".encode()).digest()
    vec = [b / 255.0 - 0.5 for b in raw[:dim]]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def tokens(text: str) -> int:
    return max(1, len(text.split()))


class Handler(BaseHTTPRequestHandler):
    server_version = "astrbot-llm-stub/1"

    def log_message(self, fmt, *args):  # quiet: requests go to the JSONL log instead
        pass

    # -- helpers ---------------------------------------------------------------------------
    def _record(self, body):
        entry = {"ts": time.time(), "method": self.command, "path": self.path, "body": body}
        with LOCK:
            REQUESTS.append(entry)
            if LOG_PATH:
                with open(LOG_PATH, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def _send(self, status: int, payload, ctype="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json_body(self):
        raw = self._body()
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    # -- routes ----------------------------------------------------------------------------
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        self._record(None)
        if path in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in MODELS]
            return self._send(200, {"object": "list", "data": data})
        if path == "/_stub/requests":
            with LOCK:
                return self._send(200, list(REQUESTS))
        if path == "/_stub/config":
            return self._send(200, CONFIG)
        self._send(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/audio/transcriptions"):
            carried = embedded_transcript(self._body())  # multipart upload of the WAV
            self._record(f"<multipart audio, transcript {carried!r}>")
            return self._send(200, {"text": carried or CONFIG["stt_text"]})
        body = self._json_body()
        self._record(body)
        if body is None:
            return self._send(400, {"error": {"message": "invalid JSON", "type": "bad_request"}})
        if path.endswith("/chat/completions"):
            return self._chat(body)
        if path.endswith("/audio/speech"):
            return self._send(200, silent_wav(), "audio/wav")
        if path.endswith("/embeddings"):
            inputs = body.get("input", "")
            inputs = inputs if isinstance(inputs, list) else [inputs]
            dim = int(body.get("dimensions") or 256)
            data = [
                {"object": "embedding", "index": i, "embedding": embedding(str(t), dim)}
                for i, t in enumerate(inputs)
            ]
            n = sum(tokens(str(t)) for t in inputs)
            usage = {"prompt_tokens": n, "total_tokens": n}
            model = body.get("model", "stub-embed")
            return self._send(200, {"object": "list", "data": data, "model": model, "usage": usage})
        if path == "/_stub/config":
            CONFIG.update({k: v for k, v in body.items() if k in CONFIG})
            return self._send(200, CONFIG)
        self._send(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _chat(self, body: dict):
        messages = body.get("messages") or []
        user = last_user_text(messages)
        model = body.get("model", "stub-chat")
        if "[fail]" in user:
            err = {"message": "stub: forced failure ([fail])", "type": "server_error"}
            return self._send(500, {"error": err})
        title = not body.get("stream") and is_title_request(messages)
        reply = "Stub Title" if title else f"STUB-REPLY: {user}"
        prompt_tokens = sum(
            tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens(reply),
            "total_tokens": prompt_tokens + tokens(reply),
        }
        cid, created = f"chatcmpl-stub-{time.time_ns()}", int(time.time())
        if not body.get("stream"):
            msg = {"role": "assistant", "content": reply}
            choice = {"index": 0, "message": msg, "finish_reason": "stop"}
            return self._send(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                },
            )

        if "[slow]" in user:
            chunks = ["STUB-REPLY: "] + list(user)
            delay = float(CONFIG["slow_seconds"]) / len(chunks)
        else:
            chunks, delay = ["STUB-REPLY: ", user], float(CONFIG["chunk_delay"])

        def frame(delta, finish=None, **extra):
            choices = (
                [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
            )
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for i, piece in enumerate(chunks):
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                self.wfile.write(frame(delta))
                self.wfile.flush()
                if delay:
                    time.sleep(delay)
            self.wfile.write(frame({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                self.wfile.write(frame(None, usage=usage))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. an interrupted turn)
        self.close_connection = True


def main() -> None:
    global LOG_PATH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("STUB_PORT", "18080")))
    ap.add_argument("--log", default=os.environ.get("STUB_LOG"), help="append requests as JSONL")
    ap.add_argument("--stt-text", default=os.environ.get("STUB_STT_TEXT", CONFIG["stt_text"]))
    args = ap.parse_args()
    CONFIG["stt_text"], LOG_PATH = args.stt_text, args.log
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"llm_stub listening on http://127.0.0.1:{args.port}/v1", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
