"""One load-client process: many simulated proxies, each an ADS stream that behaves like Envoy.

Each simulated proxy opens its own gRPC channel (its own TLS connection, its own client
certificate: ``grpc.use_local_subchannel_pool`` keeps channels from sharing a connection) and
one ``StreamAggregatedResources`` stream, then does what Envoy's ADS client does in state of
the world:

- subscribes to CDS and LDS as wildcards (the node in the first request only);
- on every response: ACKs it (``version_info`` + ``response_nonce`` + its subscribed names),
  as Envoy does once it has applied the configuration;
- from CDS responses: subscribes to the EDS resources of the EDS clusters and to the SDS
  secrets their TLS contexts name; from LDS responses: to the RDS route tables its HTTP
  connection managers name and to the listeners' SDS secrets; a changed set of names is sent
  at once with the last version and nonce of that type (as Envoy does);
- never NACKs (the control plane's configuration is trusted here; real Envoys check it).

Protobufs are only decoded as far as names need (clusters, listeners, their TLS contexts):
EDS, RDS and SDS contents are ACKed unread.

Run: ``python -m benchmarks.adsload.client SPEC.json --first I --count N`` (see
``benchmarks/adsload/__init__.py`` for the spec). It prints ``{"event": "running", ...}`` once
every proxy's stream is open and has had its first response, and a summary line when it stops
(SIGTERM, SIGINT or stdin closed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)


@dataclass
class Totals:
    responses: int = 0
    acks: int = 0
    streams: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    first_response: int = 0


def _tls_secret_names(transport_socket: Any, tls_type: Any) -> set[str]:
    """SDS secret names in a TLS transport socket (certificate and validation context)."""
    if not transport_socket.HasField("typed_config"):
        return set()
    ctx = tls_type()
    if not transport_socket.typed_config.Unpack(ctx):
        return set()
    common = ctx.common_tls_context
    names = {c.name for c in common.tls_certificate_sds_secret_configs}
    if common.HasField("validation_context_sds_secret_config"):
        names.add(common.validation_context_sds_secret_config.name)
    combined = common.combined_validation_context
    if combined.HasField("validation_context_sds_secret_config"):
        names.add(combined.validation_context_sds_secret_config.name)
    return names


class SimulatedProxy:
    """The xDS state of one simulated Envoy: subscriptions, last version and nonce per type."""

    def __init__(self, node_id: str, cluster: str) -> None:
        self.node_id = node_id
        self.cluster = cluster
        self.names: dict[str, list[str]] = {CLUSTER: [], LISTENER: []}
        self.version: dict[str, str] = {}
        self.nonce: dict[str, str] = {}
        self.sds_from: dict[str, set[str]] = {CLUSTER: set(), LISTENER: set()}

    def request(self, type_url: str, first: bool = False):  # type: ignore[no-untyped-def]
        from envoy.service.discovery.v3 import discovery_pb2

        req = discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            version_info=self.version.get(type_url, ""),
            response_nonce=self.nonce.get(type_url, ""),
            resource_names=self.names.get(type_url, []),
        )
        if first:
            req.node.id = self.node_id
            req.node.cluster = self.cluster
        return req

    def on_response(self, resp: Any) -> list[Any]:
        """The ACK, then any subscription changes the response implies."""
        t = resp.type_url
        self.version[t] = resp.version_info
        self.nonce[t] = resp.nonce
        out = [self.request(t)]
        if t == CLUSTER:
            out += self._follow_clusters(resp)
        elif t == LISTENER:
            out += self._follow_listeners(resp)
        return out

    def _subscribe(self, type_url: str, names: set[str]) -> list[Any]:
        wanted = sorted(names)
        if self.names.get(type_url) == wanted:
            return []
        self.names[type_url] = wanted
        return [self.request(type_url)]

    def _secrets_changed(self, source: str, names: set[str]) -> list[Any]:
        self.sds_from[source] = names
        return self._subscribe(SECRET, self.sds_from[CLUSTER] | self.sds_from[LISTENER])

    def _follow_clusters(self, resp: Any) -> list[Any]:
        from envoy.config.cluster.v3 import cluster_pb2
        from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

        eds, secrets = set(), set()
        for any_msg in resp.resources:
            cluster = cluster_pb2.Cluster()
            any_msg.Unpack(cluster)
            if cluster.type == cluster_pb2.Cluster.EDS:
                eds.add(cluster.eds_cluster_config.service_name or cluster.name)
            if cluster.HasField("transport_socket"):
                secrets |= _tls_secret_names(cluster.transport_socket, tls_pb2.UpstreamTlsContext)
        return self._subscribe(ENDPOINT, eds) + self._secrets_changed(CLUSTER, secrets)

    def _follow_listeners(self, resp: Any) -> list[Any]:
        from envoy.config.listener.v3 import listener_pb2
        from envoy.extensions.filters.network.http_connection_manager.v3 import (
            http_connection_manager_pb2 as hcm_pb2,
        )
        from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

        routes, secrets = set(), set()
        for any_msg in resp.resources:
            listener = listener_pb2.Listener()
            any_msg.Unpack(listener)
            chains = [*listener.filter_chains]
            if listener.HasField("default_filter_chain"):
                chains.append(listener.default_filter_chain)
            for chain in chains:
                if chain.HasField("transport_socket"):
                    secrets |= _tls_secret_names(
                        chain.transport_socket, tls_pb2.DownstreamTlsContext
                    )
                for f in chain.filters:
                    if f.typed_config.type_url != HCM:
                        continue
                    hcm = hcm_pb2.HttpConnectionManager()
                    f.typed_config.Unpack(hcm)
                    if hcm.HasField("rds"):
                        routes.add(hcm.rds.route_config_name)
        return self._subscribe(ROUTE, routes) + self._secrets_changed(LISTENER, secrets)


async def run_proxy(spec: dict[str, Any], entry: dict[str, Any], totals: Totals, ready) -> None:  # type: ignore[no-untyped-def]
    import grpc
    import grpc.aio
    from envoy.service.discovery.v3 import ads_pb2_grpc

    creds = grpc.ssl_channel_credentials(
        root_certificates=spec["_ca"],
        private_key=_pem(entry, "key"),
        certificate_chain=_pem(entry, "cert"),
    )
    options = [
        ("grpc.ssl_target_name_override", spec["server_name"]),
        ("grpc.default_authority", spec["server_name"]),
        ("grpc.use_local_subchannel_pool", 1),  # its own connection, as each Envoy has
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    proxy = SimulatedProxy(entry["node"], entry.get("cluster", ""))
    first_seen = False
    async with grpc.aio.secure_channel(spec["address"], creds, options=options) as channel:
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
        await call.write(proxy.request(CLUSTER, first=True))
        await call.write(proxy.request(LISTENER))
        totals.streams += 1
        try:
            while True:
                resp = await call.read()
                if resp is grpc.aio.EOF:
                    break
                totals.responses += 1
                for req in proxy.on_response(resp):
                    await call.write(req)
                    totals.acks += 1
                if not first_seen:
                    first_seen = True
                    totals.first_response += 1
                    ready()
        finally:
            totals.streams -= 1
            call.cancel()


def _pem(entry: dict[str, Any], what: str) -> bytes:
    if what in entry:
        return entry[what].encode()
    return Path(entry[f"{what}_file"]).read_bytes()


async def main_async(spec: dict[str, Any], entries: list[dict[str, Any]], ramp: int) -> Totals:
    totals = Totals()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    all_ready = asyncio.Event()

    def ready() -> None:
        if totals.first_response == len(entries):
            all_ready.set()

    async def supervised(entry: dict[str, Any]) -> None:
        try:
            await run_proxy(spec, entry, totals, ready)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one proxy failing must not stop the others: report it
            totals.failures += 1
            if len(totals.errors) < 20:
                totals.errors.append(f"{entry['node']}: {type(exc).__name__}: {exc}"[:300])
            if totals.failures + totals.first_response >= len(entries):
                all_ready.set()

    tasks = []
    started = time.monotonic()
    for i in range(0, len(entries), ramp):
        tasks += [asyncio.ensure_future(supervised(e)) for e in entries[i : i + ramp]]
        # Let a wave finish its TLS handshakes before the next one starts.
        while totals.first_response + totals.failures < min(i + ramp, len(entries)):
            if stop.is_set():
                break
            await asyncio.sleep(0.02)
            if time.monotonic() - started > 600:
                break
    waiter = asyncio.ensure_future(all_ready.wait())
    await asyncio.wait([waiter, asyncio.ensure_future(stop.wait())], return_when="FIRST_COMPLETED")
    _emit(
        {
            "event": "running",
            "proxies": len(entries),
            "ready": totals.first_response,
            "failures": totals.failures,
            "seconds": round(time.monotonic() - started, 3),
            "errors": totals.errors[:5],
        }
    )
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return totals


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adsload.client")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--first", type=int, default=0, help="index of the first proxy to run")
    parser.add_argument("--count", type=int, default=None, help="how many proxies (default all)")
    parser.add_argument("--ramp", type=int, default=200, help="streams opened per wave")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text())
    spec["_ca"] = Path(spec["ca_file"]).read_bytes()
    entries = spec["proxies"][args.first :]
    if args.count is not None:
        entries = entries[: args.count]
    # One file descriptor per connection, plus headroom.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(entries) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(wanted, soft), hard), hard))
    totals = asyncio.run(main_async(spec, entries, args.ramp))
    _emit(
        {
            "event": "stopped",
            "responses": totals.responses,
            "acks": totals.acks,
            "failures": totals.failures,
            "errors": totals.errors,
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "pid": os.getpid(),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
