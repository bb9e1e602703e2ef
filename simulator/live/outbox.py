"""What a WebSocket connection has still to send, bounded, and the one writer that sends it.

Frames are encoded when queued (`encode`: compact JSON in one final unmasked text frame, RFC
6455 section 5.2), so the outbox knows its size in bytes. The writer hands everything queued
to the transport in one write (a socket call per batch, not per frame) and waits while more
than `WRITE_HIGH_WATER` bytes (or half the limit, if smaller) are still buffered for the peer.

A client that stops reading: when more than `limit` bytes (`--ws-outbox-bytes`, default 2 MiB)
wait for it, queued here and buffered in the transport together, for `STALL_GRACE` seconds on
end, the writer gives up: the queue is dropped, and the connection is closed with 1008 "client
is not reading" (a limit of 0 turns this off). A client that reads again within `CLOSE_WAIT`
seconds gets the frames already buffered, then that close frame; after that the TCP connection
is aborted, freeing its buffers. So a connection holds about `limit` plus one turn's burst.

`encode` cannot fail on text: a string the JSON encoder kept a lone surrogate in (only a bug
upstream could put one there: `inbound` replaces them) is sent with U+FFFD in its place, and
logged. The writer itself never dies silently: a failure is logged and the adapter closes the
connection with 1011.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import struct
from collections import deque
from json.encoder import encode_basestring as _escape  # ensure_ascii=False

from ..http.kernel.envelope import dumps

log = logging.getLogger("astrbot_sim.live")
WRITE_HIGH_WATER = 1024 * 1024  # bytes buffered for a slow reader before the writer waits
DEFAULT_LIMIT = 2 * 1024 * 1024
STALL_GRACE = 2.0  # seconds above the limit before a client counts as not reading
CLOSE_WAIT = 10.0  # seconds a closing connection is given before it is aborted
NOT_READING = "client is not reading"
DROP = object()  # in the outbox: close the connection without a close frame (a fault)
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_frame(payload: str) -> bytes:
    """One final, unmasked server text frame (RFC 6455 section 5.2)."""
    try:
        data = payload.encode("utf-8")
    except UnicodeEncodeError:
        log.warning("a frame carried a lone surrogate: sent with U+FFFD in its place")
        data = _SURROGATE.sub("\ufffd", payload).encode("utf-8")
    n = len(data)
    return _SHORT_HEADERS[n] + data if n < 126 else _framed(data)


_SHORT_HEADERS = [bytes((0x81, n)) for n in range(126)]  # FIN + text, 7-bit length, no mask


def _framed(data: bytes) -> bytes:
    n = len(data)
    if n < 126:
        return _SHORT_HEADERS[n] + data
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + data
    return struct.pack("!BBQ", 0x81, 127, n) + data


# printable ASCII but '"' and '\\': bytes a JSON string holds as they are
_AS_IS = bytes(b for b in range(0x20, 0x7f) if b not in b'"\\')


def _plain_ascii(data: str) -> bytes | None:
    """`data` as ASCII bytes if JSON spells it unescaped, else None (a byte table, several
    times faster than str.isprintable on a sentence's Base64 audio)."""
    if not data.isascii():
        return None
    raw = data.encode("ascii")
    return None if raw.translate(None, _AS_IS) else raw


# the hot frames: {"t": T, "data": {"text": str}}, a few per turn each; {"t": T, "data": {...}}
# with a few numbers or strings (metrics, user_msg, bot_msg); constants
_TEXT_FRAMES = {t: '{"t":"' + t + '","data":{"text":'
                for t in ("bot_delta_chunk", "bot_text_chunk")}
_DATA_FRAMES = {t: '{"t":"' + t + '","data":{' for t in ("metrics", "user_msg", "bot_msg")}
_CONSTANT = {"end": '{"t":"end"}', "stop_play": '{"t":"stop_play"}'}
_INFINITY = float("inf")
_PLAIN_KEYS: set[str] = set()  # member names seen that JSON spells as they are (a few dozen)
_SCALAR = {True: "true", False: "false", None: "null"}


def _members(data: dict) -> str | None:
    """The members of `data` as the shared encoder spells them, or None when one of them is
    not a plain name with a str, int, float, bool or None value (then `dumps` does it)."""
    parts = []
    for key, value in data.items():
        if key not in _PLAIN_KEYS:
            if type(key) is not str or _plain_ascii(key) is None:
                return None
            if len(_PLAIN_KEYS) < 256:
                _PLAIN_KEYS.add(key)
        kind = type(value)
        if kind is str:
            parts.append('"' + key + '":' + _escape(value))
        elif kind is float:
            if value != value or value == _INFINITY or value == -_INFINITY:
                return None  # NaN, Infinity: the encoder's own spelling
            parts.append('"' + key + '":' + float.__repr__(value))
        elif kind is int:
            parts.append('"' + key + '":' + int.__repr__(value))
        elif value is None or kind is bool:
            parts.append('"' + key + '":' + _SCALAR[value])
        else:
            return None
    return ",".join(parts)


def frame_json(frame: dict) -> str:
    """A frame as compact JSON, exactly as the shared encoder (`dumps`) spells it. The frames
    of every turn are spelt out directly: a `response` frame's data is Base64 (nothing in it
    needs escaping) and is most of the bytes of a turn, so running it through the JSON encoder
    was the simulator's largest single cost under load; a text chunk needs only its text
    escaped (the encoder's own string escaper); metrics, user_msg and bot_msg hold a few
    names with numbers or strings (the encoder's own float and int spelling); `end` is a
    constant. Anything else, or in another key order, goes to `dumps`."""
    t = frame.get("t")
    if type(t) is not str:
        pass
    elif len(frame) == 2 and next(iter(frame)) == "t":
        data = frame.get("data")
        if t == "response" and type(data) is str:
            if _plain_ascii(data) is not None:
                return '{"t":"response","data":"' + data + '"}'
        elif t in _TEXT_FRAMES:
            if type(data) is dict and len(data) == 1 and type(data.get("text")) is str:
                return _TEXT_FRAMES[t] + _escape(data["text"]) + "}}"
        elif t in _DATA_FRAMES and type(data) is dict:
            members = _members(data)
            if members is not None:
                return _DATA_FRAMES[t] + members + "}}"
    elif t in _CONSTANT and len(frame) == 1:
        return _CONSTANT[t]
    return dumps(frame)


@functools.lru_cache(maxsize=128)
def _response_frame(data: str) -> bytes | None:
    """A `response` frame's text frame for its Base64 `data` (None if JSON would escape some
    of it). The same sentence's audio comes as the same string object again and again
    (`frames.response` caches its Base64): a hit costs a lookup, not a scan and two copies of
    about 9 KiB; 128 entries of at most 2 s of audio are at most 11 MiB."""
    raw = _plain_ascii(data)
    return None if raw is None else _framed(b'{"t":"response","data":"' + raw + b'"}')


def encode(frame: dict) -> bytes:
    """`text_frame(frame_json(frame))`; a `response` frame without re-encoding its audio, and
    the text chunks (most frames of a turn) without going through `frame_json`."""
    t = frame.get("t")
    if type(t) is str and len(frame) == 2 and next(iter(frame)) == "t":
        data = frame.get("data")
        if t == "response":
            if type(data) is str:
                framed = _response_frame(data)
                if framed is not None:
                    return framed
        elif type(data) is dict and len(data) == 1:
            head = _TEXT_FRAMES.get(t)
            text = data.get("text")
            if head is not None and type(text) is str:
                return text_frame(head + _escape(text) + "}}")
    return text_frame(frame_json(frame))


class Outbox:
    """Encoded frames waiting for the writer, in order, and their size in bytes."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit = limit
        self.items: deque = deque()
        self.bytes = 0
        self.closed = False
        self.ready = asyncio.Event()

    def put(self, frame) -> None:
        if self.closed:
            return  # the connection is going: nothing more is queued
        data = DROP if frame is DROP else encode(frame)
        self.items.append(data)
        if data is not DROP:
            self.bytes += len(data)
        self.ready.set()

    def take(self) -> tuple[bytes, bool]:
        """Everything queued, joined; and whether a DROP came (what follows it is left)."""
        items = self.items
        if DROP not in items:  # the usual case: every frame, in one join
            joined = b"".join(items)
            items.clear()
            self.bytes = 0
            self.ready.clear()
            return joined, False
        batch, dropped = [], False
        while self.items:
            data = self.items.popleft()
            if data is DROP:
                dropped = True
                break
            batch.append(data)
        self.bytes = 0 if not self.items else self.bytes - sum(map(len, batch))
        if not self.items:
            self.ready.clear()
        return b"".join(batch), dropped

    def close(self) -> None:
        """Drop what is queued and take nothing more."""
        self.closed = True
        self.items.clear()
        self.bytes = 0


async def write(outbox: Outbox, transport, before_write=None) -> str | None:
    """Send what is queued until the transport closes (None), a DROP is met ("dropped") or
    the client stops reading (NOT_READING). `before_write()`, if given, runs before each
    socket write (the history's flush: what a client is told was stored first)."""
    loop = asyncio.get_running_loop()
    high_water = min(WRITE_HIGH_WATER, outbox.limit // 2) if outbox.limit else WRITE_HIGH_WATER
    while transport is not None and not transport.is_closing():
        await outbox.ready.wait()
        data, dropped = outbox.take()
        if data:
            if before_write is not None:
                before_write()
            transport.write(data)
        if dropped:
            transport.close()  # what was written goes out first; no close frame follows
            return "dropped"
        pause, stalled_since = 0.005, None
        while transport.get_write_buffer_size() > high_water and not transport.is_closing():
            if outbox.limit and outbox.bytes + transport.get_write_buffer_size() > outbox.limit:
                stalled_since = stalled_since or loop.time()
                if loop.time() - stalled_since >= STALL_GRACE:
                    outbox.close()
                    return NOT_READING
            else:
                stalled_since = None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
    return None
