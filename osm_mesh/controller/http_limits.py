"""Bounds on what one client can make the control plane's HTTP servers hold.

Every figure is checked before the bytes it describes are read: the header block has a byte
budget, a body's length must be declared (no chunked bodies, no negative or non-numeric
``Content-Length``) and fit both the route's cap and a budget shared by all requests in
flight, connections and running handlers are counted, and a client address may be rate
limited. See docs/security.md (issue 11, item 1).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.message import Message
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per client address: ``burst`` requests at once, ``per_second`` after."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class Limits:
    # Largest body a route may receive; 0: no route of this server takes a body.
    max_body: int = 0
    # Bytes of bodies all requests together may hold at once (0: four times max_body).
    body_budget: int = 0
    # Connections served at once; more are closed at accept, before anything is read.
    max_connections: int = 32
    # Route handlers running at once (the webhook parses JSON: memory grows with each).
    max_handlers: int = 4
    # How long a request waits for a handler slot before it gets 503.
    handler_wait: float = 10.0
    # Request line + headers, in bytes (the standard library alone allows ~6 MiB).
    header_bytes: int = 16 * 1024
    # A client silent this long is dropped; a body must arrive within body_deadline.
    idle_timeout: float = 10.0
    body_deadline: float = 10.0
    rate: RateLimit | None = None

    @property
    def effective_body_budget(self) -> int:
        return self.body_budget or 4 * self.max_body


# Probes, scrapes, /version: GET only, small and few.
GET_ONLY = Limits(max_body=0, max_connections=16, max_handlers=4)


class Refusal(Exception):
    """A request refused before its body is read: HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def declared_length(headers: Message, max_body: int, *, required: bool = False) -> int:
    """The body length a request declares, checked against ``max_body`` without reading it.

    Refused: any Transfer-Encoding (a chunked body has no length to check up front), more
    than one Content-Length, anything but ASCII digits (``-1`` would read to EOF), a length
    above ``max_body`` (0 for routes that take no body), no length when ``required``.
    """
    if headers.get("Transfer-Encoding") is not None:
        raise Refusal(411, "chunked or encoded bodies are not accepted; send Content-Length")
    values = headers.get_all("Content-Length") or []
    if not values:
        if required:
            raise Refusal(411, "Content-Length is required")
        return 0
    if len(values) > 1:
        raise Refusal(400, "more than one Content-Length")
    text = values[0].strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise Refusal(400, f"invalid Content-Length {values[0][:20]!r}")
    length = int(text)
    if length > max_body:
        if max_body == 0:
            raise Refusal(400, "this route takes no request body")
        raise Refusal(413, f"request body larger than {max_body} bytes")
    return length


class ByteBudget:
    """Bytes reserved by requests in flight; a reservation that does not fit is refused."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.total:
                return False
            self.used += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self.used -= n


class RateLimiter:
    """Token buckets per client address; at most ``max_clients`` tracked (oldest dropped)."""

    def __init__(self, limit: RateLimit, max_clients: int = 4096) -> None:
        self.limit = limit
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, stamp = self._buckets.pop(client, (float(self.limit.burst), now))
            tokens = min(self.limit.burst, tokens + (now - stamp) * self.limit.per_second)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return allowed

    def retry_after(self) -> int:
        return max(1, int(1 / self.limit.per_second + 0.999))


class HeaderBudget:
    """A connection's reader with a byte budget for each request's line and headers.

    ``reset()`` at the start of every request; past ``limit`` bytes, readline raises
    ``http.client.LineTooLong`` (the standard library's own signal: the handler answers
    431). Bodies are read from ``raw`` directly, bounded by their declared length.
    """

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self._left = limit

    def reset(self) -> None:
        self._left = self.limit

    def readline(self, size: int | None = -1) -> bytes:
        if self._left <= 0:
            raise http.client.LineTooLong("header block")
        cap = self._left if size is None or size < 0 else min(size, self._left)
        line = self.raw.readline(cap)
        self._left -= len(line)
        if self._left <= 0 and not line.endswith(b"\n"):
            raise http.client.LineTooLong("header block")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def read_exactly(raw: Any, length: int, deadline: float, sock: Any) -> bytearray | None:
    """``length`` bytes from ``raw`` within ``deadline`` (monotonic), else None.

    The buffer is allocated once at the declared (already bounded) size; a client that
    trickles bytes is cut off at the deadline, not at each read's timeout.
    """
    buf = bytearray(length)
    view = memoryview(buf)
    got = 0
    try:
        while got < length:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(min(left, 5.0))
            n = raw.readinto1(view[got : got + 64 * 1024])  # returns what has arrived
            if not n:
                return None
            got += n
    except OSError:
        return None
    finally:
        view.release()
    return buf
