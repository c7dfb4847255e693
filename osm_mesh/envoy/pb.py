"""Small builders for the Envoy v3 protobufs the translation emits.

Kept apart from the translation logic so that the translation modules read as policy, not as
protobuf plumbing. Every builder is pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from envoy.config.accesslog.v3.accesslog_pb2 import AccessLog
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.rbac.v3.rbac_pb2 import Permission, Principal
from envoy.config.rbac.v3.rbac_pb2 import Policy as RBACPolicy
from envoy.config.route.v3 import route_components_pb2
from envoy.config.route.v3.route_components_pb2 import Route, VirtualHost
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.http_inspector.v3 import http_inspector_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as net_rbac_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.matcher.v3 import path_pb2, regex_pb2, string_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2

from osm_mesh.envoy import names

__all__ = [
    "Cluster",
    "ClusterLoadAssignment",
    "Listener",
    "Permission",
    "Principal",
    "RBACPolicy",
    "Route",
    "RouteConfiguration",
    "Secret",
    "VirtualHost",
]

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def pack(msg) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(msg)
    return out


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def socket_address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port)
    )


# Constant parts are built once (@cache) and only ever copied into the messages that use them
# (a protobuf constructor or CopyFrom copies): callers must never modify what these return.
@cache
def ads_source() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.ApiVersion.V3,
    )


@cache
def sds(name: str) -> secret_pb2.SdsSecretConfig:
    return secret_pb2.SdsSecretConfig(name=name, sds_config=ads_source())


def regex(pattern: str) -> regex_pb2.RegexMatcher:
    return regex_pb2.RegexMatcher(regex=pattern)


# -- secrets ---------------------------------------------------------------------------
def identity_secret(cert_pem: bytes, key_pem: bytes) -> Secret:
    return Secret(
        name=names.SECRET_SERVICE_CERT,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=cert_pem),
            private_key=base_pb2.DataSource(inline_bytes=key_pem),
        ),
    )


def root_secret(ca_pem: bytes) -> Secret:
    return Secret(
        name=names.SECRET_ROOT_CERT,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_bytes=ca_pem)
        ),
    )


# -- TLS contexts ----------------------------------------------------------------------
def _san_matchers(uris: Iterable[str]) -> list[common_pb2.SubjectAltNameMatcher]:
    return [
        common_pb2.SubjectAltNameMatcher(
            san_type=common_pb2.SubjectAltNameMatcher.URI,
            matcher=string_pb2.StringMatcher(exact=u),
        )
        for u in uris
    ]


def _common_tls(san_uris: Iterable[str] = (), san_prefix: str | None = None, alpn=()):
    default = common_pb2.CertificateValidationContext()
    matchers = _san_matchers(san_uris)
    if san_prefix is not None:
        matchers.append(
            common_pb2.SubjectAltNameMatcher(
                san_type=common_pb2.SubjectAltNameMatcher.URI,
                matcher=string_pb2.StringMatcher(prefix=san_prefix),
            )
        )
    default.match_typed_subject_alt_names.extend(matchers)
    return tls_pb2.CommonTlsContext(
        tls_params=common_pb2.TlsParameters(
            tls_minimum_protocol_version=common_pb2.TlsParameters.TLSv1_2
        ),
        tls_certificate_sds_secret_configs=[sds(names.SECRET_SERVICE_CERT)],
        combined_validation_context=tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
            default_validation_context=default,
            validation_context_sds_secret_config=sds(names.SECRET_ROOT_CERT),
        ),
        alpn_protocols=list(alpn),
    )


@cache
def downstream_tls(trust_domain: str) -> base_pb2.TransportSocket:
    """Server side of mesh mTLS: a client certificate from the mesh CA is required."""
    ctx = tls_pb2.DownstreamTlsContext(
        common_tls_context=_common_tls(san_prefix=f"spiffe://{trust_domain}/"),
        require_client_certificate=wrappers_pb2.BoolValue(value=True),
    )
    return base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(ctx))


@cache
def _upstream_template() -> tls_pb2.UpstreamTlsContext:
    return tls_pb2.UpstreamTlsContext(common_tls_context=_common_tls())


def upstream_tls(sni: str, san_uris: Sequence[str]) -> base_pb2.TransportSocket:
    """Client side: present our identity, accept only the destination's identities."""
    ctx = tls_pb2.UpstreamTlsContext()
    ctx.CopyFrom(_upstream_template())
    ctx.sni = sni
    validation = ctx.common_tls_context.combined_validation_context.default_validation_context
    validation.match_typed_subject_alt_names.extend(_san_matchers(san_uris))
    return base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(ctx))


