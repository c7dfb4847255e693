"""Aggregated Discovery Service (state of the world) over gRPC with mutual TLS.

One bidirectional stream per Envoy carries all resource types; the protocol of one stream
(nonces, ACK/NACK, what to send) is :class:`osm_mesh.xds.protocol.StreamProtocol`, the node id
and its proof are in :mod:`osm_mesh.xds.identity`. This module does the I/O: the gRPC server,
the streams, and the per-proxy statuses.

The peer's identity is checked once, on the first request: the node id
``<uuid>.sidecar.<sa>.<ns>.<trust-domain>`` must name the ServiceAccount in the SPIFFE URI SAN
of the client certificate presented on the TLS connection; otherwise the stream is refused with
PERMISSION_DENIED.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
import grpc.aio
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from osm_mesh.certs.ca import DEFAULT_TRUST_DOMAIN, uri_sans
from osm_mesh.errors import InvalidInput
from osm_mesh.xds.cache import Snapshot, SnapshotCache
from osm_mesh.xds.identity import NodeId, peer_mismatch, printable
from osm_mesh.xds.protocol import ProxyStatus, StreamProtocol, copy_status
from osm_mesh.xds.stream import CLIENT_CLOSED, AdsLimits, Inbox

__all__ = ["AdsLimits", "AdsServer", "NodeId", "ProxyStatus", "ServerTLS"]

log = logging.getLogger("osm_mesh.xds")


@dataclass(frozen=True)
class ServerTLS:
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes


class AdsServer:
    """The ADS gRPC server. ``on_connect(node_id)`` runs before a new proxy is served (the
    control plane uses it to build that proxy's first snapshot); ``on_disconnect`` after.

    Streams are served by grpc.aio on one event-loop thread (a thread per stream would cost
    thousands of threads for a large mesh); the callbacks, which translate, run in a small
    thread pool. ``tls=None`` serves plaintext (unit tests only).
    """

    def __init__(
        self,
        cache: SnapshotCache,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ServerTLS | None = None,
        trust_domain: str = DEFAULT_TRUST_DOMAIN,
        on_connect: Callable[[NodeId], None] | None = None,
        on_disconnect: Callable[[NodeId], None] | None = None,
        authorize: Callable[[NodeId], str | None] | None = None,
        limits: AdsLimits | None = None,
    ) -> None:
        self.cache = cache
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.trust_domain = trust_domain
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.authorize = authorize
        self.limits = limits or AdsLimits()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._statuses: dict[str, ProxyStatus] = {}
        self._changed = threading.Condition(self._lock)
        # (node id, reason) of the newest refused streams, both shortened: never unbounded.
        self.rejected: deque[tuple[str, str]] = deque(maxlen=self.limits.rejected_log)
        self._streams: dict[str, Inbox] = {}  # node id → its live stream
        self._per_identity: dict[tuple[str, str], int] = {}  # (namespace, sa) → live streams
        self._per_certificate: dict[str, int] = {}  # client certificate digest → streams

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> int:
        loop = asyncio.new_event_loop()
        self._executor = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ads-cb")
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="ads-loop", daemon=True)
        self._thread.start()
        try:
            port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(15)
        except BaseException:
            self._shutdown_loop()
            raise
        self.port = port
        return port

    async def _serve(self) -> int:
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),
                # Keep each stream's receive window at its 64 KiB start: with BDP probing gRPC
                # grows it on fast links, letting clients push megabytes per stream before the
                # server asks for them. ADS requests are small; responses are unaffected.
                ("grpc.http2.bdp_probe", 0),
                ("grpc.max_receive_message_length", self.limits.max_message_bytes),
            ]
        )
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(_Servicer(self), server)
        address = f"{self.host}:{self.requested_port}"
        if self.tls is not None:
            creds = grpc.ssl_server_credentials(
                [(self.tls.key_pem, self.tls.cert_pem)],
                root_certificates=self.tls.ca_pem,
                require_client_auth=True,
            )
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
        if port == 0:
            raise InvalidInput(f"cannot listen on {address} for ADS", hint="is the port in use?")
        await server.start()
        self._server = server
        return port

    def stop(self, grace: float | None = 0.5) -> None:
        server, self._server = self._server, None
        if server is not None and self._loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(server.stop(grace), self._loop).result(
                    (grace or 0) + 10
                )
            except (futures.TimeoutError, RuntimeError):
                log.warning("ADS server did not stop cleanly")
        self._shutdown_loop()
        with self._changed:
            for status in self._statuses.values():
                status.connected = False
            self._changed.notify_all()

    def _shutdown_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            loop.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    # -- status ---------------------------------------------------------------------
    def statuses(self) -> dict[str, ProxyStatus]:
        """Copies of every proxy's status (streams keep updating the originals)."""
        with self._lock:
            return {k: copy_status(v) for k, v in self._statuses.items()}

    def connected_nodes(self) -> list[str]:
        with self._lock:
            return sorted(k for k, v in self._statuses.items() if v.connected)

    def backlog(self) -> dict[str, tuple[int, int]]:
        """Node id → (requests read from the client so far, most ever waiting at once) of
        every live stream: what back-pressure holds down."""
        with self._lock:
            return {k: (v.read, v.high_water) for k, v in self._streams.items()}

    def wait_for(self, predicate: Callable[[dict[str, ProxyStatus]], bool], timeout: float) -> bool:
        """Block until ``predicate(statuses)`` holds (re-checked after every ACK/NACK)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._statuses):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.5))
            return True

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- the stream -----------------------------------------------------------------
    def _check_peer(self, node: NodeId, context: grpc.aio.ServicerContext) -> str | None:
        """None when the client certificate proves the node id's identity, else the reason."""
        if self.tls is None:
            return None
        return peer_mismatch(node, context.auth_context().get("x509_pem_cert"))

    def _refuse(self, node_id: str, reason: str) -> str:
        """Remember (bounded, shortened) and log a refused stream; returns the reason."""
        shown = printable(node_id)
        log.warning("refused ADS stream from %s: %s", shown, printable(reason, 400))
        with self._lock:
            self.rejected.append((shown, printable(reason, 400)))
        return reason

    def _admit(self, node: NodeId, node_id: str, inbox: Inbox) -> str | None:
        """Register a stream for ``node``: None, or why it is refused (identity at its limit).
        An older stream of the same node id is closed: the newest one wins."""
        identity = (node.namespace, node.service_account)
        with self._lock:
            older = self._streams.get(node_id)
            count = self._per_identity.get(identity, 0) - (1 if older is not None else 0)
            if count >= self.limits.max_streams_per_identity:
                return (
                    f"{self.limits.max_streams_per_identity} streams are open for "
                    f"{node.namespace}/{node.service_account} already"
                )
            if older is not None:
                older.close("replaced by a newer stream of the same node")
                self._per_identity[identity] -= 1
            self._streams[node_id] = inbox
            self._per_identity[identity] = self._per_identity.get(identity, 0) + 1
        return None

    def _release(self, node: NodeId, node_id: str, inbox: Inbox) -> None:
        identity = (node.namespace, node.service_account)
        with self._lock:
            if self._streams.get(node_id) is inbox:
                del self._streams[node_id]
                self._per_identity[identity] -= 1
                if not self._per_identity[identity]:
                    del self._per_identity[identity]

    def disconnect(self, node_id: str, reason: str) -> bool:
        """End ``node_id``'s stream (from any thread); False when it has none."""
        with self._lock:
            inbox = self._streams.get(node_id)
        if inbox is None or self._loop is None:
            return False
        try:
            self._loop.call_soon_threadsafe(inbox.close, reason)
        except RuntimeError:
            return False  # the loop is gone: the server stopped
        return True

    def _hold_certificate(self, pems: list[bytes] | None) -> str | None:
        """Count a stream against its client certificate; None when over the limit (it then
        is refused before a byte of it is read). Returns the certificate's key."""
        if not pems:
            return ""
        key = hashlib.sha256(pems[0]).hexdigest()
        with self._lock:
            count = self._per_certificate.get(key, 0)
            if count >= self.limits.max_streams_per_certificate:
                return None
            self._per_certificate[key] = count + 1
        return key

    def _drop_certificate(self, key: str) -> None:
        with self._lock:
            count = self._per_certificate.pop(key, 0) - 1
            if count > 0:
                self._per_certificate[key] = count

    async def stream(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        pems = context.auth_context().get("x509_pem_cert") if self.tls is not None else None
        key = self._hold_certificate(pems)
        if key is None:
            assert pems is not None
            reason = (
                f"{self.limits.max_streams_per_certificate} streams are open with the "
                f"certificate of {', '.join(uri_sans(pems[0])) or '-'} already"
            )
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._refuse("-", reason))
        try:
            async for response in self._stream(requests, context):
                yield response
        finally:
            if key:
                self._drop_certificate(key)

    async def _stream(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        inbox = Inbox(self.limits.request_queue)
        reader = asyncio.create_task(inbox.fill_from(requests))
        try:
            kind, first = await inbox.next(self.limits.first_request_seconds)
            if kind == "timeout":
                message = f"no request within {self.limits.first_request_seconds:g}s"
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, message)
            if kind != "request":
                return
            assert isinstance(first, discovery_pb2.DiscoveryRequest)
            node_id = first.node.id
            try:
                node = NodeId.parse(node_id, self.trust_domain)
            except InvalidInput as exc:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, self._refuse(node_id, exc.message)
                )
            reason = self._check_peer(node, context)
            if reason is None and self.authorize is not None:
                reason = self.authorize(node)
            if reason is not None:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, self._refuse(node_id, reason)
                )
            reason = self._admit(node, node_id, inbox)
            if reason is not None:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, self._refuse(node_id, reason)
                )
            try:
                async for response in self._serve_node(node, first, inbox):
                    yield response
            finally:
                self._release(node, node_id, inbox)
            if inbox.closed and inbox.closed != CLIENT_CLOSED:
                await context.abort(grpc.StatusCode.UNAVAILABLE, inbox.closed)
        finally:
            inbox.close(CLIENT_CLOSED)
            reader.cancel()

    async def _serve_node(
        self, node: NodeId, first: discovery_pb2.DiscoveryRequest, inbox: Inbox
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        loop = asyncio.get_running_loop()
        node_id = first.node.id
        status = ProxyStatus(node_id)
        with self._changed:
            self._statuses[node_id] = status
            self._changed.notify_all()
        log.info("proxy %s connected", node_id)
        if self.on_connect is not None:
            await loop.run_in_executor(self._executor, self.on_connect, node)

        def on_snapshot(snap: Snapshot) -> None:  # called from any thread
            try:
                loop.call_soon_threadsafe(inbox.offer, snap)
            except RuntimeError:
                pass  # the loop is gone: the server stopped

        stream = StreamProtocol(status, nack_message_chars=self.limits.nack_message_chars)
        unwatch = self.cache.watch(node_id, on_snapshot)
        try:
            current = self.cache.get(node_id)
            responses = stream.on_snapshot(current) if current is not None else []
            responses += stream.on_request(first)
            for response in responses:
                yield response
            while True:
                kind, item = await inbox.next()
                if kind == "closed":
                    return
                if kind == "request":
                    assert isinstance(item, discovery_pb2.DiscoveryRequest)
                    responses = stream.on_request(item)
                else:
                    assert isinstance(item, Snapshot)
                    if stream.snapshot is not None and item.version <= stream.snapshot.version:
                        continue
                    responses = stream.on_snapshot(item)
                self._notify()
                for response in responses:
                    yield response
        finally:
            unwatch()
            with self._changed:
                # A newer stream of the same node may have replaced this status already.
                if self._statuses.get(node_id) is status:
                    status.connected = False
                self._changed.notify_all()
            log.info("proxy %s disconnected", node_id)
            if self.on_disconnect is not None and self._executor is not None:
                # Not awaited: this may run while the generator is being closed.
                self._executor.submit(self.on_disconnect, node)


class _Servicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, server: AdsServer) -> None:
        self._server = server

    async def StreamAggregatedResources(self, request_iterator, context):
        async for response in self._server.stream(request_iterator, context):
            yield response

    async def DeltaAggregatedResources(self, request_iterator, context):
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "delta xDS is not served; use state of the world"
        )
