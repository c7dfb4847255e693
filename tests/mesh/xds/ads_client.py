"""A Python ADS client over real gRPC and real TLS, for tests and benchmarks that act as (or
attack) an Envoy without starting one."""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from osm_mesh.xds.cache import CLUSTER, LISTENER, SECRET
from tests.mesh.xds.target import tls_from_bootstrap

CONTROLLER_SAN = "osm-controller.osm-system.svc"
_CLOSED = object()


class AdsClient:
    """One ADS stream. ``send``/``recv`` (with a timeout) or ``sync`` (subscribe, ACK)."""

    def __init__(
        self,
        port: int,
        *,
        ca_pem: bytes,
        cert_pem: bytes | None = None,
        key_pem: bytes | None = None,
        server_name: str = CONTROLLER_SAN,
        host: str = "127.0.0.1",
    ) -> None:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem
        )
        self.channel = grpc.secure_channel(
            f"{host}:{port}", creds, options=[("grpc.ssl_target_name_override", server_name)]
        )
        self._requests: queue.Queue[Any] = queue.Queue()
        self._responses: queue.Queue[Any] = queue.Queue()
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self._call = stub.StreamAggregatedResources(iter(self._requests.get, _CLOSED))
        self.error: grpc.RpcError | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def for_bootstrap(cls, boot: dict[str, Any], port: int) -> AdsClient:
        cert, key, ca = tls_from_bootstrap(boot)
        return cls(port, ca_pem=ca, cert_pem=cert, key_pem=key)

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
        except grpc.RpcError as exc:
            self.error = exc
        self._responses.put(_CLOSED)

    def send(self, **fields: Any) -> None:
        self._requests.put(discovery_pb2.DiscoveryRequest(**fields))

    def recv(self, timeout: float = 5.0) -> discovery_pb2.DiscoveryResponse:
        """The next response; raises the stream's RpcError if it ended, queue.Empty on timeout."""
        item = self._responses.get(timeout=timeout)
        if item is _CLOSED:
            self._responses.put(_CLOSED)
            assert self.error is not None, "the stream ended without a status"
            raise self.error
        return item

    def sync(
        self, node_id: str, timeout: float = 10.0
    ) -> dict[str, discovery_pb2.DiscoveryResponse]:
        """Subscribe like Envoy (CDS, LDS wildcard; this proxy's secrets), ACK each answer;
        returns the last response per type."""
        node = base_pb2.Node(id=node_id)
        self.send(node=node, type_url=CLUSTER)
        self.send(type_url=LISTENER)
        self.send(type_url=SECRET, resource_names=["service-cert", "root-cert"])
        got: dict[str, discovery_pb2.DiscoveryResponse] = {}
        while len(got) < 3:
            response = self.recv(timeout)
            got[response.type_url] = response
            self.send(
                type_url=response.type_url,
                version_info=response.version_info,
                response_nonce=response.nonce,
                resource_names=["service-cert", "root-cert"] if response.type_url == SECRET else [],
            )
        return got

    def close(self) -> None:
        self._requests.put(_CLOSED)
        self._call.cancel()
        self.channel.close()
        self._reader.join(5)

    def __enter__(self) -> AdsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
