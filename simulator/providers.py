"""`astrbot-sim providers`: offline, deterministic OpenAI-compatible providers for a real AstrBot.

Wire an AstrBot's chat, speech-to-text and text-to-speech providers to this server and it
answers like the simulator does, from the same back-ends: a user text gives the same reply
text on the simulator and on that AstrBot (SimLLM, `backends/llm.py`, with its `[[sim:...]]`
directives), at the same pace (a timing profile of `backends/timing.py`), audio carrying an
embedded transcript is transcribed to it and speech is a real 16 kHz WAV (`backends/speech.py`).

    astrbot-sim providers [--host 127.0.0.1] [--port 18080 | 0] [--timing PROFILE] [--log FILE]
    python -m simulator providers ...

It prints `providers: http://HOST:PORT/v1` (the base URL for AstrBot's OpenAI-compatible
providers; with `--port 0` a free port) and serves until SIGTERM or Ctrl-C:

    GET  /v1/models                   the doubles' model ids (any model name is accepted)
    POST /v1/chat/completions         stream true: `chat.completion.chunk` SSE deltas at the
                                      back-end's pace, a finish chunk, a usage chunk with
                                      stream_options.include_usage, `data: [DONE]`;
                                      stream false: one `chat.completion` with usage
    POST /v1/audio/transcriptions     multipart `file` -> {"text": ...}
    POST /v1/audio/speech             {"input": ...} -> audio/wav (response_format wav only)
    POST /v1/embeddings               deterministic unit vectors (float or base64)
    GET  /_providers/requests         the last 200 requests, secrets redacted (loopback only)

The reply is to the last user message, AstrBot's `<system_reminder>` parts left out. A
title request (AstrBot asks for a title of a new chat) gets the query's first words at once.
`[slow]` in the text (the old stub's knob) spreads the reply over about 10 s;
`[[sim:fail]]` answers 500 with an OpenAI error object, `[[sim:fail_after=N]]` streams N
deltas and then an error chunk. `[[sim:tts=off]]` has no effect here: AstrBot decides on
speech. Errors are OpenAI-shaped (`{"error": {"message", "type", "param", "code"}}`), 4xx
for bad input. Any API key is accepted; the log shows it redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from . import providers_openai as oai
from .backends import speech, timing
from .backends.llm import LLMFailure, SimLLM
from .control import is_loopback

log = logging.getLogger("simulator.providers")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 18080
MODELS = ("sim-llm", "sim-embedding", "sim-whisper", "sim-tts")
MAX_BODY = 64 * 1024 * 1024  # AstrBot may send images as data URLs
MAX_SPEECH_INPUT = 4096  # characters, as OpenAI's speech endpoint
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")
KEPT_REQUESTS = 200
# what the request log shows of a request's body (web.RequestKey from aiohttp 3.13 on)
LOG_BODY = web.RequestKey("log_body", object) if hasattr(web, "RequestKey") else "log_body"


@dataclass
class Providers:
    """What the server holds: the back-ends, the request log and a request counter (the seed
    of each request's jitter)."""

    timing: timing.Timing
    log_path: Path | None = None
    requests: collections.deque = field(default_factory=lambda: collections.deque(
        maxlen=KEPT_REQUESTS))
    counter: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self):
        self.llm = SimLLM(self.timing)

    def rng(self):
        return self.timing.rng("providers", next(self.counter))

    def record(self, entry: dict) -> None:
        entry["body"] = shortened(entry.get("body"))
        self.requests.append(entry)
        if self.log_path is not None:
            try:
                with self.log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            except OSError as exc:
                log.warning("request log %s: %s", self.log_path, exc)


STATE = web.AppKey("providers", Providers)
LONGEST_LOGGED = 4000  # characters of one string in a logged body (images as data URLs)


def shortened(value):
    """`value` with every string longer than LONGEST_LOGGED cut, saying how long it was."""
    if isinstance(value, str) and len(value) > LONGEST_LOGGED:
        return f"{value[:200]}...<{len(value)} characters>"
    if isinstance(value, list):
        return [shortened(v) for v in value]
    if isinstance(value, dict):
        return {k: shortened(v) for k, v in value.items()}
    return value


def error(status: int, message: str, code: str | None = None, param: str | None = None,
          headers: dict | None = None) -> web.Response:
    type_ = "server_error" if status >= 500 else "invalid_request_error"
    return web.json_response(oai.error_object(message, type_, code, param), status=status,
                             headers=headers)


def failed(exc: LLMFailure) -> web.Response:
    """A directive's failure, as a failing provider answers it. `x-should-retry: false` tells
    the openai client not to retry (AstrBot 4.26.2 still retries a 5xx itself, 5 attempts in
    about 15 s, unless its `provider_settings.request_max_retries` is 1)."""
    return error(500, f"the provider failed: {exc}", "provider_failure",
                 headers={"x-should-retry": "false"})


