"""The catalog's value types: identities, services, pods, endpoints (immutable, ordered).

Sorting any of them orders by (namespace, name) first, so a catalog's sorted tuples are in key
order and a change can be placed with a binary search (``osm_mesh.catalog.incremental``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

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
