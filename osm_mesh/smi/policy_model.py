"""The frozen model of the resilience policies (``policy.openservicemesh.io/v1alpha1``).

``osm_mesh.smi.policy_ext`` parses objects into these; docs/resilience.md has the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from osm_mesh.smi.model import IdentityRef, ObjectRef


@dataclass(frozen=True, order=True)
class ServiceRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RetryPolicy:
    # Envoy retry_on conditions; numeric codes in retryOn become ``status_codes``.
    retry_on: tuple[str, ...]
    status_codes: tuple[int, ...] = ()
    num_retries: int = 1
    per_try_timeout: float | None = None
    backoff_base_interval: float | None = None


@dataclass(frozen=True, order=True)
class Retry:
    namespace: str
    name: str
    source: IdentityRef
    destinations: tuple[ServiceRef, ...]
    policy: RetryPolicy = field(compare=False)
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Retry", self.namespace, self.name, self.api_version)


@dataclass(frozen=True)
class ConnectionSettings:
    """Circuit-breaker thresholds of an upstream (None = Envoy's default)."""

    max_connections: int | None = None
    connect_timeout: float | None = None
    max_requests: int | None = None
    max_requests_per_connection: int | None = None
    max_pending_requests: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True)
class OutlierDetection:
    """Passive health checking: eject an endpoint after consecutive 5xx (our extension)."""

    consecutive_5xx: int = 5
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_percent: int = 10


@dataclass(frozen=True)
class RouteSetting:
    """``httpRoutes[]``: a path regex (anchored at the start, as SMI paths) and its timeout."""

    path_regex: str
    request_timeout: float | None = None

    def envoy_path_regex(self) -> str:
        return f"(?:{self.path_regex}).*"


@dataclass(frozen=True, order=True)
class UpstreamTrafficSetting:
    namespace: str
    name: str
    # The Service ``spec.host`` names (always in the policy's namespace).
    service: str
    connection: ConnectionSettings | None = field(default=None, compare=False)
    request_timeout: float | None = field(default=None, compare=False)
    routes: tuple[RouteSetting, ...] = field(default=(), compare=False)
    outlier_detection: OutlierDetection | None = field(default=None, compare=False)
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("UpstreamTrafficSetting", self.namespace, self.name, self.api_version)


@dataclass(frozen=True)
class Abort:
    http_status: int
    percentage: float  # 0..100


@dataclass(frozen=True)
class Delay:
    fixed_delay: float  # seconds
    percentage: float  # 0..100


@dataclass(frozen=True, order=True)
class FaultInjection:
    namespace: str
    name: str
    service: str
    # Clients that see the faults; empty = every client of the service.
    sources: tuple[IdentityRef, ...] = ()
    abort: Abort | None = field(default=None, compare=False)
    delay: Delay | None = field(default=None, compare=False)
    api_version: str = field(default="", compare=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("FaultInjection", self.namespace, self.name, self.api_version)

    def applies_to(self, namespace: str, name: str) -> bool:
        """Whether a client running as ServiceAccount ``namespace/name`` sees the faults."""
        if not self.sources:
            return True
        return any(s.name == name and s.namespace == namespace for s in self.sources)


PolicyObject = Retry | UpstreamTrafficSetting | FaultInjection