def redacted(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization") or request.headers.get("api-key")
    if not auth:
        return None
    scheme, _, secret = auth.partition(" ")
    return f"{scheme} <redacted>" if secret else "<redacted>"


@web.middleware
async def errors_and_log(request: web.Request, handler) -> web.StreamResponse:
    """OpenAI-shaped errors for everything (no traceback reaches a client) and one log entry
    per request."""
    started = time.time()
    try:
        response = await handler(request)
    except oai.BadRequest as exc:
        response = error(400, str(exc), exc.code, exc.param)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        code = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}
        response = error(exc.status, f"{request.method} {request.path}: {exc.reason}",
                         code.get(exc.status), headers=allow)
    except Exception:  # a bug here: say so in one line, keep the traceback in our log
        log.exception("%s %s failed", request.method, request.path)
        response = error(500, "internal error in the provider doubles", "internal_error")
    if request.path != "/_providers/requests":
        request.app[STATE].record({"ts": started, "method": request.method,
                                   "path": request.path, "auth": redacted(request),
                                   "status": response.status, "body": request.get(LOG_BODY)})
    return response


async def json_body(request: web.Request):
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        request[LOG_BODY] = {"invalid_json": raw[:500].decode("utf-8", "replace")}
        raise oai.BadRequest("the request body is not valid JSON", code="invalid_json") from None
    request[LOG_BODY] = body
    return body


# -- routes ---------------------------------------------------------------------------------
async def models(request: web.Request) -> web.Response:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "astrbot-sim"}
            for m in MODELS]
    return web.json_response({"object": "list", "data": data})


async def model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    return web.json_response({"id": name, "object": "model", "created": 0,
                              "owned_by": "astrbot-sim"})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    model_name, messages, stream, include_usage = oai.check_chat(body)
    state, cid = request.app[STATE], oai.completion_id()
    if not stream and oai.is_title_request(messages):
        title = oai.title_for(messages)
        await asyncio.sleep(timing.TTFT_FLOOR_MS / 1000)
        return web.json_response(oai.completion(cid, model_name, title,
                                                oai.usage(messages, title)))
    deltas = state.llm.stream(oai.paced_text(oai.last_user_text(messages)), state.rng())
    if not stream:
        try:
            reply = "".join([delta async for delta in deltas])
        except LLMFailure as exc:
            return failed(exc)
        return web.json_response(oai.completion(cid, model_name, reply,
                                                oai.usage(messages, reply)))
    return await stream_completion(request, deltas, cid, model_name, messages, include_usage)


async def stream_completion(request, deltas, cid, model_name, messages, include_usage):
    """The SSE stream of one completion. The status line waits for the first delta, so a
    failure before it is still a plain 500."""
    response, reply = None, ""

    async def start() -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                          "Cache-Control": "no-cache"})
        await out.prepare(request)
        await out.write(oai.chunk(cid, model_name, {"role": "assistant", "content": ""},
                                  include_usage=include_usage))
        return out

    try:
        async for delta in deltas:
            response = response or await start()
            reply += delta
            await response.write(oai.chunk(cid, model_name, {"content": delta},
                                           include_usage=include_usage))
        response = response or await start()
        await response.write(oai.chunk(cid, model_name, {}, "stop",
                                       include_usage=include_usage))
        if include_usage:
            await response.write(oai.chunk(cid, model_name, None, include_usage=True,
                                           used=oai.usage(messages, reply)))
        await response.write(b"data: [DONE]\n\n")
    except LLMFailure as exc:
        if response is None:
            return failed(exc)
        await response.write(oai.sse(oai.error_object(f"the provider failed: {exc}",
                                                      "server_error", "provider_failure")))
    except ConnectionResetError:  # the client went away (an interrupted turn)
        return response
    await response.write_eof()
    return response


async def transcriptions(request: web.Request) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        raise oai.BadRequest("send the audio as multipart/form-data with a 'file' field",
                             "file", "invalid_content_type")
    form = await request.post()
    upload, fmt = form.get("file"), form.get("response_format") or "json"
    if not hasattr(upload, "file"):
        raise oai.BadRequest("'file' is required: the audio to transcribe", "file",
                             "missing_required_parameter")
    if not isinstance(form.get("model"), str) or not form.get("model"):
        raise oai.BadRequest("'model' is required and must be a non-empty string", "model",
                             "missing_required_parameter")
    if fmt not in TRANSCRIPTION_FORMATS:
        raise oai.BadRequest(f"response_format {fmt!r} is not supported; use one of "
                             f"{', '.join(TRANSCRIPTION_FORMATS)}", "response_format")
    pcm, seconds = oai.pcm_of(upload.file.read())
    text = speech.transcribe(pcm)
    request[LOG_BODY] = {"model": form.get("model"), "file": upload.filename,
                         "audio_seconds": round(seconds, 3), "transcript": text}
    state = request.app[STATE]
    await asyncio.sleep(state.timing.stt_seconds(seconds, state.rng()))
    if fmt == "text":
        return web.Response(text=text, content_type="text/plain")
    if fmt == "verbose_json":
        return web.json_response({"task": "transcribe", "language": "english",
                                  "duration": round(seconds, 3), "text": text, "segments": []})
    return web.json_response({"text": text})