# -- clusters and endpoints ---------------------------------------------------------------
def _protocol_options(http2: bool) -> dict[str, any_pb2.Any]:
    opts = http_protocol_options_pb2.HttpProtocolOptions()
    if http2:
        opts.explicit_http_config.http2_protocol_options.CopyFrom(
            protocol_pb2.Http2ProtocolOptions()
        )
    else:
        opts.explicit_http_config.http_protocol_options.CopyFrom(
            protocol_pb2.Http1ProtocolOptions()
        )
    return {HTTP_PROTOCOL_OPTIONS: pack(opts)}


def eds_cluster(
    name: str,
    *,
    sni: str,
    san_uris: Sequence[str],
    http2: bool | None,
    connect_timeout: float,
) -> Cluster:
    """An outbound cluster whose endpoints come over EDS and whose upstream is mesh mTLS.

    ``http2=None`` leaves the protocol unspecified (TCP clusters).
    """
    cluster = Cluster(
        name=name,
        type=Cluster.EDS,
        eds_cluster_config=Cluster.EdsClusterConfig(eds_config=ads_source(), service_name=name),
        connect_timeout=duration(connect_timeout),
        lb_policy=Cluster.ROUND_ROBIN,
        transport_socket=upstream_tls(sni, san_uris),
    )
    if http2 is not None:
        for key, value in _protocol_options(http2).items():
            cluster.typed_extension_protocol_options[key].CopyFrom(value)
    return cluster


def static_cluster(
    name: str, host: str, port: int, *, http2: bool | None, connect_timeout: float
) -> Cluster:
    """The inbound side's cluster: the local app, plaintext on its pod address."""
    cluster = Cluster(
        name=name,
        type=Cluster.STATIC,
        connect_timeout=duration(connect_timeout),
        load_assignment=load_assignment(name, [(host, port)]),
    )
    if http2 is not None:
        for key, value in _protocol_options(http2).items():
            cluster.typed_extension_protocol_options[key].CopyFrom(value)
    return cluster


def load_assignment(name: str, endpoints: Iterable[tuple[str, int]]) -> ClusterLoadAssignment:
    lb = [
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(address=socket_address(host, port))
        )
        for host, port in endpoints
    ]
    return ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=lb)] if lb else [],
    )


