"""What a run saw on the wire, summed up from its evidence: the room `astrbot-conformance diff`
compares two runs in, whatever their verdicts say.

Pure functions over a results document (results.json, old ones included: `observe(doc)` reads
only the wire logs its checks kept as evidence and `run.bootstrap`). The summary holds sets and
sequences, never copies of the logs:

- `channels`: per WebSocket path (with its `ct` query when given) and per SSE stream
  (`sse POST /api/v1/chat`), the frame or event types seen in each direction (a frame's `t`,
  else its `type`, prefixed by its `ct` when it has one: `chat:plain`), each with the top-level
  fields seen and, when `data` is an object, its fields; the error `code` values and the close
  codes seen there.
- `exchanges`: per evidence title (the scenario, stable across runs), the ordered type
  sequence of each distinct log, consecutive repeats collapsed (`plain+`), frames the suite sent
  marked `>` (`>send user_message_saved run_started plain+ agent_stats message_saved end`).
- `http_statuses`: the HTTP statuses seen per `METHOD /path/{template}` (the contract's
  templates where a path matches one), WebSocket handshake refusals included.

Lists are capped (the `*_LIMIT`s below); `truncated` names what a cap cut.
"""

from __future__ import annotations

import json
import re
from functools import cache
from urllib.parse import parse_qs, urlsplit

from .contract import load_json, load_yaml

CHANNEL_LIMIT = 40
TYPE_LIMIT = 80  # types per channel and direction
FIELD_LIMIT = 60  # fields per type
EXCHANGE_LIMIT = 400  # evidence titles
SEQUENCES_PER_TITLE = 4
TOKEN_LIMIT = 80  # tokens per sequence (after collapsing)
STATUS_LIMIT = 600  # (method, path) keys
CODE_LIMIT = 40
STREAM_KINDS = ("websocket", "sse")  # evidence kinds whose logs are chat exchanges
METHODS = ("get", "put", "post", "patch", "delete")


