"""Bootstrap shape and the EnvoyProcess helper (start failure is reported with Envoy's reason)."""

from __future__ import annotations

import pytest

from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap, node_id
from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.errors import MeshError


def test_bootstrap_points_ads_at_the_controller_over_mtls():
    boot = bootstrap(
        node_id=node_id("u1", "web", "shop", "cluster.local"),
        cluster="web.shop",
        ads_host="10.0.0.1",
        ads_port=15128,
        tls=BootstrapTLS(cert_file="/c.pem", key_file="/k.pem", ca_file="/ca.pem"),
    )
    assert boot["node"] == {"id": "u1.sidecar.web.shop.cluster.local", "cluster": "web.shop"}
    ads = boot["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == "GRPC" and ads["transport_api_version"] == "V3"
    (cluster,) = boot["static_resources"]["clusters"]
    tls = cluster["transport_socket"]["typed_config"]
    assert tls["sni"] == "osm-controller.osm-system.svc"
    ctx = tls["common_tls_context"]
    assert ctx["tls_certificates"][0]["private_key"] == {"filename": "/k.pem"}
    assert ctx["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "osm-controller.osm-system.svc"}}
    ]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "10.0.0.1", "port_value": 15128}


def test_bootstrap_needs_tls_material():
    with pytest.raises(ValueError, match="inline PEM or a file path"):
        bootstrap(node_id="a.b.c.d.e", cluster="c", ads_host="h", ads_port=1, tls=BootstrapTLS())


@pytest.mark.envoy
def test_envoy_start_failure_is_reported(tmp_path):
    broken = {"static_resources": {"clusters": [{"name": "x", "type": "NO_SUCH_TYPE"}]}}
    with pytest.raises(MeshError, match="exited with code") as err:
        EnvoyProcess(broken, tmp_path, name="broken").start()
    assert err.value.hint and "broken.log" in err.value.hint


@pytest.mark.envoy
def test_envoy_process_admin_and_stop(tmp_path):
    envoy = EnvoyProcess({"admin": {"address": {"socket_address": {
        "address": "127.0.0.1", "port_value": 0}}}}, tmp_path).start()  # fmt: skip
    try:
        assert envoy.admin_url and envoy.is_ready()
        assert "server.live" in envoy.stats(r"^server\.live$")
        assert envoy.rss_bytes() > 10 * 2**20
    finally:
        envoy.stop()
    assert envoy.proc is None
