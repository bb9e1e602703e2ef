"""Hostile inputs for the robustness profile: WebSocket client frames built from the client-frame
schemas of specs/live-api.asyncapi.yaml, HTTP bodies and query values. Pure functions, no
network, deterministic for a seed.

A label reads `class/frame-type/field/variant`; its first part is the class (`Hostile.cls`),
one of the constants below. `surrogate-turn` marks a lone surrogate in the text of an otherwise
valid turn (text_input / send): ROB-WS-004 judges those apart from the rest (ROB-WS-001).
`depth="quick"` keeps a few representative cases per class (tens in all); `"full"` everything,
with seeded mutations of the valid frames and wrong-type pairs on top (thousands)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from .contract import load_yaml
from .frames import schemas

WRONG_TYPE, WRONG_PAIR, MISSING = "wrong-type", "wrong-pair", "missing"
DISCRIMINATOR = "discriminator"
DEEP, SURROGATE, SURROGATE_TURN, OVERSIZE = "deep", "surrogate", "surrogate-turn", "oversize"
BINARY, UNKNOWN, NON_OBJECT, EMPTY = "binary", "unknown-type", "non-object", "empty"
INVALID_UTF8, GARBAGE, PART, MUTATION = "invalid-utf8", "garbage", "part", "mutation"
WS_CLASSES = (WRONG_TYPE, MISSING, DISCRIMINATOR, DEEP, SURROGATE, SURROGATE_TURN, OVERSIZE,
              BINARY, UNKNOWN, NON_OBJECT, EMPTY, INVALID_UTF8, GARBAGE, PART)
FULL_ONLY = (WRONG_PAIR, MUTATION)
KINDS = {"live": "live", "chat": "chat", "openchat": "openchat"}  # kind -> AsyncAPI mode
DEPTHS = (2_000, 100_000)
MIB = 1024 * 1024
OVERSIZES = {"quick": (MIB + 64, 5 * MIB), "full": (MIB + 64, 2 * MIB, 5 * MIB)}
QUICK_PER_CLASS = 3
QUICK_DISCRIMINATORS = ("discriminator/bare/t/list", "discriminator/bare/t/object",
                        "discriminator/bare/t/null")
HUGE_DIGITS = 10_000
LONE = {"d800": "\ud800", "dfff": "\udfff", "reversed": "\udc00\ud800", "mid": "a\ud800b"}


@dataclass(frozen=True)
class Hostile:
    label: str
    payload: str | bytes  # str: a text frame; bytes: a binary frame

    @property
    def cls(self) -> str:
        return self.label.split("/", 1)[0]


@dataclass(frozen=True)
class HostileBody:
    label: str
    body: bytes
    content_type: str = "application/json"

    @property
    def cls(self) -> str:
        return self.label.split("/", 1)[0]


@dataclass(frozen=True)
class HostileQuery:
    label: str
    encoded: str  # the value already percent-encoded, to go into the URL as it is
    repeat: int = 1  # how many times the parameter is given

    @property
    def cls(self) -> str:
        return self.label.split("/", 1)[0]


class _Raw:
    """A JSON token written as it is (a number of 10,000 digits json.dumps cannot produce)."""

    def __init__(self, text: str):
        self.text = text


def dumps(value) -> str:
    """json.dumps (ASCII, lone surrogates as `\\uXXXX` escapes) with _Raw tokens spliced in."""
    raws: list[str] = []

    def default(obj):
        if isinstance(obj, _Raw):
            raws.append(obj.text)
            return f"__hostile_raw_{len(raws) - 1}__"
        raise TypeError(type(obj).__name__)

    text = json.dumps(value, default=default)
    for i, raw in enumerate(raws):
        text = text.replace(f'"__hostile_raw_{i}__"', raw, 1)
    return text


HUGE = _Raw("9" * HUGE_DIGITS)
WRONG_VALUES = (("null", None), ("bool", True), ("number", 1), ("huge-number", HUGE),
                ("string", "x"), ("list", [1]), ("object", {"a": 1}))
PAIR_VALUES = (("null", None), ("number", 1), ("list", [1]), ("object", {"a": 1}))


def deep_list(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, counted without decoding it (outside strings)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


# --- the client frames of the AsyncAPI document --------------------------------------------

def client_messages(kind: str) -> dict[str, dict]:
    """frame type -> payload schema of every client frame of a kind's mode."""
    mode = KINDS[kind]
    out = {}
    for message in load_yaml("live-api.asyncapi.yaml")["components"]["messages"].values():
        meta = message["x-astrbot-frame"]
        if (meta["mode"], meta["direction"]) == (mode, "client"):
            out[meta["type"]] = message["payload"]
    return out


