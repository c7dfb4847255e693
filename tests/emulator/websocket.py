"""Server side of RFC 6455 (WebSocket), just enough for Kubernetes streaming subresources.

Written here rather than pulled in as a dependency: the emulator needs the
handshake, masked client frames, fragmentation, ping/pong and close, nothing
more. Reads go through the HTTP handler's buffered ``rfile`` so bytes the
client sent right after the handshake are never lost.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import threading
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class ConnectionClosed(Exception):
    pass


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server frame (servers never mask)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise ConnectionClosed("connection closed mid-frame")
        data += chunk
    return data


def read_frame(stream: BinaryIO) -> tuple[bool, int, bytes]:
    b1, b2 = _read_exact(stream, 2)
    fin, opcode = bool(b1 & 0x80), b1 & 0x0F
    masked, n = bool(b2 & 0x80), b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _read_exact(stream, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _read_exact(stream, 8))
    mask = _read_exact(stream, 4) if masked else b""
    payload = _read_exact(stream, n)
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return fin, opcode, payload


class WebSocket:
    """A server-side connection over an already upgraded socket."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        self.rfile, self.wfile = rfile, wfile
        self._write_lock = threading.Lock()
        self.closed = False

    def send(self, opcode: int, payload: bytes) -> None:
        with self._write_lock:
            if self.closed and opcode != OP_CLOSE:
                raise ConnectionClosed("websocket closed")
            self.wfile.write(encode_frame(opcode, payload))
            self.wfile.flush()

    def send_binary(self, payload: bytes) -> None:
        self.send(OP_BINARY, payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        try:
            self.send(OP_CLOSE, struct.pack("!H", code) + reason.encode())
        except OSError:
            pass
        self.closed = True

    def receive(self) -> tuple[int, bytes]:
        """The next data message (text/binary), answering pings; raises ConnectionClosed."""
        message, message_op = b"", None
        while True:
            fin, opcode, payload = read_frame(self.rfile)
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self.close()
                raise ConnectionClosed("closed by peer")
            if opcode != OP_CONTINUATION:
                message_op, message = opcode, payload
            else:
                message += payload
            if fin and message_op is not None:
                return message_op, message
