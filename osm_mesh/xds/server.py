"""Aggregated Discovery Service (state of the world) over gRPC with mutual TLS.

One bidirectional stream per Envoy carries all resource types; the protocol of one stream
(nonces, ACK/NACK, what to send) is :class:`osm_mesh.xds.protocol.StreamProtocol`, the node id
and its proof are in :mod:`osm_mesh.xds.identity`. This module does the I/O: the gRPC server,
the streams, and the per-proxy statuses.

Who a stream is for is decided before anything of it is read: the client certificate (a
bootstrap certificate, ``osm_mesh.certs.bootstrap``, from the only CA this server trusts) names
one node id; ``authorize`` (the control plane: a live pod of that identity with that proxy UUID)
and the stream limits (``admission``) are applied to it; then the first request must carry
that same node id. Otherwise the stream is refused, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
import grpc.aio
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from osm_mesh.certs.bootstrap import certificate_node_id
from osm_mesh.certs.ca import DEFAULT_TRUST_DOMAIN, uri_sans
from osm_mesh.errors import InvalidInput
from osm_mesh.xds.admission import StreamLedger
from osm_mesh.xds.cache import Snapshot, SnapshotCache
from osm_mesh.xds.departures import DEFAULT_GRACE_SECONDS, Departures
from osm_mesh.xds.identity import NodeId, printable
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
    ``on_progress(node_id, status)`` runs on the event loop when a stream opens (before its
    status is visible), after every request or snapshot it handled, and when it ends: it must
    be quick (the control plane tracks which proxies still have to ACK their newest snapshot
    with it, in O(1) per call).

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
        on_depart: Callable[[str], None] | None = None,
        departure_grace: float = DEFAULT_GRACE_SECONDS,
        limits: AdsLimits | None = None,
        on_progress: Callable[[str, ProxyStatus], None] | None = None,
    ) -> None:
        self.cache = cache
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.trust_domain = trust_domain
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.authorize = authorize
        self.on_depart = on_depart
        self._departures = Departures(departure_grace, self._forget_now)
        # Node ids whose stream is being ended by ``forget``: forgotten when it has ended.
        self._evicted: set[str] = set()
        self.on_progress = on_progress
        self.limits = limits or AdsLimits()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._statuses: dict[str, ProxyStatus] = {}
        self._changed = threading.Condition(self._lock)
        self.ledger = StreamLedger(self.limits)
        # (node id, reason) of the newest refused streams, both shortened: never unbounded.
        self.rejected = self.ledger.rejected

    # -- lifecycle ------------------------------------------------------------------
    START_TIMEOUT_SECONDS = 15.0

    def start(self) -> int:
        loop = asyncio.new_event_loop()
        self._executor = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ads-cb")
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="ads-loop", daemon=True)
        self._thread.start()
        starting = asyncio.run_coroutine_threadsafe(self._serve(), loop)
        try:
            port = starting.result(self.START_TIMEOUT_SECONDS)
        except BaseException:
            # Cut short (Ctrl-C, a timeout) or failed: stop the gRPC server _serve may already
            # have started before the loop goes, or grpc's finalizer later schedules its
            # shutdown on a closed loop and prints a traceback at the user.
            starting.cancel()
            self.stop(grace=None)
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
        self._server = server  # stop() reaches it even if start() is cut short from here on
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
        self._departures.cancel_all()
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
            if self._thread is not None and self._thread.is_alive():
                # Still busy (thousands of streams closing): a daemon thread, it ends with
                # the process; closing a running loop would raise.
                log.warning("ADS event loop still busy after 10 s; left to finish")
            else:
                loop.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    # -- status ---------------------------------------------------------------------
    def statuses(self) -> dict[str, ProxyStatus]:
        """Copies of every proxy's status (streams keep updating the originals)."""
        with self._lock:
            return {k: copy_status(v) for k, v in self._statuses.items()}

    def is_connected(self, node_id: str) -> bool:
        with self._lock:
            status = self._statuses.get(node_id)
            return status is not None and status.connected

    def known_nodes(self) -> list[str]:
        """Node ids with a status: connected, or departed and within their grace period."""
        with self._lock:
            return sorted(self._statuses)

    def status(self, node_id: str) -> ProxyStatus | None:
        """A copy of one proxy's status (None: never connected)."""
        with self._lock:
            found = self._statuses.get(node_id)
            return copy_status(found) if found is not None else None

    def connected_nodes(self) -> list[str]:
        with self._lock:
            return sorted(k for k, v in self._statuses.items() if v.connected)

    def forget(self, node_id: str, reason: str) -> None:
        """Drop everything kept for ``node_id`` now (its pod is gone), ending its stream with
        ``reason`` if it has one. Any thread."""
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._evict, node_id, reason)
        except RuntimeError:
            pass  # the loop is gone: the server stopped

    def _evict(self, node_id: str, reason: str) -> None:
        inbox = self.ledger.stream(node_id)
        if inbox is not None:
            self._evicted.add(node_id)
            inbox.close(reason)  # the stream forgets the node as it ends
        else:
            self._departures.cancel(node_id)
            self._forget_now(node_id)

    def _forget_now(self, node_id: str) -> None:
        """Remove a node's status and snapshot unless a stream of it is live again."""
        inbox = self.ledger.stream(node_id)
        with self._changed:
            status = self._statuses.get(node_id)
            live = inbox is not None and not inbox.closed
            if live or (status is not None and status.connected):
                return
            self._statuses.pop(node_id, None)
            self._changed.notify_all()
        self.cache.clear(node_id)
        if self.on_depart is not None and self._executor is not None:
            self._executor.submit(self.on_depart, node_id)

    def sizes(self) -> dict[str, int]:
        """How many entries each per-proxy map holds (a departed proxy leaves none)."""
        with self._lock:
            sizes = {
                "statuses": len(self._statuses),
                "departing": len(self._departures),
                "evicted": len(self._evicted),
            }
        return {**sizes, **self.ledger.sizes()}

    def backlog(self) -> dict[str, tuple[int, int]]:
        """Node id → (requests read from the client so far, most ever waiting at once) of
        every live stream: what back-pressure holds down."""
        return self.ledger.backlog()

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
    async def stream(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        pems = context.auth_context().get("x509_pem_cert") if self.tls is not None else None
        key = self.ledger.hold_certificate(pems)
        if key is None:
            assert pems is not None
            reason = (
                f"{self.limits.max_streams_per_certificate} streams are open with the "
                f"certificate of {', '.join(uri_sans(pems[0])) or '-'} already"
            )
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self.ledger.refuse("-", reason))
        try:
            async for response in self._stream(requests, context, pems):
                yield response
        finally:
            if key:
                self.ledger.drop_certificate(key)

    async def _admit(self, node_id: str, inbox: Inbox, context: grpc.aio.ServicerContext) -> NodeId:
        """Parse, authorize and count a stream for ``node_id``; aborts it with the reason."""
        try:
            node = NodeId.parse(node_id, self.trust_domain)
        except InvalidInput as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, self.ledger.refuse(node_id, exc.message)
            )
        reason = self.authorize(node) if self.authorize is not None else None
        if reason is not None:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, self.ledger.refuse(node_id, reason)
            )
        reason = self.ledger.admit(node, node_id, inbox)
        if reason is not None:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, self.ledger.refuse(node_id, reason)
            )
        return node

    async def _stream(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
        pems: list[bytes] | None,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        inbox = Inbox(self.limits.request_queue)
        node: NodeId | None = None
        proven: str | None = None
        if self.tls is not None:
            # With TLS, who the stream is for comes from the client certificate: named,
            # authorized (a live pod of that identity) and counted before a byte is read.
            proven = certificate_node_id(pems[0]) if pems else None
            if proven is None:
                reason = "the client certificate names no proxy (not a bootstrap certificate)"
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, self.ledger.refuse("-", reason)
                )
                return
            node = await self._admit(proven, inbox, context)
        reader = asyncio.create_task(inbox.fill_from(requests))
        try:
            kind, first = await inbox.next(self.limits.first_request_seconds)
            if kind == "timeout":
                message = f"no request within {self.limits.first_request_seconds:g}s"
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, message)
            if kind == "closed" and first != CLIENT_CLOSED:  # replaced or forgotten already
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(first))
            if kind != "request":
                return
            assert isinstance(first, discovery_pb2.DiscoveryRequest)
            node_id = first.node.id
            if proven is not None and node_id != proven:
                reason = f"node id {printable(node_id)} does not match the certificate's {proven}"
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, self.ledger.refuse(node_id, reason)
                )
            if node is None:
                node = await self._admit(node_id, inbox, context)
            async for response in self._serve_node(node, first, inbox):
                yield response
            if inbox.closed and inbox.closed != CLIENT_CLOSED:
                await context.abort(grpc.StatusCode.UNAVAILABLE, inbox.closed)
        finally:
            if node is not None:
                self.ledger.release(node, str(node), inbox)
            inbox.close(CLIENT_CLOSED)
            reader.cancel()

    async def _serve_node(
        self, node: NodeId, first: discovery_pb2.DiscoveryRequest, inbox: Inbox
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        loop = asyncio.get_running_loop()
        node_id = first.node.id
        status = ProxyStatus(node_id)
        self._departures.cancel(node_id)
        if self.on_progress is not None:
            self.on_progress(node_id, status)  # a new stream: before anyone can see it
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
                if self.on_progress is not None:
                    self.on_progress(node_id, status)
                for response in responses:
                    yield response
        finally:
            unwatch()
            with self._changed:
                # A newer stream of the same node may have replaced this status already.
                ours = self._statuses.get(node_id) is status
                if ours:
                    status.connected = False
                self._changed.notify_all()
            if self.on_progress is not None:
                self.on_progress(node_id, status)
            if node_id in self._evicted:
                self._evicted.discard(node_id)
                self._forget_now(node_id)
            elif ours:
                self._departures.start(loop, node_id)
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
