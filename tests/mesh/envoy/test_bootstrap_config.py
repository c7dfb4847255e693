"""Every bootstrap our code writes, held to Envoy's own schema and to the settings that matter.

The fast tests parse each bootstrap strictly into Envoy's v3 ``Bootstrap`` protobuf (an
unknown or misspelt field, a wrong enum value, a malformed duration or a ``typed_config``
of an unknown type is refused, as Envoy refuses it) and then assert the values Envoy cannot
judge: where the admin interface listens, how the ADS connection authenticates the
controller, the node's identity, what the metrics and probe listeners let through. The
``envoy``-marked test hands the same bootstraps to the real Envoy binary in validate mode.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

# Imported for their descriptors: the ``@type``s inside the bootstraps resolve through them.
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2  # noqa: F401
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from envoy.extensions.wasm.v3 import wasm_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format

from osm_mesh.catalog import Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy.bootstrap import (
    ADS_CLIENT_SECRET,
    ADS_CLUSTER,
    BootstrapTLS,
    bootstrap,
    client_cert_sds,
    loopback_cluster,
    node_id,
    path_listener,
    to_json,
)
from osm_mesh.envoy.process import find_envoy
from osm_mesh.envoy.telemetry import DURATION_BUCKETS_MS, noop_wasm_module
from osm_mesh.injector.bootstrap import ADS_CERT_KEY, pod_bootstrap
from osm_mesh.injector.patch import BOOTSTRAP_MOUNT, InjectorSettings
from osm_mesh.injector.probes import ProbeRoute

HCM = "envoy.filters.network.http_connection_manager"
UUID = "0b6f1f3e-8c1a-4f7e-9d6c-2f1e0a9b8c7d"


def strict(config: dict[str, Any], message: Any) -> Any:
    """``config`` parsed as Envoy parses it: anything it does not know is an error."""
    return json_format.ParseDict(config, message(), ignore_unknown_fields=False)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def inline_bootstrap(ca: CertificateAuthority) -> dict[str, Any]:
    """The local mesh's and the control plane's kind: client certificate and CA inline."""
    leaf = ca.issue(Identity("shop", "web"))
    return bootstrap(
        node_id=node_id("u1", "web", "shop", "cluster.local"),
        cluster="web.shop",
        ads_host="127.0.0.1",
        ads_port=15128,
        tls=BootstrapTLS(cert_pem=leaf.cert_pem, key_pem=leaf.key_pem, ca_pem=ca.cert_pem),
    )


def injected_bootstrap(ca: CertificateAuthority) -> dict[str, Any]:
    """An injected pod's: ADS by DNS, client certificate from a watched SDS file, probes."""
    probes = (
        ProbeRoute(0, "app", "livenessProbe", 15901, 8080, "/live", https=False),
        ProbeRoute(0, "app", "readinessProbe", 15902, 8443, "/ready", https=True),
    )
    return pod_bootstrap(
        proxy_uuid=UUID,
        namespace="bookstore",
        service_account="bookbuyer",
        settings=InjectorSettings(),
        ca_pem=ca.cert_pem,
        probes=probes,
    )


def ads_cluster(config: dict[str, Any]) -> dict[str, Any]:
    (cluster,) = [c for c in config["static_resources"]["clusters"] if c["name"] == ADS_CLUSTER]
    return cluster


def ads_tls(config: dict[str, Any]) -> dict[str, Any]:
    socket = ads_cluster(config)["transport_socket"]
    assert socket["name"] == "envoy.transport_sockets.tls"
    return socket["typed_config"]


def test_every_bootstrap_parses_strictly_as_envoys_bootstrap(ca):
    file_based = bootstrap(
        node_id="n",
        cluster="c",
        ads_host="10.0.0.1",
        ads_port=1,
        tls=BootstrapTLS(cert_file="/c.pem", key_file="/k.pem", ca_file="/ca.pem"),
        ads_dns=True,
    )
    for config in (inline_bootstrap(ca), injected_bootstrap(ca), file_based):
        parsed = strict(config, bootstrap_pb2.Bootstrap)
        # Every field we wrote survived the parse (nothing was an unset default by mistake).
        assert parsed.HasField("admin") and parsed.HasField("dynamic_resources")
        assert parsed.deferred_stat_options.enable_deferred_creation_stats
        ads = parsed.dynamic_resources.ads_config
        assert ads.api_type == ads.GRPC and ads.transport_api_version == 2  # V3
        assert ads.set_node_on_first_message_only
        for source in (parsed.dynamic_resources.cds_config, parsed.dynamic_resources.lds_config):
            # Clusters and listeners come over the ADS stream, in API v3.
            assert source.WhichOneof("config_source_specifier") == "ads"
            assert source.resource_api_version == 2
        # No static listener or cluster of ours is unknown to Envoy's schema either.
        for listener in config["static_resources"].get("listeners", []):
            strict(listener, listener_pb2.Listener)
        for cluster in config["static_resources"]["clusters"]:
            strict(cluster, cluster_pb2.Cluster)


