"""Resilience policies -> Envoy config (pure; called from ``osm_mesh.envoy.translate``).

Everything is applied on the *client* side, in the caller's outbound resources, because that
is where a request can still be retried, timed out, queued or refused without ever reaching
the failing upstream (Istio and OSM v1.2 do the same):

- ``UpstreamTrafficSetting`` (per upstream Service, every client):
  ``connectionSettings`` -> the outbound cluster's ``circuit_breakers`` thresholds,
  ``connect_timeout`` and ``max_requests_per_connection``; ``outlierDetection`` -> the
  cluster's ``outlier_detection``; ``requestTimeout`` / ``httpRoutes[].requestTimeout`` ->
  route ``timeout`` in the Service's outbound virtual host (per-path routes are copies of the
  catch-all route with a path regex, so TrafficSplit backends are kept).
- ``Retry`` (per source ServiceAccount and destination Service) -> ``retry_policy`` on every
  route of that destination's virtual host, in the source's route table only.
- ``FaultInjection`` (per upstream Service, optionally per source) -> a per-route
  ``envoy.filters.http.fault`` config on that virtual host. The fault filter itself sits in
  every outbound HTTP connection manager with an empty config (a no-op), so adding or removing
  a FaultInjection changes routes only, never the listener (whose live connections would keep
  the old filter chain while draining).

Route tables that differ by source are cached per ``source_key`` (the policies that apply to
the source), so proxies without source-specific policies keep sharing one table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from envoy.config.cluster.v3 import circuit_breaker_pb2, outlier_detection_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from osm_mesh.catalog.model import Catalog, Identity, Service
from osm_mesh.envoy import pb
from osm_mesh.smi.model import ObjectRef
from osm_mesh.smi.policy_model import (
    ConnectionSettings,
    FaultInjection,
    OutlierDetection,
    RetryPolicy,
    UpstreamTrafficSetting,
)

FAULT_FILTER_NAME = "envoy.filters.http.fault"
# Listener-level fault filter: no fault unless a route's typed_per_filter_config says so.
FAULT_FILTER = hcm_pb2.HttpFilter(
    name=FAULT_FILTER_NAME, typed_config=pb.pack(fault_pb2.HTTPFault())
)


# -- clusters ------------------------------------------------------------------------------------
def circuit_breakers(settings: ConnectionSettings) -> circuit_breaker_pb2.CircuitBreakers | None:
    """Default-priority thresholds; unset fields keep Envoy's defaults (1024, retries 3)."""
    threshold = circuit_breaker_pb2.CircuitBreakers.Thresholds()
    values = {
        "max_connections": settings.max_connections,
        "max_pending_requests": settings.max_pending_requests,
        "max_requests": settings.max_requests,
        "max_retries": settings.max_retries,
    }
    if all(v is None for v in values.values()):
        return None
    for name, value in values.items():
        if value is not None:
            getattr(threshold, name).CopyFrom(wrappers_pb2.UInt32Value(value=value))
    # Remaining-capacity gauges (circuit_breakers.default.remaining_*) show how close it is.
    threshold.track_remaining = True
    return circuit_breaker_pb2.CircuitBreakers(thresholds=[threshold])


def outlier_detection(od: OutlierDetection) -> outlier_detection_pb2.OutlierDetection:
    return outlier_detection_pb2.OutlierDetection(
        consecutive_5xx=wrappers_pb2.UInt32Value(value=od.consecutive_5xx),
        interval=pb.duration(od.interval),
        base_ejection_time=pb.duration(od.base_ejection_time),
        max_ejection_percent=wrappers_pb2.UInt32Value(value=od.max_ejection_percent),
        # Only the consecutive-5xx detector: success-rate ejection needs traffic volumes a
        # small mesh never reaches and would surprise users.
        enforcing_success_rate=wrappers_pb2.UInt32Value(value=0),
    )


def apply_to_cluster(cluster: pb.Cluster, setting: UpstreamTrafficSetting | None) -> None:
    """Circuit breaking, connect timeout and outlier detection of an outbound cluster."""
    if setting is None:
        return
    conn = setting.connection
    if conn is not None:
        breakers = circuit_breakers(conn)
        if breakers is not None:
            cluster.circuit_breakers.CopyFrom(breakers)
        if conn.connect_timeout is not None:
            cluster.connect_timeout.CopyFrom(pb.duration(conn.connect_timeout))
        key = pb.HTTP_PROTOCOL_OPTIONS
        if conn.max_requests_per_connection is not None and key in (
            cluster.typed_extension_protocol_options
        ):
            options = http_protocol_options_pb2.HttpProtocolOptions()
            cluster.typed_extension_protocol_options[key].Unpack(options)
            options.common_http_protocol_options.max_requests_per_connection.value = (
                conn.max_requests_per_connection
            )
            cluster.typed_extension_protocol_options[key].CopyFrom(pb.pack(options))
    if setting.outlier_detection is not None:
        cluster.outlier_detection.CopyFrom(outlier_detection(setting.outlier_detection))


# -- routes --------------------------------------------------------------------------------------
def _is_catch_all(route: pb.Route) -> bool:
    return route.match.WhichOneof("path_specifier") == "prefix" and route.match.prefix == "/"