async def audio_speech(request: web.Request) -> web.Response:
    body = await json_body(request)
    oai.check_model(body)
    text, fmt, voice = body.get("input"), body.get("response_format") or "wav", body.get("voice")
    if not isinstance(text, str) or not text.strip():
        raise oai.BadRequest("'input' is required and must be a non-empty string", "input",
                             "missing_required_parameter" if text is None else "invalid_type")
    if len(text) > MAX_SPEECH_INPUT:
        raise oai.BadRequest(f"'input' is longer than {MAX_SPEECH_INPUT} characters", "input")
    if voice is not None and not isinstance(voice, str):
        raise oai.BadRequest("'voice' must be a string", "voice", "invalid_type")
    if fmt != "wav":
        raise oai.BadRequest(f"response_format {fmt!r} is not supported by the offline "
                             "text-to-speech: use 'wav' (16 kHz mono 16-bit PCM)",
                             "response_format", "unsupported_value")
    state = request.app[STATE]
    await asyncio.sleep(state.timing.tts_seconds(text, state.rng()))
    return web.Response(body=speech.synthesize(text), content_type="audio/wav")


async def embeddings(request: web.Request) -> web.Response:
    return web.json_response(oai.embeddings(await json_body(request)))


async def recent_requests(request: web.Request) -> web.Response:
    if not is_loopback(request):
        return error(403, "/_providers/requests answers loopback clients only", "forbidden")
    return web.json_response(list(request.app[STATE].requests), dumps=lambda o: json.dumps(
        o, ensure_ascii=False, default=str))


def create_app(timing_in_force: timing.Timing | None = None,
               log_path: str | Path | None = None) -> web.Application:
    """The provider doubles as an aiohttp application (routes under /v1 and, as some
    clients send them, without the prefix)."""
    app = web.Application(middlewares=[errors_and_log], client_max_size=MAX_BODY)
    app[STATE] = Providers(timing_in_force or timing.resolve(),
                           Path(log_path) if log_path else None)
    for prefix in ("/v1", ""):
        app.router.add_get(f"{prefix}/models", models)
        app.router.add_get(f"{prefix}/models/{{model}}", model)
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_post(f"{prefix}/audio/transcriptions", transcriptions)
        app.router.add_post(f"{prefix}/audio/speech", audio_speech)
        app.router.add_post(f"{prefix}/embeddings", embeddings)
    app.router.add_get("/_providers/requests", recent_requests)
    return app


# -- command line ---------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="astrbot-sim providers",
                                description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="port (default %(default)s; 0 picks a free one)")
    p.add_argument("--timing", "--timing-profile", dest="timing", action="append", default=[],
                   metavar="PROFILE|NAME=VALUE",
                   help=f"timing profile ({', '.join(timing.PROFILES)}; default "
                        f"{timing.DEFAULT_PROFILE} or $ASTRBOT_SIM_TIMING_PROFILE) or one "
                        "setting as for astrbot-sim --timing; repeatable")
    p.add_argument("--log", metavar="FILE", default=None,
                   help="append every request to FILE as a JSON line (secrets redacted)")
    return p.parse_args(argv)


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; print the base URL once listening."""
    stop, loop = asyncio.Event(), asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the URL is printed: a launcher may
        loop.add_signal_handler(sig, stop.set)   # stop us as soon as it has read it
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        print(f"providers: http://{shown}:{bound}/v1", flush=True)
        print(f"  - timing profile {app[STATE].timing.profile}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    profiles = [t for t in args.timing if "=" not in t]
    try:
        if len(profiles) > 1:
            raise timing.TimingError(f"--timing: one profile only, got {', '.join(profiles)}")
        settings = timing.parse_assignments([t for t in args.timing if "=" in t])
        chosen = timing.resolve(profiles[0] if profiles else None, settings)
    except timing.TimingError as exc:
        print(f"astrbot-sim providers: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"astrbot-sim providers: --port must be 0..65535, got {args.port}",
              file=sys.stderr)
        return 2
    if args.log:
        try:
            Path(args.log).open("a", encoding="utf-8").close()
        except OSError as exc:
            print(f"astrbot-sim providers: --log {args.log}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
    try:
        asyncio.run(serve(create_app(chosen, args.log), args.host, args.port))
    except OSError as exc:
        print(f"astrbot-sim providers: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C before the handlers were installed
        pass
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