SAMPLES = {"stamp": "seg_001", "data": "AAAAAAAA", "text": "Hello", "session_id": "hostile-1",
           "message": "Hello", "username": "conformance-alice", "message_id": "hostile-msg-1"}
TURN_FIELD = {("live", "text_input"): "text", ("chat", "send"): "message",
              ("openchat", "send"): "message"}


def valid_frame(kind: str, frame_type: str) -> dict:
    """The smallest valid frame of a type: its required fields (ct on chat frames)."""
    schema = client_messages(kind)[frame_type]
    frame: dict = {"ct": "chat"} if kind == "chat" else {}
    frame["t"] = frame_type
    for name in schema.get("required", []):
        frame.setdefault(name, SAMPLES.get(name, "x"))
    return frame


def is_valid(kind: str, frame) -> bool:
    return schemas().check(frame, KINDS[kind], "client").ok


def _frame_fields(kind: str, frame_type: str) -> list[str]:
    props = list(client_messages(kind)[frame_type].get("properties", {}))
    return ["t", *[p for p in props if p != "t"]]


def _wrong_types(kind: str) -> list[Hostile]:
    out = []
    for ftype in client_messages(kind):
        for field in _frame_fields(kind, ftype):
            for vname, value in WRONG_VALUES:
                frame = {**valid_frame(kind, ftype), field: value}
                if isinstance(value, _Raw) or not is_valid(kind, frame):
                    cls = DISCRIMINATOR if field in ("t", "ct") else WRONG_TYPE
                    out.append(Hostile(f"{cls}/{ftype}/{field}/{vname}", dumps(frame)))
    return out


def _missing(kind: str) -> list[Hostile]:
    out = []
    for ftype in client_messages(kind):
        base = valid_frame(kind, ftype)
        for field in base:
            frame = {k: v for k, v in base.items() if k != field}
            if not is_valid(kind, frame):
                out.append(Hostile(f"{MISSING}/{ftype}/{field}/absent", dumps(frame)))
    return out


def _wrong_pairs(kind: str) -> list[Hostile]:
    out = []
    for ftype in client_messages(kind):
        fields = _frame_fields(kind, ftype)
        for i, first in enumerate(fields):
            for second in fields[i + 1:]:
                for n1, v1 in PAIR_VALUES:
                    for n2, v2 in PAIR_VALUES:
                        frame = {**valid_frame(kind, ftype), first: v1, second: v2}
                        if is_valid(kind, frame):
                            continue
                        out.append(Hostile(f"{WRONG_PAIR}/{ftype}/{first}+{second}/{n1}+{n2}",
                                           dumps(frame)))
    return out


def _bare_discriminators(kind: str) -> list[Hostile]:
    """`{"t": [1]}` and its kin on their own (the 500-bytes-in-the-stream case of issue 15)."""
    ct = {"ct": "chat"} if kind == "chat" else {}
    out = [Hostile(f"{DISCRIMINATOR}/bare/t/{name}", dumps({**ct, "t": value}))
           for name, value in WRONG_VALUES if name != "string"]
    out += [Hostile(f"{DISCRIMINATOR}/bare/ct/{name}", dumps({"ct": value, "t": "interrupt"}))
            for name, value in WRONG_VALUES if name != "string"]
    return out


def _turn_frame(kind: str, text) -> dict:
    ftype = "text_input" if kind == "live" else "send"
    return {**valid_frame(kind, ftype), TURN_FIELD[(kind, ftype)]: text}


