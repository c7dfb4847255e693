"""One internal model for SMI objects of every version (and the MeshConfig).

Parsers in ``osm_mesh.smi.parse`` turn access v1alpha1..v1alpha3, specs v1alpha1..v1alpha4
and split v1alpha1..v1alpha4 objects into these frozen dataclasses, so the control plane,
the Envoy translation, ``osm policy`` and lint never look at versions again.

Shapes agreed with the data-plane and local-mesh helpers (core-interfaces.md):

- ``TrafficTarget(namespace, name, destination, sources, rules, port)``
- ``IdentityRef(name, namespace, kind="ServiceAccount")`` -- ``namespace`` None never matches
- ``Rule(kind, name, matches)`` -- ``matches`` None = every match of the group (SMI spec)
- ``HTTPRouteGroup(namespace, name, matches)``, ``HTTPMatch(name, path_regex, methods, headers)``
- ``TCPRoute(namespace, name, ports)`` / ``UDPRoute`` -- empty ``ports`` = every port
- ``TrafficSplit(namespace, name, service, backends, matches)``, ``Backend(service, weight)``
- ``MeshConfig`` (permissive mode, egress, sidecar, tracing, certificates)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RuleKind = Literal["HTTPRouteGroup", "TCPRoute", "UDPRoute"]
RULE_KINDS: tuple[str, ...] = ("HTTPRouteGroup", "TCPRoute", "UDPRoute")
HTTP_METHODS: tuple[str, ...] = (
    "*",
    "GET",
    "HEAD",
    "PUT",
    "POST",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
)


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object something is about (used in problems and lint findings)."""

    kind: str
    namespace: str | None
    name: str
    api_version: str = field(default="", compare=False)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass(frozen=True, order=True)
class IdentityRef:
    """A TrafficTarget subject. Only ServiceAccounts exist in SMI."""

    name: str
    namespace: str | None
    kind: str = "ServiceAccount"


@dataclass(frozen=True, order=True)
class Rule:
    kind: str  # one of RULE_KINDS
    name: str
    # Names of matches in the referenced route; None = all of them (spec; OSM v1.2 denied).
    matches: tuple[str, ...] | None = None


@dataclass(frozen=True, order=True)
class TrafficTarget:
    namespace: str
    name: str
    destination: IdentityRef
    sources: tuple[IdentityRef, ...]
    rules: tuple[Rule, ...]
    # access v1alpha1 subject port / v1alpha2 destination.port: restricts the destination port.
    port: int | None = None
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("TrafficTarget", self.namespace, self.name, self.api_version)


@dataclass(frozen=True, order=True)
class HTTPMatch:
    name: str
    # None = any path. Per the SMI spec the regex is anchored at the start of the path only.
    path_regex: str | None = None
    # Empty or containing "*" = any method.
    methods: tuple[str, ...] = ()
    # All headers of one match must match (AND); value is a regex matched in full.
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def any_method(self) -> bool:
        return not self.methods or "*" in self.methods

    def envoy_path_regex(self) -> str | None:
        """A regex for Envoy's full-match ``safe_regex`` equivalent to the spec's prefix anchoring.

        None when every path matches.
        """
        if not self.path_regex or self.path_regex == ".*":
            return None
        return f"(?:{self.path_regex}).*"

    def matches_request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> bool:
        """Whether a request matches (path without query string, header names case-insensitive)."""
        if not self.any_method and method.upper() not in self.methods:
            return False
        from osm_mesh.smi.envoy_regex import full_match

        # The very regexes Envoy gets, run by RE2 as Envoy runs them.
        path = path.split("?", 1)[0]
        path_regex = self.envoy_path_regex()
        if path_regex is not None and not full_match(path_regex, path):
            return False
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        for name, pattern in self.headers:
            value = lowered.get(name.lower())
            if value is None or not full_match(pattern, value):
                return False
        return True


@dataclass(frozen=True, order=True)
class HTTPRouteGroup:
    namespace: str
    name: str
    matches: tuple[HTTPMatch, ...]
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("HTTPRouteGroup", self.namespace, self.name, self.api_version)

    def match(self, name: str) -> HTTPMatch | None:
        for m in self.matches:
            if m.name == name:
                return m
        return None


@dataclass(frozen=True, order=True)
class TCPRoute:
    namespace: str
    name: str
    # Empty = every port (specs v1alpha1..v1alpha3 have no ports at all).
    ports: tuple[int, ...] = ()
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("TCPRoute", self.namespace, self.name, self.api_version)


@dataclass(frozen=True, order=True)
class UDPRoute:
    namespace: str
    name: str
    ports: tuple[int, ...] = ()
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("UDPRoute", self.namespace, self.name, self.api_version)


@dataclass(frozen=True, order=True)
class Backend:
    service: str
    # Integer weight; split v1alpha1 quantities are converted to milli-units ("1" -> 1000).
    weight: int


@dataclass(frozen=True, order=True)
class RuleRef:
    """A split v1alpha3+ match: a reference to an HTTPRouteGroup (all of its matches)."""

    kind: str
    name: str


@dataclass(frozen=True, order=True)
class TrafficSplit:
    namespace: str
    name: str
    # The root service name (first DNS label of spec.service, in the split's namespace).
    service: str
    backends: tuple[Backend, ...]
    matches: tuple[RuleRef, ...] = ()
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("TrafficSplit", self.namespace, self.name, self.api_version)


SmiObject = TrafficTarget | HTTPRouteGroup | TCPRoute | UDPRoute | TrafficSplit


@dataclass(frozen=True)
class Tracing:
    enable: bool = False
    address: str = ""
    port: int = 9411
    endpoint: str = "/api/v2/spans"


@dataclass(frozen=True)
class MeshConfig:
    """``config.openservicemesh.io`` MeshConfig v1alpha1/v1alpha2, the fields the mesh uses.

    Defaults are the OSM chart defaults (permissive mode on, egress on).
    """

    permissive: bool = True
    enable_egress: bool = True
    outbound_port_exclusion_list: tuple[int, ...] = ()
    inbound_port_exclusion_list: tuple[int, ...] = ()
    outbound_ip_range_exclusion_list: tuple[str, ...] = ()
    sidecar_log_level: str = "error"
    envoy_image: str = ""
    tracing: Tracing = Tracing()
    service_cert_validity_seconds: int = 24 * 3600
    cert_key_bit_size: int = 2048
    trust_domain: str = "cluster.local"
    namespace: str = ""
    name: str = ""
    api_version: str = ""


@dataclass(frozen=True, order=True)
class Problem:
    """Something wrong with an input object: what, where, and how to fix it.

    Produced by parsing (severity "error"), by catalog building and by lint.
    """

    severity: Literal["error", "warning", "info"]
    ref: ObjectRef | None
    field: str
    message: str
    hint: str = ""
    file: str = ""
    line: int | None = None
    # A stable code from ``osm_mesh.smi.codes`` ("OSM0310"), shown by lint and analyze.
    code: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else ""
        where = where or (f"{self.file}: " if self.file else "")
        obj = f"{self.ref} " if self.ref else ""
        fld = f"{self.field}: " if self.field else ""
        return f"{where}{obj}{fld}{self.message}"