# -- routes ------------------------------------------------------------------------------
def route_match(
    path_regex: str | None = None,
    methods: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> route_components_pb2.RouteMatch:
    match = route_components_pb2.RouteMatch()
    if path_regex is None:
        match.prefix = "/"
    else:
        match.safe_regex.CopyFrom(regex(path_regex))
    if methods:
        match.headers.append(
            route_components_pb2.HeaderMatcher(
                name=":method",
                string_match=string_pb2.StringMatcher(safe_regex=regex("|".join(methods))),
            )
        )
    for name, value in headers:
        match.headers.append(
            route_components_pb2.HeaderMatcher(
                name=name.lower(), string_match=string_pb2.StringMatcher(safe_regex=regex(value))
            )
        )
    return match


def route_to(
    match: route_components_pb2.RouteMatch,
    clusters: Sequence[tuple[str, int]],
    timeout: float,
) -> Route:
    """A route to one cluster, or to weighted clusters when several are given."""
    action = route_components_pb2.RouteAction(timeout=duration(timeout))
    if len(clusters) == 1:
        action.cluster = clusters[0][0]
    else:
        action.weighted_clusters.CopyFrom(
            route_components_pb2.WeightedCluster(
                clusters=[
                    route_components_pb2.WeightedCluster.ClusterWeight(
                        name=name, weight=wrappers_pb2.UInt32Value(value=weight)
                    )
                    for name, weight in clusters
                ]
            )
        )
    return Route(match=match, route=action)


# -- RBAC -------------------------------------------------------------------------------
def principal_ids(spiffe_ids: Sequence[str] | None) -> Principal:
    """Peers authenticated as one of ``spiffe_ids`` (URI SAN); None = any authenticated peer."""
    if spiffe_ids is None:
        return Principal(authenticated=Principal.Authenticated())
    ids = [
        Principal(
            authenticated=Principal.Authenticated(
                principal_name=string_pb2.StringMatcher(exact=sid)
            )
        )
        for sid in spiffe_ids
    ]
    if len(ids) == 1:
        return ids[0]
    return Principal(or_ids=rbac_pb2.Principal.Set(ids=ids))


def http_permission(
    path_regex: str | None, methods: Sequence[str], headers: Sequence[tuple[str, str]]
) -> Permission:
    """AND of path (full match on the path without query), method and every header."""
    rules: list[Permission] = []
    if path_regex is not None:
        rules.append(
            Permission(
                url_path=path_pb2.PathMatcher(
                    path=string_pb2.StringMatcher(safe_regex=regex(path_regex))
                )
            )
        )
    if methods:
        rules.append(
            Permission(
                header=route_components_pb2.HeaderMatcher(
                    name=":method",
                    string_match=string_pb2.StringMatcher(safe_regex=regex("|".join(methods))),
                )
            )
        )
    for name, value in headers:
        rules.append(
            Permission(
                header=route_components_pb2.HeaderMatcher(
                    name=name.lower(),
                    string_match=string_pb2.StringMatcher(safe_regex=regex(value)),
                )
            )
        )
    if not rules:
        return Permission(any=True)
    if len(rules) == 1:
        return rules[0]
    return Permission(and_rules=rbac_pb2.Permission.Set(rules=rules))


def rbac_rules(policies: dict[str, RBACPolicy]) -> rbac_pb2.RBAC:
    """ALLOW-list rules: a request matching no policy is denied (403 / connection closed)."""
    rules = rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW)
    for name in sorted(policies):
        rules.policies[name].CopyFrom(policies[name])
    return rules


def rbac_per_route(policies: dict[str, RBACPolicy]) -> any_pb2.Any:
    return pack(http_rbac_pb2.RBACPerRoute(rbac=http_rbac_pb2.RBAC(rules=rbac_rules(policies))))


# -- listeners ---------------------------------------------------------------------------
ROUTER_FILTER = hcm_pb2.HttpFilter(
    name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
)
# The listener-level RBAC denies everything; each inbound virtual host overrides it with the
# policies of its destination port. A request that reaches no virtual host is denied.
DENY_ALL_RBAC_FILTER = hcm_pb2.HttpFilter(
    name=names.HTTP_RBAC_FILTER,
    typed_config=pack(http_rbac_pb2.RBAC(rules=rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW))),
)