def with_timeouts(
    routes: Sequence[pb.Route], setting: UpstreamTrafficSetting | None
) -> list[pb.Route]:
    """Routes with the host's request timeout, preceded by per-path copies where configured.

    A per-path copy is made of each catch-all route (its header matches and weighted
    backends kept) and placed just before it, so it never overtakes an earlier, more
    specific route (TrafficSplit ``matches`` with their own path regex keep the host timeout).
    """
    if setting is None:
        return list(routes)
    out: list[pb.Route] = []
    timed = [r for r in setting.routes if r.request_timeout is not None]
    for route in routes:
        if _is_catch_all(route):
            for rs in timed:
                copy = pb.Route()
                copy.CopyFrom(route)
                copy.match.safe_regex.CopyFrom(pb.regex(rs.envoy_path_regex()))
                copy.route.timeout.CopyFrom(pb.duration(rs.request_timeout or 0.0))
                out.append(copy)
        copy = pb.Route()
        copy.CopyFrom(route)
        if setting.request_timeout is not None and copy.HasField("route"):
            copy.route.timeout.CopyFrom(pb.duration(setting.request_timeout))
        out.append(copy)
    return out


def inbound_timeout(default: float, setting: UpstreamTrafficSetting | None) -> float:
    """The server side's route timeout: long enough for every client-side timeout.

    The client's outbound route enforces the configured timeouts; the server's inbound route
    must not cut a request earlier (0 = no timeout, as in Envoy).
    """
    if setting is None:
        return default
    timeouts = [setting.request_timeout] + [r.request_timeout for r in setting.routes]
    configured = [t for t in timeouts if t is not None]
    if not configured:
        return default
    if 0 in configured or default == 0:
        return 0.0
    return max(default, *configured)


def retry_policy(policy: RetryPolicy) -> route_components_pb2.RetryPolicy:
    out = route_components_pb2.RetryPolicy(
        retry_on=",".join(policy.retry_on),
        num_retries=wrappers_pb2.UInt32Value(value=policy.num_retries),
        retriable_status_codes=list(policy.status_codes),
    )
    if policy.per_try_timeout is not None:
        out.per_try_timeout.CopyFrom(pb.duration(policy.per_try_timeout))
    if policy.backoff_base_interval is not None:
        # Max interval: Envoy's default of 10x the base (what OSM documented).
        out.retry_back_off.base_interval.CopyFrom(pb.duration(policy.backoff_base_interval))
    return out


def _fraction(percentage: float) -> percent_pb2.FractionalPercent:
    # Per million, so fractional percentages (0.5 %) are exact.
    return percent_pb2.FractionalPercent(
        numerator=round(percentage * 10_000),
        denominator=percent_pb2.FractionalPercent.MILLION,
    )


def http_fault(fault: FaultInjection) -> fault_pb2.HTTPFault:
    out = fault_pb2.HTTPFault()
    if fault.abort is not None:
        out.abort.CopyFrom(
            fault_pb2.FaultAbort(
                http_status=fault.abort.http_status, percentage=_fraction(fault.abort.percentage)
            )
        )
    if fault.delay is not None:
        out.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=pb.duration(fault.delay.fixed_delay),
                percentage=_fraction(fault.delay.percentage),
            )
        )
    return out


def with_source_policies(
    vhost: pb.VirtualHost, retry: RetryPolicy | None, fault: FaultInjection | None
) -> pb.VirtualHost:
    """A copy of a (shared, cached) virtual host with a source's retries and faults."""
    if retry is None and fault is None:
        return vhost
    out = pb.VirtualHost()
    out.CopyFrom(vhost)
    if retry is not None:
        policy = retry_policy(retry)
        for route in out.routes:
            if route.HasField("route"):
                route.route.retry_policy.CopyFrom(policy)
    if fault is not None:
        out.typed_per_filter_config[FAULT_FILTER_NAME].CopyFrom(pb.pack(http_fault(fault)))
    return out


# -- lookups -------------------------------------------------------------------------------------
class ResilienceIndex:
    """Which resilience policy applies to which (source, upstream), built once per catalog.

    Conflicts resolve deterministically: policies are sorted by (namespace, name) and the
    first one wins (``osm policy lint`` reports the overlap).
    """

    def __init__(self, catalog: Catalog) -> None:
        self._settings: dict[tuple[str, str], UpstreamTrafficSetting] = {}
        for uts in sorted(catalog.upstream_traffic_settings):
            self._settings.setdefault((uts.namespace, uts.service), uts)
        self._retries: dict[Identity, dict[tuple[str, str], tuple[ObjectRef, RetryPolicy]]]
        self._retries = defaultdict(dict)
        for retry in sorted(catalog.retries):
            source = Identity(retry.source.namespace or retry.namespace, retry.source.name)
            for dest in retry.destinations:
                self._retries[source].setdefault(
                    (dest.namespace, dest.name), (retry.ref, retry.policy)
                )
        self._faults: dict[tuple[str, str], list[FaultInjection]] = defaultdict(list)
        for fault in sorted(catalog.fault_injections):
            self._faults[(fault.namespace, fault.service)].append(fault)
        self.empty = not (self._settings or self._retries or self._faults)

    def upstream_setting(self, service: Service) -> UpstreamTrafficSetting | None:
        return self._settings.get(service.key)

    def retry_for(self, source: Identity, service: Service) -> RetryPolicy | None:
        found = self._retries.get(source, {}).get(service.key)
        return found[1] if found else None

    def fault_for(self, source: Identity, service: Service) -> FaultInjection | None:
        for fault in self._faults.get(service.key, ()):
            if fault.applies_to(source.namespace, source.name):
                return fault
        return None

    def source_key(self, source: Identity) -> tuple[object, ...]:
        """What makes ``source``'s outbound route table differ from its peers' (for caching)."""
        if self.empty:
            return ()
        retries = tuple(sorted((k, v[0]) for k, v in self._retries.get(source, {}).items()))
        faults = tuple(
            f.ref
            for found in self._faults.values()
            for f in found
            if f.sources and f.applies_to(source.namespace, source.name)
        )
        return (retries, faults)