def _deep(kind: str) -> list[Hostile]:
    out = []
    for levels in DEPTHS:
        out.append(Hostile(f"{DEEP}/bare/list/{levels}", deep_list(levels)))
        out.append(Hostile(f"{DEEP}/bare/object/{levels}", deep_object(levels)))
        # in a string field of a valid frame (the schema refuses a list there, deep or not)
        ftype = "text_input" if kind == "live" else ("bind" if kind == "chat" else "send")
        field = {"live": "text", "chat": "session_id", "openchat": "username"}[kind]
        frame = dumps({**valid_frame(kind, ftype), field: "__deep__"})
        out.append(Hostile(f"{DEEP}/{ftype}/{field}/{levels}",
                           frame.replace('"__deep__"', deep_list(levels))))
    return out


def _surrogates(kind: str) -> list[Hostile]:
    ftype = "text_input" if kind == "live" else "send"
    out = [Hostile(f"{SURROGATE_TURN}/{ftype}/{TURN_FIELD[(kind, ftype)]}/{name}",
                   dumps(_turn_frame(kind, f"Hello {lone}"))) for name, lone in LONE.items()]
    if kind != "live":
        out.append(Hostile(f"{SURROGATE_TURN}/send/message/part-d800",
                           dumps(_turn_frame(kind, [{"type": "plain", "text": "Hi \ud800"}]))))
    for other in client_messages(kind):
        for field in valid_frame(kind, other):
            if field not in ("t", "ct") and (other, field) != (ftype, TURN_FIELD[(kind, ftype)]):
                frame = {**valid_frame(kind, other), field: "\ud800"}
                out.append(Hostile(f"{SURROGATE}/{other}/{field}/d800", dumps(frame)))
    out.append(Hostile(f"{SURROGATE}/bare/t/d800",
                       dumps({**({"ct": "chat"} if kind == "chat" else {}), "t": "\ud800"})))
    out.append(Hostile(f"{SURROGATE}/{ftype}/key/d800",
                       dumps({**_turn_frame(kind, "Hello"), "\ud800": 1})))
    return out


def _oversize(kind: str, depth: str) -> list[Hostile]:
    """An unknown frame type padded past the size: refused whatever the target's size limit."""
    out = []
    for size in OVERSIZES[depth]:
        head = dumps({**({"ct": "chat"} if kind == "chat" else {}), "t": "hostile_oversize"})
        pad = size - len(head) - len(',"pad":""')
        out.append(Hostile(f"{OVERSIZE}/hostile_oversize/pad/{size}",
                           head[:-1] + ',"pad":"' + "x" * pad + '"}'))
    return out


