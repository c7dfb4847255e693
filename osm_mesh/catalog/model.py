"""The catalog: an immutable, deterministic snapshot of mesh state.

Built by ``osm_mesh.catalog.build.build_catalog`` from Kubernetes-shaped objects (a
Source supplies them), or patched from the previous snapshot for a few changed objects
(``osm_mesh.catalog.incremental``). Everything is sorted and frozen; lookups go through the
tables of ``osm_mesh.catalog.lookup``, built once per snapshot (or patched), so a
1,000-service / 2,000-pod catalog is cheap to build and query.

Only objects in monitored namespaces are kept in ``services``/``pods``/SMI tuples (OSM
ignores everything else); ``namespaces`` lists every namespace seen.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any

from osm_mesh.catalog.lookup import LookupTables
from osm_mesh.catalog.objects import (
    DEFAULT_TRUST_DOMAIN,
    LOCAL_PORTS_ANNOTATION,
    Endpoint,
    FrozenMap,
    Identity,
    Pod,
    Protocol,
    Service,
    ServicePort,
    selector_matches,
)
from osm_mesh.smi.model import (
    HTTPRouteGroup,
    MeshConfig,
    Problem,
    TCPRoute,
    TrafficSplit,
    TrafficTarget,
    UDPRoute,
)
from osm_mesh.smi.policy_model import FaultInjection, Retry, UpstreamTrafficSetting

__all__ = [
    "DEFAULT_TRUST_DOMAIN",
    "LOCAL_PORTS_ANNOTATION",
    "Catalog",
    "Endpoint",
    "FrozenMap",
    "Identity",
    "Pod",
    "Protocol",
    "Service",
    "ServicePort",
    "as_dict",
    "selector_matches",
]


@dataclass(frozen=True)
class Catalog:
    """Immutable snapshot. Construct with ``build_catalog``; tuples are sorted."""

    monitored_namespaces: frozenset[str] = frozenset()
    namespaces: tuple[str, ...] = ()
    services: tuple[Service, ...] = ()
    pods: tuple[Pod, ...] = ()
    service_accounts: tuple[Identity, ...] = ()
    traffic_targets: tuple[TrafficTarget, ...] = ()
    http_route_groups: tuple[HTTPRouteGroup, ...] = ()
    tcp_routes: tuple[TCPRoute, ...] = ()
    udp_routes: tuple[UDPRoute, ...] = ()
    traffic_splits: tuple[TrafficSplit, ...] = ()
    # policy.openservicemesh.io resilience policies (osm_mesh.smi.policy_ext).
    retries: tuple[Retry, ...] = ()
    upstream_traffic_settings: tuple[UpstreamTrafficSetting, ...] = ()
    fault_injections: tuple[FaultInjection, ...] = ()
    mesh_config: MeshConfig = field(default_factory=MeshConfig)
    problems: tuple[Problem, ...] = ()
    # Increases each time a Source produces a new snapshot (0 for ad-hoc catalogs).
    version: int = 0
    # Lookup tables already patched for these tuples (incremental builds); None: build them.
    tables: InitVar[LookupTables | None] = None
    _ix: LookupTables = field(init=False, repr=False, compare=False)

    def __post_init__(self, tables: LookupTables | None) -> None:
        object.__setattr__(self, "_ix", tables if tables is not None else LookupTables.build(self))

    # -- identity ---------------------------------------------------------------------------
    @property
    def permissive(self) -> bool:
        return self.mesh_config.permissive

    @property
    def trust_domain(self) -> str:
        return self.mesh_config.trust_domain

    def is_monitored(self, namespace: str) -> bool:
        return namespace in self.monitored_namespaces

    def identity_of(self, pod: Pod) -> Identity:
        return pod.identity

    def identities(self) -> tuple[Identity, ...]:
        """Every identity with a ServiceAccount object or a pod running as it, sorted."""
        return self._ix.identities

    def pods_of_identity(self, identity: Identity) -> tuple[Pod, ...]:
        return self._ix.pods_by_identity.get(identity, ())

    def services_of_identity(self, identity: Identity) -> tuple[Service, ...]:
        out: set[Service] = set()
        for pod in self.pods_of_identity(identity):
            out.update(self.services_of_pod(pod))
        return tuple(sorted(out))

    # -- services and pods --------------------------------------------------------------------
    def service(self, namespace: str, name: str) -> Service | None:
        return self._ix.services.get((namespace, name))

    def pod(self, namespace: str, name: str) -> Pod | None:
        return self._ix.pods.get((namespace, name))

    def pod_by_uuid(self, proxy_uuid: str) -> Pod | None:
        return self._ix.pods_by_uuid.get(proxy_uuid)

    def pods_of_service(self, service: Service) -> tuple[Pod, ...]:
        return self._ix.pods_by_service.get(service.key, ())

    def services_of_pod(self, pod: Pod) -> tuple[Service, ...]:
        return self._ix.services_by_pod.get(pod.key, ())

    def endpoints(self, service: Service, port: int | ServicePort) -> tuple[Endpoint, ...]:
        """Pod IP:targetPort for each pod of ``service`` (pods without an IP are skipped)."""
        sp = port if isinstance(port, ServicePort) else service.port(port)
        if sp is None:
            return ()
        out = []
        for pod in self.pods_of_service(service):
            number = pod.resolve_port(sp.target_port)
            if pod.ip and number is not None:
                out.append(Endpoint(pod, pod.ip, number))
        return tuple(out)

    # -- SMI ------------------------------------------------------------------------------------
    def http_route_group(self, namespace: str, name: str) -> HTTPRouteGroup | None:
        return self._ix.route_groups.get((namespace, name))

    def tcp_route(self, namespace: str, name: str) -> TCPRoute | None:
        return self._ix.tcp_routes.get((namespace, name))

    def udp_route(self, namespace: str, name: str) -> UDPRoute | None:
        return self._ix.udp_routes.get((namespace, name))

    def traffic_targets_to(self, destination: Identity) -> tuple[TrafficTarget, ...]:
        """TrafficTargets whose destination is ``destination`` (only valid ones: same ns)."""
        return self._ix.targets_by_destination.get(destination, ())

    def traffic_splits_of(self, service: Service) -> tuple[TrafficSplit, ...]:
        """Splits whose root service is ``service``, sorted by name."""
        return self._ix.splits_by_root.get(service.key, ())

    def traffic_target_destinations(self) -> tuple[Identity, ...]:
        """Identities some (valid) TrafficTarget names as its destination."""
        return tuple(self._ix.targets_by_destination)

    def lookup_tables(self) -> LookupTables:
        """The lookup tables (read only): what ``osm_mesh.catalog.diff`` compares."""
        return self._ix


def as_dict(obj: Any) -> Any:
    """JSON-friendly view of catalog/model objects (for ``-o json`` and debugging)."""
    from dataclasses import fields, is_dataclass

    if isinstance(obj, FrozenMap):
        return dict(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in fields(obj) if f.name != "_ix"}
    if isinstance(obj, tuple | list | frozenset | set):
        items = [as_dict(x) for x in obj]
        return sorted(items, key=repr) if isinstance(obj, frozenset | set) else items
    return obj
