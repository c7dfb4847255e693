"""What every HTTP connection manager and cluster of a proxy promises, beyond its routes.

- One path for RBAC, routing and the app: ``/a/../b``, ``//a`` and ``/a%2Fb`` are
  normalized before any filter looks (a path rule cannot be walked around;
  ``tests/e2e_envoy`` attacks it on real Envoy).
- Only the inbound side tells the app who called (``x-forwarded-client-cert`` with the
  peer's URI SAN); the outbound side never forwards the app's own certificate details.
- Routes, clusters' endpoints come over ADS; HTTP clusters carry their protocol, TCP ones none.
"""

from __future__ import annotations

from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from osm_mesh.envoy import names
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.mesh.envoy.test_translate import catalog, proxy_of

HCM = hcm_pb2.HttpConnectionManager
PROTOCOL = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def managers(res) -> dict[str, list[hcm_pb2.HttpConnectionManager]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[hcm_pb2.HttpConnectionManager]] = {}
    for name, listener in res.listeners.items():
        for chain in listener.filter_chains:
            for f in chain.filters:
                if f.name == "envoy.filters.network.http_connection_manager":
                    hcm = HCM()
                    assert f.typed_config.Unpack(hcm)
                    out.setdefault(name, []).append(hcm)
    return out


def test_every_connection_manager_normalizes_paths_and_takes_routes_from_ads():
    for mode in ("cluster", "local"):
        cat = catalog()
        res = translate(cat, proxy_of(cat, "api"), TranslateOptions(mode=mode))
        found = managers(res)
        assert set(found) >= {names.INBOUND_LISTENER, names.OUTBOUND_LISTENER}, mode
        for listener, hcms in found.items():
            for hcm in hcms:
                assert hcm.codec_type == HCM.AUTO
                assert hcm.normalize_path.value is True
                assert hcm.merge_slashes is True
                assert hcm.path_with_escaped_slashes_action == HCM.UNESCAPE_AND_FORWARD
                assert hcm.rds.route_config_name in res.routes, listener
                source = hcm.rds.config_source
                assert source.WhichOneof("config_source_specifier") == "ads", listener
                assert source.resource_api_version == 2  # V3
        for hcm in found[names.INBOUND_LISTENER]:
            assert hcm.forward_client_cert_details == HCM.SANITIZE_SET
            assert hcm.set_current_client_cert_details.uri is True
        for hcm in found[names.OUTBOUND_LISTENER]:
            assert hcm.forward_client_cert_details == HCM.SANITIZE
            assert not hcm.set_current_client_cert_details.uri


def test_clusters_get_endpoints_over_ads_a_timeout_and_their_protocol():
    cat = catalog()
    options = TranslateOptions(connect_timeout=2.5)
    res = translate(cat, proxy_of(cat, "api"), options)
    assert res.outbound_clusters and res.local_clusters
    for name, cluster in res.outbound_clusters.items():
        if cluster.type != cluster.EDS:
            continue  # passthrough/egress clusters
        assert cluster.eds_cluster_config.service_name == name
        assert cluster.eds_cluster_config.eds_config.WhichOneof("config_source_specifier") == "ads"
        assert (cluster.connect_timeout.seconds, cluster.connect_timeout.nanos) == (2, 5 * 10**8)
        assert name in res.endpoints
    for name, cluster in res.local_clusters.items():
        assert cluster.name == name
        assert cluster.load_assignment.cluster_name == name
        assert (cluster.connect_timeout.seconds, cluster.connect_timeout.nanos) == (2, 5 * 10**8)
        assert cluster.load_assignment.endpoints[0].lb_endpoints
    http, tcp = 0, 0
    for cluster in res.clusters.values():
        options_of = cluster.typed_extension_protocol_options
        if PROTOCOL in options_of:
            opts = http_protocol_options_pb2.HttpProtocolOptions()
            assert options_of[PROTOCOL].Unpack(opts)
            assert opts.explicit_http_config.WhichOneof("protocol_config") in (
                "http_protocol_options",
                "http2_protocol_options",
            )
            http += 1
        else:
            assert not options_of
            tcp += 1
    assert http and tcp  # the mesh has both kinds: both were checked
