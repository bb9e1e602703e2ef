"""A raw TCP server on 127.0.0.1 that breaks the wire on purpose, one behaviour per server,
for the wire rule's tests (tests/test_unanswering.py). HTTP behaviours answer every request:

    hang      read the request, never answer (the connection stays open)
    garbage   bytes that are not HTTP, then close
    cut       a status line and headers promising 200 bytes, 20 of them, then close
    half      a status line and half a header, then close
    reset     read the request, then close with a TCP reset (SO_LINGER 0)

WebSocket behaviours complete the upgrade (RFC 6455 4.2.2), then on the first frame:

    ws-hang   never answer
    ws-text   a text frame that is not JSON
    ws-bad    a frame with a reserved opcode (not a WebSocket frame)
    ws-drop   close the TCP connection without a close frame
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading

from tests.broken_targets import BAD_FRAME, CUT_SHORT, HALF_HEADER, NOT_HTTP, NOT_JSON

HTTP_BEHAVIOURS = ("hang", "garbage", "cut", "half", "reset")
WS_BEHAVIOURS = ("ws-hang", "ws-text", "ws-bad", "ws-drop")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
READ_TIMEOUT = 10.0  # a server thread never waits longer for the client


class RawServer:
    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)  # the accept loop sees `stopped` (close does not wake it)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
            with contextlib.suppress(OSError):
                conn.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT)
        with contextlib.suppress(OSError):
            request = _read_head(conn)
            if self.behaviour.startswith("ws-"):
                self._websocket(conn, request)
            else:
                self._http(conn)

    def _http(self, conn: socket.socket) -> None:
        if self.behaviour == "hang":
            self.stopped.wait(READ_TIMEOUT)
            return
        if self.behaviour == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            conn.sendall({"garbage": NOT_HTTP, "cut": CUT_SHORT, "half": HALF_HEADER}[
                self.behaviour])
        conn.close()

    def _websocket(self, conn: socket.socket, request: bytes) -> None:
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        conn.recv(65536)  # the client's first frame
        if self.behaviour == "ws-hang":
            self.stopped.wait(READ_TIMEOUT)
        elif self.behaviour == "ws-text":
            payload = NOT_JSON.encode()
            conn.sendall(bytes([0x81, len(payload)]) + payload)
            self.stopped.wait(READ_TIMEOUT)
        elif self.behaviour == "ws-bad":
            conn.sendall(BAD_FRAME)
            self.stopped.wait(READ_TIMEOUT)
        conn.close()  # ws-drop: no close frame


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