def test_a_misspelt_field_is_refused_by_the_strict_parse(ca):
    """The check above can fail: the parse refuses what Envoy would refuse."""
    config = inline_bootstrap(ca)
    config["admin"] = {"adress": {}}
    with pytest.raises(json_format.ParseError):
        strict(config, bootstrap_pb2.Bootstrap)
    config = inline_bootstrap(ca)
    ads_cluster(config)["type"] = "static"
    with pytest.raises(json_format.ParseError):
        strict(config, bootstrap_pb2.Bootstrap)


def test_the_admin_interface_listens_on_loopback_only(ca):
    # The admin interface can stop Envoy and dump its secrets: nothing but the pod may reach it.
    for config, port in ((inline_bootstrap(ca), 0), (injected_bootstrap(ca), 15000)):
        address = strict(config, bootstrap_pb2.Bootstrap).admin.address.socket_address
        assert (address.address, address.port_value) == ("127.0.0.1", port)
        assert config["admin"] == {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}
        }


def test_the_node_names_the_proxy_and_its_service_account(ca):
    assert node_id("u1", "web", "shop", "cluster.local") == "u1.sidecar.web.shop.cluster.local"
    assert inline_bootstrap(ca)["node"] == {
        "id": "u1.sidecar.web.shop.cluster.local",
        "cluster": "web.shop",
    }
    assert injected_bootstrap(ca)["node"] == {
        "id": f"{UUID}.sidecar.bookbuyer.bookstore.cluster.local",
        "cluster": "bookbuyer.bookstore",
    }


def test_ads_is_grpc_over_http2_with_a_short_reconnect_back_off(ca):
    for config in (inline_bootstrap(ca), injected_bootstrap(ca)):
        ads = config["dynamic_resources"]["ads_config"]
        (service,) = ads["grpc_services"]
        assert service["envoy_grpc"] == {
            "cluster_name": ADS_CLUSTER,
            "retry_policy": {"retry_back_off": {"base_interval": "0.25s", "max_interval": "5.0s"}},
        }
        cluster = ads_cluster(config)
        assert cluster["connect_timeout"] == "1s"
        # gRPC needs HTTP/2 to the controller, negotiated by ALPN.
        options = cluster["typed_extension_protocol_options"]
        name = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        assert list(options) == [name]
        assert options[name]["@type"] == f"type.googleapis.com/{name}"
        assert options[name]["explicit_http_config"] == {"http2_protocol_options": {}}
        assert ads_tls(config)["common_tls_context"]["alpn_protocols"] == ["h2"]
    custom = bootstrap(
        node_id="n",
        cluster="c",
        ads_host="h",
        ads_port=1,
        tls=BootstrapTLS(cert_file="/c", key_file="/k", ca_file="/ca"),
        retry_base_seconds=0.5,
        retry_max_seconds=2,
    )
    back_off = custom["dynamic_resources"]["ads_config"]["grpc_services"][0]["envoy_grpc"]
    assert back_off["retry_policy"]["retry_back_off"] == {
        "base_interval": "0.5s",
        "max_interval": "2s",
    }


def test_the_ads_endpoint_is_an_ip_by_default_and_a_service_name_by_dns_when_asked(ca):
    def endpoint(config):
        cluster = ads_cluster(config)
        assert cluster["load_assignment"]["cluster_name"] == ADS_CLUSTER
        (group,) = cluster["load_assignment"]["endpoints"]
        (lb,) = group["lb_endpoints"]
        return cluster["type"], lb["endpoint"]["address"]["socket_address"]

    assert endpoint(inline_bootstrap(ca)) == (
        "STATIC",
        {"address": "127.0.0.1", "port_value": 15128},
    )
    assert endpoint(injected_bootstrap(ca)) == (
        "LOGICAL_DNS",
        {"address": "osm-controller.osm-system.svc", "port_value": 15128},
    )