def _simple(kind: str) -> list[Hostile]:
    good = dumps(valid_frame(kind, "interrupt" if kind != "openchat" else "ping"))
    ct = {"ct": "chat"} if kind == "chat" else {}
    noise = random.Random(15)
    out = [Hostile(f"{BINARY}/frame/valid-json/utf8", good.encode()),
           Hostile(f"{BINARY}/frame/random/256", bytes(noise.randrange(256) for _ in range(256))),
           Hostile(f"{BINARY}/turn/valid-json/utf8", dumps(_turn_frame(kind, "Hello")).encode())]
    out += [Hostile(f"{UNKNOWN}/bare/t/{name}", dumps({**ct, "t": value}))
            for name, value in (("made-up", "hostile_unknown"), ("empty", ""),
                                ("upper", "INTERRUPT"), ("padded", " interrupt "))]
    out += [Hostile(f"{NON_OBJECT}/bare/{name}/-", text)
            for name, text in (("list", "[]"), ("list-of-frame", f"[{good}]"), ("number", "1"),
                               ("string", '"interrupt"'), ("null", "null"), ("bool", "true"))]
    out += [Hostile(f"{EMPTY}/text/-/-", ""), Hostile(f"{EMPTY}/text/-/space", " "),
            Hostile(f"{EMPTY}/binary/-/-", b"")]
    out += [Hostile(f"{INVALID_UTF8}/binary/-/{name}", raw)
            for name, raw in (("ff-fe", b"\xff\xfe"), ("overlong", b'{"t":"\xc0\xaf"}'),
                              ("cesu-d800", good[:-1].encode() + b',"x":"\xed\xa0\x80"}'),
                              ("truncated", b'{"t":"\xe2\x82"}'))]
    out += [Hostile(f"{GARBAGE}/text/-/{name}", text)
            for name, text in (("trailing-word", good + " x"), ("two-frames", good + good),
                               ("not-json", "not json"), ("open-brace", "{"),
                               ("cut", good[: len(good) // 2]), ("nan", '{"t":NaN}'),
                               ("trailing-nul", good + "\x00"), ("single-quotes",
                                                                 good.replace('"', "'")))]
    return out


def _parts(kind: str) -> list[Hostile]:
    """Wrong message parts in a chat / openchat send (the message-part schema of POST /chat)."""
    if kind == "live":
        return []
    parts = (("type-list", [{"type": [1], "text": "x"}]), ("type-null", [{"type": None}]),
             ("text-object", [{"type": "plain", "text": {"a": 1}}]),
             ("part-number", [1]), ("part-null", [None]), ("empty-list", []),
             ("text-huge", [{"type": "plain", "text": HUGE}]),
             ("unknown-type", [{"type": "hostile_part", "text": "x"}]))
    return [Hostile(f"{PART}/send/message/{name}", dumps(_turn_frame(kind, value)))
            for name, value in parts]


MUTATION_CHARS = '{}[]":,\\x0 '


def _mutations(kind: str, seed: int, count: int = 1_000) -> list[Hostile]:
    rng = random.Random(f"{seed}/{kind}")
    bases = [dumps(valid_frame(kind, t)) for t in client_messages(kind)] \
        + [dumps(_turn_frame(kind, "Hello"))]
    out: list[Hostile] = []
    seen: set[str] = set()
    for _ in range(count * 20):
        if len(out) >= count:
            break
        text = rng.choice(bases)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(max(len(text), 1))
            op = rng.choice(("delete", "insert", "replace", "cut"))
            char = rng.choice(MUTATION_CHARS)
            text = {"delete": text[:at] + text[at + 1:], "insert": text[:at] + char + text[at:],
                    "replace": text[:at] + char + text[at + 1:], "cut": text[:at]}[op]
        if not text or text in seen:
            continue
        try:
            if is_valid(kind, json.loads(text)):
                continue
        except (ValueError, RecursionError):
            pass
        seen.add(text)
        out.append(Hostile(f"{MUTATION}/any/-/{len(out)}", text))
    return out


def _pick(items: list[Hostile], k: int) -> list[Hostile]:
    """Up to k items spread evenly over a class (the first, the last, and between)."""
    if len(items) <= k:
        return items
    step = (len(items) - 1) / (k - 1)
    return [items[round(i * step)] for i in range(k)]


def ws_frames(kind: str, *, depth: str = "quick", seed: int = 0) -> list[Hostile]:
    """The hostile client frames of one socket kind: live, chat or openchat."""
    if kind not in KINDS or depth not in ("quick", "full"):
        raise ValueError(f"kind {kind!r} / depth {depth!r}")
    frames = (_wrong_types(kind) + _missing(kind) + _bare_discriminators(kind) + _deep(kind)
              + _surrogates(kind) + _oversize(kind, depth) + _simple(kind) + _parts(kind))
    if depth == "full":
        return frames + _wrong_pairs(kind) + _mutations(kind, seed)
    by_class: dict[str, list[Hostile]] = {}
    for item in frames:
        by_class.setdefault(item.cls, []).append(item)
    quick = []
    for cls, items in by_class.items():
        keep = len(items) if cls in (SURROGATE_TURN, OVERSIZE) else QUICK_PER_CLASS
        if cls == DISCRIMINATOR:  # the bare `{"t": [1]}` / `{"t": {}}` / `{"t": null}` first
            quick += [h for h in items if h.label in QUICK_DISCRIMINATORS]
            continue
        quick += _pick(items, keep)
    return quick


# --- HTTP --------------------------------------------------------------------------------------

def json_bodies(depth: str = "quick", *, fields: tuple[str, ...] = ()) -> list[HostileBody]:
    """Hostile JSON bodies; `fields` (an operation's body properties) get the value classes in a
    field each (quick: the first field only)."""
    if depth not in ("quick", "full"):
        raise ValueError(f"depth {depth!r}")
    j = "application/json"
    out = [HostileBody("deep/list/2000", deep_list(2_000).encode()),
           HostileBody("deep/object/2000", deep_object(2_000).encode()),
           HostileBody("deep/list/100000", deep_list(100_000).encode()),
           HostileBody("surrogate/key/d800", dumps({"\ud800": "x"}).encode()),
           HostileBody("surrogate/value/d800", dumps({"a": "\ud800"}).encode()),
           HostileBody("huge-number/top/10000-digits", ("9" * HUGE_DIGITS).encode()),
           HostileBody("huge-number/value/10000-digits", dumps({"a": HUGE}).encode()),
           HostileBody("huge-number/value/1e999999", b'{"a": 1e999999}'),
           HostileBody("duplicate-keys/top/-", b'{"a": 1, "a": "x", "a": [1]}'),
           HostileBody("not-json/text/-", b"not json"),
           HostileBody("not-json/cut/-", b'{"a": '),
           HostileBody("invalid-utf8/value/ff", b'{"a": "\xff\xfe"}'),
           HostileBody("invalid-utf8/value/cesu-d800", b'{"a": "\xed\xa0\x80"}'),
           HostileBody("empty/body/-", b""),
           HostileBody("wrong-top/list/-", b"[1, 2]"),
           HostileBody("wrong-top/string/-", b'"x"'),
           HostileBody("wrong-top/null/-", b"null"),
           HostileBody("wrong-top/number/-", b"1")]
    if depth == "full":
        out += [HostileBody("not-json/form/-", b"a=1&b=2", "application/x-www-form-urlencoded"),
                HostileBody("deep/object/100000", deep_object(100_000).encode()),
                HostileBody("garbage/trailing/-", b'{"a": 1} x', j),
                HostileBody("not-json/nan/-", b'{"a": NaN}', j)]
    values = (("surrogate", "\ud800"), ("surrogate-reversed", "\udc00\ud800"),
              ("huge-number", HUGE), ("huge-float", _Raw("1e999999")),
              ("deep", _Raw(deep_list(2_000))), ("list", [1]), ("object", {"a": 1}),
              ("null", None))
    for field in fields[:1] if depth == "quick" else fields:
        for name, value in values:
            out.append(HostileBody(f"field/{field}/{name}", dumps({field: value}).encode()))
    return out


def query_values(depth: str = "quick") -> list[HostileQuery]:
    """Hostile query values, percent-encoded; lone surrogates as their CESU-8 / WTF-8 bytes."""
    if depth not in ("quick", "full"):
        raise ValueError(f"depth {depth!r}")
    out = [HostileQuery("huge-number/10000-digits", "9" * HUGE_DIGITS),
           HostileQuery("huge-number/1e999999", "1e999999"),
           HostileQuery("huge-number/negative", "-" + "9" * 40),
           HostileQuery("surrogate/d800", "%ED%A0%80"),
           HostileQuery("surrogate/dfff", "%ED%BF%BF"),
           HostileQuery("control/nul", "a%00b"),
           HostileQuery("control/crlf", "a%0D%0AX-Injected:%201"),
           HostileQuery("long/64KiB", "a" * 65_536),
           HostileQuery("repeated/100", "1", repeat=100),
           HostileQuery("invalid-utf8/ff", "%FF%FE")]
    if depth == "full":
        out += [HostileQuery("huge-number/2**63", str(2**63)),
                HostileQuery("huge-number/-2**63-1", str(-(2**63) - 1)),
                HostileQuery("surrogate/reversed", "%ED%B0%80%ED%A0%80"),
                HostileQuery("control/esc-del", "%1B%7F"),
                HostileQuery("long/8KiB", "a" * 8_192),
                HostileQuery("repeated/1000", "x", repeat=1000),
                HostileQuery("empty/-", ""),
                HostileQuery("brackets/-", "%5B%5D%7B%7D")]
    return out