def evidence_of(doc: dict) -> list[dict]:
    """Every distinct wire log of a results document: the checks' evidence, then the
    bootstrap's (a log attached to several checks counts once)."""
    found, seen = [], set()
    candidates = [ev for req in doc.get("requirements", []) for check in req.get("checks", [])
                  for ev in check.get("evidence", [])]
    bootstrap = (doc.get("run") or {}).get("bootstrap")
    if isinstance(bootstrap, dict):
        candidates.append(bootstrap)
    for ev in candidates:
        if not isinstance(ev, dict) or not isinstance(ev.get("log"), list):
            continue
        key = json.dumps([ev.get("title"), ev["log"]], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            found.append(ev)
    return found


def observe(doc: dict) -> dict:
    """The `observed` object of results.json for `doc` (see the module docstring)."""
    channels: dict[str, dict] = {}
    exchanges: dict[str, list[str]] = {}
    statuses: dict[str, set[int]] = {}
    truncated: list[str] = []
    for ev in evidence_of(doc):
        kind = str(ev.get("kind") or "log")
        tokens = _walk(ev["log"], kind, channels, statuses, truncated)
        if kind.startswith(STREAM_KINDS) and tokens:
            title = str(ev.get("title") or "?")[:200]
            sequence = _sequence(tokens)
            known = exchanges.get(title)
            if known is None and len(exchanges) >= EXCHANGE_LIMIT:
                _cut(truncated, "exchanges")
                continue
            known = exchanges.setdefault(title, [])
            if sequence not in known:
                if len(known) < SEQUENCES_PER_TITLE:
                    known.append(sequence)
                else:
                    _cut(truncated, f"sequences of {title!r}")
    out = {
        "channels": {name: _finish_channel(ch) for name, ch in sorted(channels.items())},
        "exchanges": {t: sorted(s) for t, s in sorted(exchanges.items())},
        "http_statuses": {k: sorted(v) for k, v in sorted(statuses.items())},
    }
    if truncated:
        out["truncated"] = truncated[:20]
    return out


def of(doc: dict) -> dict:
    """The document's `observed`, computed from its evidence when it has none (older runs)."""
    found = doc.get("observed")
    return found if isinstance(found, dict) and "channels" in found else observe(doc)


# one log ---------------------------------------------------------------------------------

def _walk(log: list, kind: str, channels: dict, statuses: dict, truncated: list) -> list[str]:
    """Record one log's frames, events and statuses; return its sequence tokens."""
    tokens: list[str] = []
    touched: set[str] = set()
    channel: dict | None = None
    pending: tuple[str, str] | None = None  # the request an answer's status belongs to
    for entry in log:
        if not isinstance(entry, dict):
            continue
        direction, data = entry.get("dir"), entry.get("data")
        if direction == ">>":
            request = _request(data)
            if request is not None:
                pending = request
                if isinstance(data, dict) and "connect" in data:
                    channel = _channel(channels, _ws_channel(data["connect"]), truncated)
                    touched.add(channel["_name"])
                elif not kind.startswith("websocket"):
                    channel = None  # an SSE channel opens when its first event arrives
                continue
            frame = _frame(data)
            if frame is not None:
                if channel is None:
                    channel = _channel(channels, f"ws {kind}", truncated)
                touched.add(channel["_name"])
                name = _record(channel, "sent", frame, truncated)
                tokens.append(">" + name)
            continue
        if direction != "<<":
            continue
        if isinstance(data, dict) and isinstance(data.get("status"), int) \
                and "type" not in data and pending:
            _status(statuses, pending, data["status"], truncated)
            if data.get("events") is not None or "body" in data:
                events = [e for e in (data.get("events") or []) if isinstance(e, dict)]
                events += _sse_body(data.get("body"))
                if events:
                    channel = _channel(channels, f"sse {pending[0]} {pending[1]}", truncated)
                    touched.add(channel["_name"])
                    for event in events:
                        tokens.append(_event(channel, event, truncated))
            continue
        if isinstance(data, dict) and "handshake_status" in data and pending:
            _status(statuses, pending, data["handshake_status"], truncated)
            tokens.append(f"handshake({data['handshake_status']})")
            continue
        if isinstance(data, dict) and "close" in data and len(data) <= 2:
            if channel is not None:
                channel["close_codes"].add(data["close"])
            tokens.append(f"close({data['close']})")
            continue
        if isinstance(data, dict) and set(data) == {"body"}:
            events = _sse_body(data["body"])
            if events and pending:
                channel = _channel(channels, f"sse {pending[0]} {pending[1]}", truncated)
                touched.add(channel["_name"])
                tokens += [_event(channel, e, truncated) for e in events]
            else:
                tokens.append(_body_token(data["body"]))
            continue
        frame = _frame(data)
        if frame is None:
            continue
        if kind == "sse" and pending and channel is None:
            channel = _channel(channels, f"sse {pending[0]} {pending[1]}", truncated)
        if channel is None:
            channel = _channel(channels, f"ws {kind}", truncated)
        tokens.append(_event(channel, frame, truncated))
        touched.add(channel["_name"])
    for name in touched:
        channels[name]["logs"] += 1
    return tokens


def _event(channel: dict, frame: dict, truncated: list) -> str:
    name = _record(channel, "received", frame, truncated)
    code = frame.get("code")
    return f"{name}({code})" if code is not None and _is_error(name) else name


def _record(channel: dict, direction: str, frame: dict, truncated: list) -> str:
    name = frame_type(frame)
    types = channel[direction]
    if name not in types and len(types) >= TYPE_LIMIT:
        _cut(truncated, f"types of {channel['_name']}")
        return name
    seen = types.setdefault(name, {"count": 0, "fields": set(), "data_fields": set()})
    seen["count"] += 1
    _add(seen["fields"], frame, truncated, channel["_name"])
    if isinstance(frame.get("data"), dict):
        _add(seen["data_fields"], frame["data"], truncated, channel["_name"])
    code = frame.get("code")
    if code is not None and _is_error(name) and direction == "received" \
            and len(channel["error_codes"]) < CODE_LIMIT:
        channel["error_codes"].add(str(code))
    return name


def frame_type(frame: dict) -> str:
    """A frame's or event's type: its `t`, else its `type`, prefixed by its `ct`."""
    name = frame.get("t", frame.get("type"))
    name = "?" if name is None else str(name)[:60]
    ct = frame.get("ct")
    return f"{str(ct)[:20]}:{name}" if isinstance(ct, str) and ct else name


def _is_error(name: str) -> bool:
    return name.rsplit(":", 1)[-1] == "error"


def _add(fields: set, obj: dict, truncated: list, where: str) -> None:
    for key in obj:
        if key in fields:
            continue
        if len(fields) >= FIELD_LIMIT:
            _cut(truncated, f"fields on {where}")
            return
        fields.add(str(key)[:60])


def _channel(channels: dict, name: str, truncated: list) -> dict:
    if name not in channels and len(channels) >= CHANNEL_LIMIT:
        _cut(truncated, "channels")
        name = "(other)"
    return channels.setdefault(name, {"_name": name, "logs": 0, "sent": {}, "received": {},
                                      "error_codes": set(), "close_codes": set()})


def _finish_channel(ch: dict) -> dict:
    def types(found: dict) -> dict:
        return {name: {"count": t["count"], "fields": sorted(t["fields"]),
                       **({"data_fields": sorted(t["data_fields"])} if t["data_fields"] else {})}
                for name, t in sorted(found.items())}
    return {"logs": ch["logs"], "sent": types(ch["sent"]), "received": types(ch["received"]),
            "error_codes": sorted(ch["error_codes"]),
            "close_codes": sorted(ch["close_codes"], key=str)}


def _ws_channel(url) -> str:
    parts = urlsplit(str(url))
    ct = parse_qs(parts.query).get("ct")
    return f"ws {parts.path}" + (f"?ct={ct[0][:20]}" if ct else "")


def _request(data) -> tuple[str, str] | None:
    """(METHOD, template) of a request entry: an HTTP request, a curl line, a WebSocket
    connect; None for anything else (a frame)."""
    if isinstance(data, dict):
        if "connect" in data:
            return "GET", template(urlsplit(str(data["connect"])).path)
        method = data.get("method")
        where = data.get("url", data.get("path"))
        if isinstance(method, str) and isinstance(where, str):
            return method.upper(), template(urlsplit(where).path)
        return None
    if isinstance(data, str) and data.startswith("curl "):
        method = re.search(r"-X (\w+)", data)
        url = re.search(r"'?(https?://[^\s']+)", data)
        if url:
            return (method.group(1).upper() if method else "GET"), \
                template(urlsplit(url.group(1)).path)
    return None


def _frame(data) -> dict | None:
    if isinstance(data, dict) and ("t" in data or "type" in data):
        return data
    if isinstance(data, dict) and "_binary_bytes" in data:
        return {"t": "<binary>"}
    if isinstance(data, str) and data.lstrip().startswith("{"):
        try:
            parsed = json.loads(data)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) and ("t" in parsed or "type" in parsed) \
            else None
    return None