def test_ads_tls_verifies_the_controller_by_name_against_the_mesh_ca(ca):
    inline = ads_tls(inline_bootstrap(ca))
    assert inline["@type"] == (
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    )
    assert inline["sni"] == "osm-controller.osm-system.svc"
    validation = inline["common_tls_context"]["validation_context"]
    assert validation == {
        "trusted_ca": {"inline_string": ca.cert_pem.decode()},
        "match_typed_subject_alt_names": [
            {"san_type": "DNS", "matcher": {"exact": "osm-controller.osm-system.svc"}}
        ],
    }
    (pair,) = inline["common_tls_context"]["tls_certificates"]
    assert pair["certificate_chain"]["inline_string"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY-----" in pair["private_key"]["inline_string"]

    named = bootstrap(
        node_id="n",
        cluster="c",
        ads_host="h",
        ads_port=1,
        tls=BootstrapTLS(cert_file="/c.pem", key_file="/k.pem", ca_file="/ca.pem"),
        controller_san="osm-controller.mesh-b.svc",
    )
    tls = ads_tls(named)
    assert tls["sni"] == "osm-controller.mesh-b.svc"
    ctx = tls["common_tls_context"]
    assert ctx["validation_context"]["trusted_ca"] == {"filename": "/ca.pem"}
    assert ctx["validation_context"]["match_typed_subject_alt_names"][0]["matcher"] == {
        "exact": "osm-controller.mesh-b.svc"
    }
    assert ctx["tls_certificates"] == [
        {"certificate_chain": {"filename": "/c.pem"}, "private_key": {"filename": "/k.pem"}}
    ]


def test_an_injected_pods_ads_certificate_is_a_watched_sds_file(ca):
    """A renewed bootstrap certificate reaches a running Envoy through the watched directory."""
    ctx = ads_tls(injected_bootstrap(ca))["common_tls_context"]
    assert "tls_certificates" not in ctx
    path = f"{BOOTSTRAP_MOUNT}/{ADS_CERT_KEY}"
    assert ctx["tls_certificate_sds_secret_configs"] == [
        {
            "name": ADS_CLIENT_SECRET,
            "sds_config": {
                "path_config_source": {
                    "path": path,
                    "watched_directory": {"path": BOOTSTRAP_MOUNT},
                },
                "resource_api_version": "V3",
            },
        }
    ]
    assert ctx["validation_context"]["trusted_ca"] == {"inline_string": ca.cert_pem.decode()}


def test_the_sds_file_holds_the_secret_the_bootstrap_asks_for(ca):
    leaf = ca.issue(Identity("shop", "web"))
    content = client_cert_sds(leaf.cert_pem, leaf.key_pem)
    # Envoy reads the file as a DiscoveryResponse holding the Secret.
    response = strict(content, discovery_pb2.DiscoveryResponse)
    (packed,) = response.resources
    secret = secret_pb2.Secret()
    assert packed.Unpack(secret)
    assert secret.name == ADS_CLIENT_SECRET
    tls = secret.tls_certificate
    assert tls.certificate_chain.inline_string == leaf.cert_pem.decode()
    assert tls.private_key.inline_string == leaf.key_pem.decode()


def test_bootstrap_tls_material_comes_inline_or_from_files_and_nothing_else():
    with pytest.raises(ValueError, match=r"^bootstrap TLS needs either inline PEM or a file path$"):
        bootstrap(node_id="n", cluster="c", ads_host="h", ads_port=1, tls=BootstrapTLS())


def test_stats_are_created_lazily_and_named_for_osm(ca):
    config = strict(injected_bootstrap(ca), bootstrap_pb2.Bootstrap)
    assert config.deferred_stat_options.enable_deferred_creation_stats
    (extension,) = config.bootstrap_extensions
    assert extension.name == "envoy.bootstrap.wasm"
    service = wasm_pb2.WasmService()
    assert extension.typed_config.Unpack(service)
    assert service.singleton
    assert service.config.name == "osm-stat-namespace"
    assert service.config.vm_config.runtime == "envoy.wasm.runtime.v8"
    assert service.config.vm_config.code.local.inline_bytes == noop_wasm_module()
    (buckets,) = config.stats_config.histogram_bucket_settings
    assert buckets.match.prefix == "wasmcustom.osm_request_duration_ms"
    assert tuple(buckets.buckets) == DURATION_BUCKETS_MS


def listener_routes(listener: dict[str, Any]) -> tuple[hcm_pb2.HttpConnectionManager, list]:
    parsed = strict(listener, listener_pb2.Listener)
    (chain,) = parsed.filter_chains
    (network,) = chain.filters
    assert network.name == HCM
    manager = hcm_pb2.HttpConnectionManager()
    assert network.typed_config.Unpack(manager)
    (vhost,) = manager.route_config.virtual_hosts
    assert list(vhost.domains) == ["*"]
    return manager, list(vhost.routes)


def test_a_path_listener_forwards_only_get_and_head_of_its_path_without_a_body():
    listener = path_listener(
        name="probe-15901",
        port=15901,
        stat_prefix="probe_15901",
        route_name="probe-route",
        vhost_name="probe-vhost",
        path="/live",
        cluster="probe-8080",
    )
    assert listener["name"] == "probe-15901"
    assert listener["address"] == {"socket_address": {"address": "0.0.0.0", "port_value": 15901}}
    manager, routes = listener_routes(listener)
    assert manager.stat_prefix == "probe_15901"
    assert manager.route_config.name == "probe-route"
    assert manager.route_config.virtual_hosts[0].name == "probe-vhost"
    forwarded = []
    for route in routes:
        assert route.route.cluster == "probe-8080"
        assert route.match.path == "/live"  # exactly, no prefix
        method, no_body = route.match.headers
        assert method.name == ":method"
        # A request with content-length matches no route: "present" inverted.
        assert (no_body.name, no_body.present_match, no_body.invert_match) == (
            "content-length",
            True,
            True,
        )
        forwarded.append(method.string_match.exact)
    assert forwarded == ["GET", "HEAD"]
    # The body filter runs before the router (it refuses chunked bodies).
    names = [f.name for f in manager.http_filters]
    assert names == ["envoy.filters.http.lua", "envoy.filters.http.router"]
    lua = manager.http_filters[0]
    assert lua.typed_config.type_url.endswith("envoy.extensions.filters.http.lua.v3.Lua")


def test_the_metrics_listener_serves_only_prometheus_stats_from_the_admin_interface(ca):
    config = injected_bootstrap(ca)
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    assert set(listeners) == {"prometheus-listener", "probe-15901", "probe-15902"}
    metrics = listeners["prometheus-listener"]
    assert metrics["address"]["socket_address"]["port_value"] == 15010
    _, routes = listener_routes(metrics)
    assert {(r.match.path, r.route.cluster) for r in routes} == {
        ("/stats/prometheus", "envoy-admin")
    }
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {ADS_CLUSTER, "envoy-admin", "probe-8080", "probe-8443-tls"}


def test_a_loopback_cluster_reaches_only_the_pods_own_port():
    cluster = strict(loopback_cluster("envoy-admin", 15000), cluster_pb2.Cluster)
    assert cluster.name == "envoy-admin"
    assert cluster.type == cluster.STATIC
    assert cluster.connect_timeout.seconds == 1 and cluster.connect_timeout.nanos == 0
    assert cluster.load_assignment.cluster_name == "envoy-admin"
    (group,) = cluster.load_assignment.endpoints
    (lb,) = group.lb_endpoints
    address = lb.endpoint.address.socket_address
    assert (address.address, address.port_value) == ("127.0.0.1", 15000)


def test_to_json_is_readable_and_independent_of_insertion_order():
    first = to_json({"b": 1, "a": {"d": [1], "c": 2}})
    assert first == '{\n  "a": {\n    "c": 2,\n    "d": [\n      1\n    ]\n  },\n  "b": 1\n}'
    assert to_json({"a": {"c": 2, "d": [1]}, "b": 1}) == first


@pytest.mark.envoy
@pytest.mark.timeout(120)
def test_real_envoy_accepts_every_bootstrap(ca, tmp_path: Path):
    leaf = ca.issue(Identity("bookstore", "bookbuyer"))
    sds = tmp_path / "sds" / ADS_CERT_KEY
    sds.parent.mkdir()
    sds.write_text(json.dumps(client_cert_sds(leaf.cert_pem, leaf.key_pem)))
    injected = injected_bootstrap(ca)
    # The pod's mount path does not exist here: point the watched SDS file at a real one.
    socket = ads_tls(injected)["common_tls_context"]["tls_certificate_sds_secret_configs"][0]
    socket["sds_config"]["path_config_source"] = {
        "path": str(sds),
        "watched_directory": {"path": str(sds.parent)},
    }
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "c.pem").write_bytes(leaf.cert_pem)
    (tmp_path / "k.pem").write_bytes(leaf.key_pem)
    file_based = bootstrap(
        node_id="n",
        cluster="c",
        ads_host="127.0.0.1",
        ads_port=15128,
        tls=BootstrapTLS(
            cert_file=str(tmp_path / "c.pem"),
            key_file=str(tmp_path / "k.pem"),
            ca_file=str(tmp_path / "ca.pem"),
        ),
    )
    for name, config in (
        ("inline", inline_bootstrap(ca)),
        ("injected", injected),
        ("files", file_based),
    ):
        path = tmp_path / f"{name}.json"
        path.write_text(to_json(config))
        result = subprocess.run(
            [find_envoy(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (name, result.stdout + result.stderr)
    # And refuses a broken one: the check above can fail.
    broken = inline_bootstrap(ca)
    ads_tls(broken)["common_tls_context"]["validation_context"]["trusted_ca"] = {"filenam": "x"}
    path = tmp_path / "broken.json"
    path.write_text(to_json(broken))
    result = subprocess.run(
        [find_envoy(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
