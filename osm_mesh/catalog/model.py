"""The catalog: an immutable, deterministic snapshot of mesh state.

Built by ``osm_mesh.catalog.build.build_catalog`` from Kubernetes-shaped objects (a
Source supplies them). Everything is sorted and frozen; lookups go through indexes built
once per snapshot, so a 1,000-service / 2,000-pod catalog is cheap to build and query.

Only objects in monitored namespaces are kept in ``services``/``pods``/SMI tuples (OSM
ignores everything else); ``namespaces`` lists every namespace seen.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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

Protocol = Literal["http", "tcp", "grpc", "udp"]
DEFAULT_TRUST_DOMAIN = "cluster.local"
# Set by the local mesh (osm_mesh.local) on a pod whose app could not listen on its
# containerPort (below 1024 without root): JSON {"<containerPort>": <port it listens on>}.
LOCAL_PORTS_ANNOTATION = "local.openservicemesh.io/app-ports"


class FrozenMap(Mapping[str, str]):
    """A hashable, read-only str -> str mapping (labels, selectors, annotations)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data = dict(sorted((data or {}).items()))
        self._hash: int | None = None

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __lt__(self, other: FrozenMap) -> bool:
        return tuple(self._data.items()) < tuple(other._data.items())

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True, order=True)
class Identity:
    """A workload identity: a ServiceAccount."""

    namespace: str
    name: str

    def spiffe_id(self, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> str:
        return f"spiffe://{trust_domain}/ns/{self.namespace}/sa/{self.name}"

    def osm_name(self, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> str:
        """OSM's certificate common name / DNS SAN ``<sa>.<ns>.<trust domain>``."""
        return f"{self.name}.{self.namespace}.{trust_domain}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class ServicePort:
    name: str
    port: int
    # An int, or a container port name resolved per pod (``Catalog.endpoints``).
    target_port: int | str
    protocol: Protocol = "http"


@dataclass(frozen=True, order=True)
class Service:
    namespace: str
    name: str
    ports: tuple[ServicePort, ...]
    selector: FrozenMap = field(default_factory=FrozenMap)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def port(self, number: int) -> ServicePort | None:
        for p in self.ports:
            if p.port == number:
                return p
        return None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class Pod:
    namespace: str
    name: str
    labels: FrozenMap = field(default_factory=FrozenMap)
    service_account: str = "default"
    ip: str = ""
    proxy_uuid: str | None = None
    # (name, port) of each container port; name may be "".
    container_ports: tuple[tuple[str, int], ...] = ()
    annotations: FrozenMap = field(default_factory=FrozenMap)
    # Owning Deployment, when the pod came from one (synthesized or ownerReferences).
    deployment: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def identity(self) -> Identity:
        return Identity(self.namespace, self.service_account)

    def resolve_port(self, target: int | str) -> int | None:
        if isinstance(target, int):
            return target
        if target.isdigit():
            return int(target)
        for name, number in self.container_ports:
            if name == target:
                return number
        return None

    def local_port(self, container_port: int) -> int:
        """Where the app really listens for ``container_port`` (local mode: see
        ``LOCAL_PORTS_ANNOTATION``); ``container_port`` itself when it was not moved."""
        raw = self.annotations.get(LOCAL_PORTS_ANNOTATION)
        if not raw:
            return container_port
        try:
            moved = json.loads(raw).get(str(container_port))
        except (ValueError, AttributeError):
            return container_port
        return moved if isinstance(moved, int) and 0 < moved < 65536 else container_port

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class Endpoint:
    pod: Pod
    ip: str
    port: int


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    # An empty selector selects nothing for Services (Kubernetes: no Endpoints managed).
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


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
    _ix: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ix", _Index(self))

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

    def lookup_tables(self) -> _Index:
        """The lookup tables (read only): what ``osm_mesh.catalog.diff`` compares."""
        return self._ix


class _Index:
    """Lookup tables for one Catalog, built in linear time."""

    def __init__(self, c: Catalog) -> None:
        self.services = {s.key: s for s in c.services}
        self.pods = {p.key: p for p in c.pods}
        self.pods_by_uuid = {p.proxy_uuid: p for p in c.pods if p.proxy_uuid}
        by_identity: dict[Identity, list[Pod]] = defaultdict(list)
        for p in c.pods:
            by_identity[p.identity].append(p)
        self.pods_by_identity = {k: tuple(v) for k, v in by_identity.items()}
        self.identities = tuple(sorted(set(c.service_accounts) | set(by_identity)))

        # Services indexed by (namespace, first selector label): a pod only has to be tested
        # against services sharing one of its labels, not against every service.
        candidates: dict[tuple[str, str, str], list[Service]] = defaultdict(list)
        for s in c.services:
            if s.selector:
                k, v = next(iter(s.selector.items()))
                candidates[(s.namespace, k, v)].append(s)
        services_by_pod: dict[tuple[str, str], list[Service]] = {}
        pods_by_service: dict[tuple[str, str], list[Pod]] = defaultdict(list)
        for p in c.pods:
            found: list[Service] = []
            for k, v in p.labels.items():
                for s in candidates.get((p.namespace, k, v), ()):
                    if selector_matches(s.selector, p.labels):
                        found.append(s)
                        pods_by_service[s.key].append(p)
            services_by_pod[p.key] = found
        self.services_by_pod = {k: tuple(sorted(v)) for k, v in services_by_pod.items()}
        self.pods_by_service = {k: tuple(sorted(v)) for k, v in pods_by_service.items()}

        self.route_groups = {(g.namespace, g.name): g for g in c.http_route_groups}
        self.tcp_routes = {(r.namespace, r.name): r for r in c.tcp_routes}
        self.udp_routes = {(r.namespace, r.name): r for r in c.udp_routes}
        targets: dict[Identity, list[TrafficTarget]] = defaultdict(list)
        for t in c.traffic_targets:
            # A TrafficTarget in another namespace than its destination is invalid (the build
            # step reports it); it never grants anything.
            dest_ns = t.destination.namespace or t.namespace
            if dest_ns == t.namespace:
                targets[Identity(dest_ns, t.destination.name)].append(t)
        self.targets_by_destination = {k: tuple(v) for k, v in targets.items()}
        splits: dict[tuple[str, str], list[TrafficSplit]] = defaultdict(list)
        for sp in c.traffic_splits:
            splits[(sp.namespace, sp.service)].append(sp)
        self.splits_by_root = {k: tuple(sorted(v)) for k, v in splits.items()}


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
