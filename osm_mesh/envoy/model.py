"""What translation takes and gives: options, the proxy's identity, one proxy's resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from google.protobuf.message import Message

from osm_mesh.catalog.model import Identity
from osm_mesh.envoy import names
from osm_mesh.xds.cache import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET

Mode = Literal["cluster", "local"]
HTTP_PROTOCOLS = ("http", "grpc")


@dataclass(frozen=True)
class TranslateOptions:
    mode: Mode = "cluster"
    inbound_port: int = names.INBOUND_PORT
    outbound_port: int = names.OUTBOUND_PORT
    connect_timeout: float = 1.0
    # Per-request timeout on HTTP routes (Envoy's default is also 15 s). gRPC routes get none:
    # streaming calls may legitimately last for hours.
    route_timeout: float = 15.0
    # Pass the caller's identity to the app in x-forwarded-client-cert.
    forward_client_cert: bool = True


@dataclass(frozen=True)
class ProxyIdentity:
    """Who a connected Envoy is: its proxy UUID and ServiceAccount identity (from the node id).

    ``pod_name`` is a fallback lookup when the catalog has no pod with that proxy UUID.
    """

    proxy_uuid: str
    identity: Identity
    pod_name: str | None = None


class CertLike(Protocol):
    @property
    def cert_pem(self) -> bytes: ...

    @property
    def key_pem(self) -> bytes: ...

    @property
    def ca_pem(self) -> bytes: ...


@dataclass(frozen=True)
class Dependencies:
    """What one proxy's resources were built from, besides its identity.

    ``pod``: the key of the pod it was given (None: none found). ``services``: keys of every
    Service whose definition, splits or policies are in them (called, split targets, the
    pod's own services and the split roots they serve). ``endpoints``: services whose pods
    are in them (the outbound clusters' endpoints and SANs; a split backend's own pods
    decide whether its roots send to it). ``every_service``: the proxy reaches every
    service (permissive mode), so any service change concerns it.
    """

    pod: tuple[str, str] | None = None
    services: frozenset[tuple[str, str]] = frozenset()
    endpoints: frozenset[tuple[str, str]] = frozenset()
    every_service: bool = False


@dataclass
class Resources:
    """One proxy's resources by kind, each name → protobuf (deterministic order by name).

    Never mutate one: its dicts are shared with every proxy whose resources are the same
    (replicas of one identity, in cluster mode), and ``outbound_clusters`` / ``endpoints``
    with every proxy that reaches the same services. ``by_type`` hands the shared parts to
    the SnapshotCache as separate groups (the same objects for every proxy sharing them) so
    it serializes and hashes them once.
    """

    listeners: dict[str, Message] = field(default_factory=dict)
    routes: dict[str, Message] = field(default_factory=dict)
    local_clusters: dict[str, Message] = field(default_factory=dict)
    outbound_clusters: dict[str, Message] = field(default_factory=dict)
    endpoints: dict[str, Message] = field(default_factory=dict)
    secrets: dict[str, Message] = field(default_factory=dict)
    # Why something expected is absent (pod not in the catalog, ...).
    notes: tuple[str, ...] = ()
    depends_on: Dependencies = field(default_factory=Dependencies)
    # by_type(), computed once for every proxy sharing these resources (set by translate).
    typed: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def clusters(self) -> dict[str, Message]:
        return dict(sorted({**self.outbound_clusters, **self.local_clusters}.items()))

    def flat(self) -> dict[str, dict[str, Message]]:
        """Type URL → {name: message}, every group merged, sorted by name."""
        out: dict[str, dict[str, Message]] = {}
        for type_url, value in self.by_type().items():
            merged: dict[str, Message] = {}
            for part in value if isinstance(value, list) else [value]:
                merged.update(part)
            out[type_url] = dict(sorted(merged.items()))
        return out

    def by_type(self) -> dict[str, Any]:
        if self.typed is not None:
            return self.typed
        return {
            LISTENER: dict(sorted(self.listeners.items())),
            ROUTE: dict(sorted(self.routes.items())),
            CLUSTER: [dict(sorted(self.local_clusters.items())), self.outbound_clusters],
            ENDPOINT: [self.endpoints],
            SECRET: dict(sorted(self.secrets.items())),
        }