def http_connection_manager(
    stat_prefix: str,
    route_config_name: str,
    *,
    rbac: bool,
    forward_client_cert: bool = False,
    extra_filters: Sequence[hcm_pb2.HttpFilter] = (),
    access_log: Sequence[AccessLog] = (),
) -> listener_components_pb2.Filter:
    """``extra_filters`` go between RBAC and the router (e.g. the fault filter);
    ``access_log``: AccessLog messages (the inbound request metrics, ``telemetry``)."""
    filters = [DENY_ALL_RBAC_FILTER] if rbac else []
    hcm = hcm_pb2.HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        rds=hcm_pb2.Rds(route_config_name=route_config_name, config_source=ads_source()),
        http_filters=[*filters, *extra_filters, ROUTER_FILTER],
        # RBAC, routing and the app must see one path: ``/a/../b``, ``/a/%2e%2e/b``,
        # ``//a`` and ``/a%2F..%2Fb`` all become the path they mean before any filter or
        # route looks at them, and that is what the app receives (docs/security.md).
        normalize_path=wrappers_pb2.BoolValue(value=True),
        merge_slashes=True,
        path_with_escaped_slashes_action=hcm_pb2.HttpConnectionManager.UNESCAPE_AND_FORWARD,
        access_log=list(access_log),
    )
    if forward_client_cert:
        # Tell the app who called (x-forwarded-client-cert with the peer's URI SAN).
        hcm.forward_client_cert_details = hcm_pb2.HttpConnectionManager.SANITIZE_SET
        hcm.set_current_client_cert_details.uri = True
    return listener_components_pb2.Filter(
        name="envoy.filters.network.http_connection_manager", typed_config=pack(hcm)
    )


def network_rbac(
    stat_prefix: str, policies: dict[str, RBACPolicy]
) -> listener_components_pb2.Filter:
    return listener_components_pb2.Filter(
        name="envoy.filters.network.rbac",
        typed_config=pack(net_rbac_pb2.RBAC(stat_prefix=stat_prefix, rules=rbac_rules(policies))),
    )


def tcp_proxy(stat_prefix: str, cluster: str) -> listener_components_pb2.Filter:
    return listener_components_pb2.Filter(
        name="envoy.filters.network.tcp_proxy",
        typed_config=pack(tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, cluster=cluster)),
    )


TLS_INSPECTOR = listener_components_pb2.ListenerFilter(
    name="envoy.filters.listener.tls_inspector", typed_config=pack(tls_inspector_pb2.TlsInspector())
)
ORIGINAL_DST = listener_components_pb2.ListenerFilter(
    name="envoy.filters.listener.original_dst", typed_config=pack(original_dst_pb2.OriginalDst())
)


NO_TRAFFIC_TARGET_ROUTE = Route(
    match=route_components_pb2.RouteMatch(prefix="/"),
    direct_response=route_components_pb2.DirectResponseAction(
        status=403,
        body=base_pb2.DataSource(
            inline_string="RBAC: access denied: no TrafficTarget allows this destination\n"
        ),
    ),
)

DENY_UNLISTED_VHOST = VirtualHost(
    name="deny-unlisted", domains=["*"], routes=[NO_TRAFFIC_TARGET_ROUTE]
)


def deny_mesh_hosts_vhost(namespaces: list[str]) -> VirtualHost:
    """403 for any service name of the mesh's namespaces (suffix wildcards: exact names of
    allowed services win over them, and they depend on the namespaces only, not on every
    service). Names with an explicit port or a bare same-namespace name are not covered."""
    domains = [
        form
        for ns in namespaces
        for form in (f"*.{ns}", f"*.{ns}.svc", f"*.{ns}.svc.cluster.local")
    ]
    return VirtualHost(name="deny-mesh-hosts", domains=domains, routes=[NO_TRAFFIC_TARGET_ROUTE])


HTTP_INSPECTOR = listener_components_pb2.ListenerFilter(
    name="envoy.filters.listener.http_inspector",
    typed_config=pack(http_inspector_pb2.HttpInspector()),
)
HTTP_APPLICATION_PROTOCOLS = ("http/1.0", "http/1.1", "h2c")


def passthrough_cluster(connect_timeout: float) -> Cluster:
    """Egress: connect to wherever the app was connecting (the iptables original destination)."""
    return Cluster(
        name=names.PASSTHROUGH_CLUSTER,
        type=Cluster.ORIGINAL_DST,
        lb_policy=Cluster.CLUSTER_PROVIDED,
        connect_timeout=duration(connect_timeout),
    )


def passthrough_vhost(timeout: float) -> VirtualHost:
    return VirtualHost(
        name="egress-passthrough",
        domains=["*"],
        routes=[route_to(route_match(), [(names.PASSTHROUGH_CLUSTER, 1)], timeout)],
    )
