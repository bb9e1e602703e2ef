"""A raw WebSocket client (RFC 6455 by hand, no library between the suite and the bytes), for
hostile input: it sends any payload as one text or binary frame and reports exactly what came
back, a frame, a close (its code and reason), bytes that are no WebSocket frame (an HTTP page
written into the upgraded stream), the end of the stream, or silence. No extension is offered,
so a conforming server sends plain unmasked frames. Every wait is bounded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import ssl
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..outcomes import SuiteError, TargetTimeout
from .transcript import Transcript

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER = 64 * 1024
MAX_MESSAGE = 32 * 1024 * 1024
SHOWN = 300  # characters of a payload written to the transcript
LOG_CAP = 3_000  # transcript entries per connection before the log only counts


@dataclass
class Event:
    kind: str  # "text", "binary", "close", "garbage", "eof", "silent"
    data: str | bytes = ""
    code: int | None = None  # a close's code (None: a close frame without one)
    reason: str = ""

    def json(self):
        """The decoded text frame, or None when it is no JSON."""
        try:
            return json.loads(self.data) if self.kind == "text" else None
        except ValueError:
            return None

    def shown(self) -> str:
        if self.kind == "close":
            return f"close {self.code} {self.reason!r}"
        if self.kind in ("garbage", "binary"):
            return f"{self.kind} {bytes(self.data[:120])!r}"
        return f"{self.kind} {str(self.data)[:SHOWN]}"


class Handshake(Exception):
    """The upgrade was refused (status) or answered with no HTTP at all."""

    def __init__(self, status: int | None, head: bytes):
        super().__init__(f"WebSocket handshake answered {status or head[:80]!r}")
        self.status = status
        self.head = head


class RawWebSocket:
    def __init__(self, reader, writer, transcript: Transcript, timeout: float):
        self.reader, self.writer = reader, writer
        self.transcript = transcript
        self.timeout = timeout
        self.logged = 0
        self.closed = False

    @classmethod
    async def open(cls, url: str, *, timeout: float, transcript: Transcript,
                   headers: dict | None = None) -> RawWebSocket:
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        transcript.add(">>", {"connect": url, "headers": headers or {}, "client": "raw"})
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                parts.hostname, port, ssl=ssl.create_default_context() if secure else None,
                limit=MAX_HEADER), timeout)
        except TimeoutError as exc:
            raise TargetTimeout(f"no TCP connection to {parts.netloc} within {timeout} s") \
                from exc
        except OSError as exc:
            raise SuiteError(f"cannot connect to {url}: {exc}") from exc
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except TimeoutError as exc:
            writer.close()
            raise TargetTimeout(f"WebSocket handshake to {parts.path} not answered within "
                                f"{timeout} s") from exc
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            writer.close()
            raise Handshake(None, getattr(exc, "partial", b"")) from exc
        status = _status(head)
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if status != 101 or accept.lower().encode() not in head.lower():
            transcript.add("<<", {"handshake_status": status, "head": head[:300].decode(
                "latin-1")})
            writer.close()
            raise Handshake(status, head)
        transcript.note("connected (raw client)")
        return cls(reader, writer, transcript, timeout)

    # sending --------------------------------------------------------------------------------
    async def send(self, payload: str | bytes, label: str = "") -> bool:
        """One frame (text for str, binary for bytes); False when the target has closed or
        reset the connection before it all went out."""
        binary = isinstance(payload, bytes)
        data = payload if binary else payload.encode("utf-8", "surrogatepass")
        shown = f"<{len(data)} binary bytes> {data[:60]!r}" if binary else payload[:SHOWN]
        self.log(">>", {"label": label, "bytes": len(data), "frame": shown} if label else shown)
        return await self.send_frame(0x2 if binary else 0x1, data)

    async def send_frame(self, opcode: int, data: bytes) -> bool:
        mask = os.urandom(4)
        size = len(data)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        key = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
        try:
            self.writer.write(head + mask + masked)
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        except (ConnectionError, OSError, TimeoutError):
            return False
        return True

    # receiving ------------------------------------------------------------------------------
    async def recv(self, timeout: float | None = None) -> Event:
        """The next message (pings answered, fragments joined), or what the stream did."""
        wait = self.timeout if timeout is None else timeout
        try:
            event = await asyncio.wait_for(self._message(), wait)
        except TimeoutError:
            event = Event("silent", f"nothing within {wait} s")
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            event = Event("eof", "the stream ended without a close frame")
        if event.kind in ("close", "eof", "garbage"):
            self.closed = True
        self.log("<<", event.shown() if event.kind != "text" else _decoded(event.data))
        return event

    async def _message(self) -> Event:
        parts: list[bytes] = []
        first = None
        while True:
            head = await self.reader.readexactly(2)
            fin, rsv, opcode = head[0] & 0x80, head[0] & 0x70, head[0] & 0x0F
            masked, size = head[1] & 0x80, head[1] & 0x7F
            if rsv or masked or opcode not in (0, 1, 2, 8, 9, 10):
                rest = await self._drain()
                return Event("garbage", head + rest)
            if size == 126:
                size = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            if size > MAX_MESSAGE:
                return Event("garbage", head + f" (a frame of {size} bytes)".encode())
            data = await self.reader.readexactly(size)
            if opcode == 8:
                return _close(data)
            if opcode == 9:  # ping: pong it, as RFC 6455 5.5.2 asks
                await self.send_frame(0xA, data)
                continue
            if opcode == 10:
                continue
            if opcode == 0 and first is None or opcode != 0 and first is not None:
                return Event("garbage", head + data[:200])
            first = opcode if first is None else first
            parts.append(data)
            if fin:
                whole = b"".join(parts)
                if first == 2:
                    return Event("binary", whole)
                try:
                    return Event("text", whole.decode("utf-8"))
                except UnicodeDecodeError:
                    return Event("garbage", b"text frame, not UTF-8: " + whole[:200])

    async def _drain(self) -> bytes:
        """What follows a broken frame header, briefly (the evidence of what was written)."""
        with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError):
            return await asyncio.wait_for(self.reader.read(400), 0.5)
        return b""

    async def close(self) -> Event | None:
        """A proper close (1000), then the target's close frame if it sends one, bounded."""
        answer = None
        if not self.closed:
            self.closed = True
            if await self.send_frame(0x8, struct.pack("!H", 1000)):
                with contextlib.suppress(Exception):
                    answer = await asyncio.wait_for(self._until_close(), min(self.timeout, 2.0))
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        return answer

    async def _until_close(self) -> Event:
        while True:
            event = await self._message()
            if event.kind in ("close", "garbage"):
                return event

    async def __aenter__(self) -> RawWebSocket:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def log(self, direction: str, payload) -> None:
        self.logged += 1
        if self.logged <= LOG_CAP:
            self.transcript.add(direction, payload)
        elif self.logged == LOG_CAP + 1:
            self.transcript.note(f"more than {LOG_CAP} frames on this connection: the rest is "
                                 "judged but not logged")


def _status(head: bytes) -> int | None:
    first = head.split(b"\r\n", 1)[0].split()
    if len(first) >= 2 and first[0].startswith(b"HTTP/") and first[1].isdigit():
        return int(first[1])
    return None


def _close(data: bytes) -> Event:
    if len(data) >= 2:
        return Event("close", data[2:], struct.unpack("!H", data[:2])[0],
                     data[2:].decode("utf-8", "replace"))
    return Event("close", data, None)


def _decoded(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text[:SHOWN]