def _sse_body(body) -> list[dict]:
    """The JSON events of an SSE body kept as text (`data: {...}` lines)."""
    if not isinstance(body, str) or "data:" not in body:
        return []
    events = []
    for line in body.splitlines():
        if line.startswith("data:"):
            try:
                event = json.loads(line[5:].strip())
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def _body_token(body) -> str:
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return "body"
    if isinstance(parsed, dict) and isinstance(parsed.get("status"), str):
        return f"envelope({parsed['status']})"
    return "body"


def _status(statuses: dict, request: tuple[str, str], status, truncated: list) -> None:
    key = f"{request[0]} {request[1]}"
    if key not in statuses and len(statuses) >= STATUS_LIMIT:
        _cut(truncated, "http_statuses")
        return
    if isinstance(status, int):
        statuses.setdefault(key, set()).add(status)


def _sequence(tokens: list[str]) -> str:
    """Tokens joined, consecutive repeats collapsed (`plain plain plain` -> `plain+`)."""
    out: list[str] = []
    for token in tokens:
        if out and out[-1] in (token, token + "+"):
            out[-1] = token + "+"
        else:
            out.append(token)
    if len(out) > TOKEN_LIMIT:
        out = out[:TOKEN_LIMIT] + [f"...(+{len(out) - TOKEN_LIMIT})"]  # one token
    return " ".join(out)


def shape(sequence: str) -> str:
    """What an exchange's sequence says regardless of timing: the types the target sent in
    the order each first appeared, `*` on one that came again later (`plain*`). Races between
    the suite's frames and a stream (where a busy error lands among the deltas, how many
    deltas a reply has) move tokens of the full sequence but not its shape; a new type, a
    missing `end`, `message_saved` before `plain` instead of after, all change it."""
    order: list[str] = []
    last, again = None, set()
    for token in sequence.split():
        if token.startswith((">", "...")):
            continue
        token = token.removesuffix("+")
        if token in order and token != last:
            again.add(token)
        elif token not in order:
            order.append(token)
        last = token
    return " ".join(t + "*" if t in again else t for t in order)


def _cut(truncated: list, what: str) -> None:
    if what not in truncated:
        truncated.append(what)


# path templates --------------------------------------------------------------------------

@cache
def _templates() -> tuple[tuple[re.Pattern, str], ...]:
    """The contract's path templates (both documents), literal ones first."""
    paths = set()
    for doc in (load_yaml("openapi-v1.yaml"), load_json("openapi-open-api-legacy.json")):
        paths.update(doc.get("paths", {}))
    ordered = sorted(paths, key=lambda p: (p.count("{"), -len(p)))
    return tuple((re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(p)) + "$"), p)
                 for p in ordered)


def template(path: str) -> str:
    """The contract's template for a concrete path (`/api/v1/bots/abc` -> `/api/v1/bots/
    {bot_id}`), else the path itself."""
    path = path.rstrip("/") or "/"
    for pattern, name in _templates():
        if pattern.match(path):
            return name
    return path[:200]
