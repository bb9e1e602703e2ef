"""The OpenAI wire format for the provider doubles (`providers.py`), without any I/O: what a
chat request asks (the last user text, a title request), request checks that name the bad
field, the response and chunk objects, usage counts, embeddings, and the PCM inside an
uploaded WAV. Kept apart so the server module stays about routes and pacing."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import struct
import time
import uuid
import wave

from .backends import llm

REMINDER = re.compile(r"<system_reminder>.*?</system_reminder>", re.S)
TITLE_SYSTEM = re.compile(r"title generator", re.I)
TITLE_USER = re.compile(r"^\s*generate (a )?(concise |short )?title\b", re.I)
USER_QUERY = re.compile(r"<user_query>(.*?)</user_query>", re.S)
SLOW_MARKER = "[slow]"  # tools/real_astrbot's old stub knob: a reply spread over SLOW_SECONDS
SLOW_SECONDS = 10.0
TITLE_WORDS = 6
CHARS_PER_TOKEN = 4


class BadRequest(Exception):
    """A request the doubles refuse with 400: one sentence naming the field."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value"):
        super().__init__(message)
        self.param, self.code = param, code


# -- what a chat request asks ---------------------------------------------------------------
def text_of(content) -> str:
    """The text of a message's content: a string, or the text parts of a list (AstrBot's
    `<system_reminder>` parts, the date and time it injects, left out)."""
    if isinstance(content, str):
        return REMINDER.sub(" ", content)
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text")
                 == "text")
        return " ".join(REMINDER.sub(" ", p) for p in parts if isinstance(p, str))
    return ""


def last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return " ".join(text_of(message.get("content")).split())
    return ""


def is_title_request(messages: list) -> bool:
    """AstrBot asks, without streaming, for a short title of a new chat."""
    for message in messages:
        text = text_of(message.get("content"))
        if message.get("role") == "system" and TITLE_SYSTEM.search(text):
            return True
        if message.get("role") == "user" and TITLE_USER.search(text):
            return True
    return False


def title_for(messages: list) -> str:
    """The first words of the user query, directives removed (`<None>`, AstrBot's "no
    title", when nothing is left)."""
    text = last_user_text(messages)
    query = USER_QUERY.search(text)
    clean, _ = llm.parse(query.group(1) if query else text)
    words = re.sub(r"[^\w\s'-]", " ", clean).split()[:TITLE_WORDS]
    return " ".join(words) or "<None>"


def paced_text(user_text: str) -> str:
    """The user text handed to SimLLM: `[slow]` (the old stub's knob, still in target.toml
    files) becomes a `[[sim:delay=MS]]` spreading the reply over about SLOW_SECONDS, unless
    the text sets its own pace."""
    if SLOW_MARKER not in user_text or "[[sim:delay=" in user_text:
        return user_text
    clean, directives = llm.parse(user_text)
    deltas = len(llm.split_deltas(llm.reply_for(clean, directives), directives.chunk)) or 1
    return f"{user_text} [[sim:delay={int(SLOW_SECONDS * 1000 / deltas)}]]"


def tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) if text else 0


def usage(messages: list, reply: str) -> dict:
    prompt = sum(tokens(text_of(m.get("content"))) for m in messages)
    return {"prompt_tokens": prompt, "completion_tokens": tokens(reply),
            "total_tokens": prompt + tokens(reply)}


# -- request checks -------------------------------------------------------------------------
def check_chat(body) -> tuple[str, list, bool, bool]:
    """(model, messages, stream, include_usage) of a chat completion request."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string", "model",
                         "missing_required_parameter" if model is None else "invalid_type")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' is required and must be a non-empty array", "messages",
                         "missing_required_parameter" if messages is None else "invalid_type")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"messages[{i}] must be an object with a string 'role'",
                             f"messages[{i}]", "invalid_type")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise BadRequest(f"messages[{i}].content must be a string, an array of parts "
                             "or null", f"messages[{i}].content", "invalid_type")
    stream, options = body.get("stream", False), body.get("stream_options")
    if not isinstance(stream, bool) and stream is not None:
        raise BadRequest("'stream' must be a boolean", "stream", "invalid_type")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("'stream_options' must be an object", "stream_options", "invalid_type")
    n = body.get("n", 1)
    if n not in (1, None):
        raise BadRequest("only n=1 is supported", "n")
    return model, messages, bool(stream), bool((options or {}).get("include_usage"))


def check_model(body) -> str:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string", "model",
                         "missing_required_parameter" if model is None else "invalid_type")
    return model


# -- response objects -----------------------------------------------------------------------
def completion_id() -> str:
    return f"chatcmpl-sim-{uuid.uuid4().hex[:24]}"


def completion(cid: str, model: str, reply: str, used: dict) -> dict:
    message = {"role": "assistant", "content": reply, "refusal": None}
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": used, "system_fingerprint": None}


def chunk(cid: str, model: str, delta: dict | None, finish: str | None = None,
          include_usage: bool = False, used: dict | None = None) -> bytes:
    """One `data:` line of a streamed completion (delta None: the usage chunk, no choices)."""
    obj = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
           "model": model, "system_fingerprint": None,
           "choices": [] if delta is None else
           [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if include_usage:
        obj["usage"] = used
    return sse(obj)


def sse(obj) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def error_object(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# -- embeddings -----------------------------------------------------------------------------
def embedding(text: str, dim: int) -> list[float]:
    """A unit vector derived from `text` (the same text, the same vector)."""
    raw = b""
    while len(raw) < dim:
        raw += hashlib.sha256(f"{text}|{len(raw)}".encode()).digest()
    vec = [b / 255.0 - 0.5 for b in raw[:dim]]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def embeddings(body) -> dict:
    model = check_model(body)
    inputs = body.get("input")
    if isinstance(inputs, (str, int)) or (isinstance(inputs, list) and inputs
                                          and all(isinstance(i, int) for i in inputs)):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(
            isinstance(i, (str, list)) for i in inputs):
        raise BadRequest("'input' must be a string, an array of strings or of token arrays",
                         "input", "invalid_type")
    dim, fmt = body.get("dimensions", 256), body.get("encoding_format") or "float"
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= 4096:
        raise BadRequest("'dimensions' must be an integer from 1 to 4096", "dimensions")
    if fmt not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    data = []
    for index, item in enumerate(inputs):
        vector = embedding(str(item), dim)
        if fmt == "base64":  # little-endian float32, as the openai client decodes it
            vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": vector})
    n = sum(tokens(str(i)) for i in inputs)
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": n, "total_tokens": n}}


# -- audio ----------------------------------------------------------------------------------
def pcm_of(upload: bytes) -> tuple[bytes, float]:
    """The PCM samples of an uploaded WAV and its duration in seconds (any other upload: the
    bytes themselves, as if 16 kHz 16-bit mono, so its transcript is still stable)."""
    try:
        with wave.open(io.BytesIO(upload)) as wav:
            frames = wav.readframes(wav.getnframes())
            rate, width = wav.getframerate() or 16_000, wav.getsampwidth() * wav.getnchannels()
            return frames, len(frames) / (width * rate)
    except (wave.Error, EOFError, ValueError):
        pass
    start = upload.find(b"data", max(0, upload.find(b"WAVE")))  # a WAV `wave` cannot read
    pcm = upload[start + 8:] if upload.startswith(b"RIFF") and start >= 0 else upload
    return pcm, len(pcm) / 32_000
