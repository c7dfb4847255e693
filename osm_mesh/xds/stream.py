"""What bounds one ADS stream: its inbox (requests read ahead, the newest snapshot) and the
server-wide limits (:class:`AdsLimits`).

Back-pressure: the inbox holds at most ``request_queue`` requests. When it is full the reader
stops asking gRPC for the next message, so gRPC stops granting the client HTTP/2 flow-control
window and the client's sends block: a proxy that writes without reading stalls itself, not the
server. Snapshots do not queue at all: only the newest one waits to be sent (a proxy that was
slow to read gets the latest state once, not every state in between).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from envoy.service.discovery.v3 import discovery_pb2

from osm_mesh.xds.cache import Snapshot


@dataclass(frozen=True)
class AdsLimits:
    # gRPC refuses larger messages before they are parsed. Envoy's largest requests name the
    # EDS/RDS resources it wants: ~35 bytes per service, so 1 MiB is ~30,000 services.
    max_message_bytes: int = 1 << 20
    # Requests read ahead of processing, per stream.
    request_queue: int = 4
    # A stream must send its first request (the node id) within this time.
    first_request_seconds: float = 15.0
    # Streams accepted at once for one ServiceAccount identity (each node id has at most
    # one: a new stream of the same node replaces the old one).
    max_streams_per_identity: int = 1000
    # Streams open at once with one client certificate, counted before anything is read:
    # what one stolen credential can make the server buffer (a bootstrap certificate belongs
    # to one proxy, which needs one stream, plus one being replaced).
    max_streams_per_certificate: int = 4
    # Refused streams remembered in ``AdsServer.rejected`` (newest kept).
    rejected_log: int = 100
    # Characters of one NACK's error message kept in ProxyStatus.
    nack_message_chars: int = 1024


CLIENT_CLOSED = "the client closed the stream"

Event = tuple[
    str, object
]  # ("request", DiscoveryRequest) | ("snapshot", Snapshot) | ("closed", why)


class Inbox:
    """The events one stream handles, produced by the gRPC reader, the snapshot cache and
    the server (``close``); consumed in order by the stream's handler (``next``)."""

    def __init__(self, request_queue: int) -> None:
        self._requests: deque[discovery_pb2.DiscoveryRequest] = deque()
        self._limit = request_queue
        self._snapshot: Snapshot | None = None
        self._closed: str | None = None
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self.read = 0  # requests taken from gRPC so far
        self.high_water = 0  # the most requests ever waiting at once

    async def fill_from(self, requests: AsyncIterator[discovery_pb2.DiscoveryRequest]) -> None:
        """Read the client's requests, waiting while the inbox is full (the back-pressure)."""
        try:
            async for request in requests:
                self.read += 1
                self._requests.append(request)
                self.high_water = max(self.high_water, len(self._requests))
                self._wake.set()
                while len(self._requests) >= self._limit and self._closed is None:
                    self._space.clear()
                    await self._space.wait()
                if self._closed is not None:
                    return
        except Exception:  # the stream broke (client gone, server stopping)
            pass
        self.close(CLIENT_CLOSED)

    def offer(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` if it is newer than the one waiting (event-loop thread only)."""
        if self._snapshot is None or snapshot.version > self._snapshot.version:
            self._snapshot = snapshot
            self._wake.set()

    def close(self, why: str) -> None:
        if self._closed is None:
            self._closed = why
        self._wake.set()
        self._space.set()

    @property
    def closed(self) -> str | None:
        return self._closed

    async def next(self, timeout: float | None = None) -> Event:
        """The next event: a waiting snapshot, else the oldest request, else "closed".
        ``("timeout", None)`` when nothing came within ``timeout`` seconds."""
        while True:
            # Closed by the server: at once. By the client (a half-close): after what it sent.
            if self._closed is not None and (self._closed != CLIENT_CLOSED or not self._requests):
                return ("closed", self._closed)
            if self._snapshot is not None:
                snapshot, self._snapshot = self._snapshot, None
                return ("snapshot", snapshot)
            if self._requests:
                request = self._requests.popleft()
                self._space.set()
                return ("request", request)
            self._wake.clear()
            if timeout is None:
                await self._wake.wait()
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    return ("timeout", None)
