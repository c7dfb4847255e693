"""Cluster mode cannot run here (it needs iptables), so its resources are checked by the real
Envoy binary in ``--mode validate``: listeners (routes inlined), clusters and secrets of every
proxy of a mesh with HTTP, TCP, splits and RBAC. Local mode is validated the same way."""

from __future__ import annotations

import json
import subprocess

import pytest
from google.protobuf import json_format

from osm_mesh.catalog import Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap
from osm_mesh.envoy.process import find_envoy
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.mesh.envoy.test_translate import catalog, proxy_of

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
HCM = "envoy.filters.network.http_connection_manager"


def config_for(res, cert, ca_pem: bytes) -> dict:
    def d(msg):
        return json_format.MessageToDict(msg, preserving_proto_field_name=True)

    boot = bootstrap(
        node_id="x.sidecar.web.shop.cluster.local",
        cluster="web.shop",
        ads_host="127.0.0.1",
        ads_port=15128,
        tls=BootstrapTLS(cert.cert_pem, cert.key_pem, ca_pem),
    )
    routes = {name: d(r) for name, r in res.routes.items()}
    listeners = [d(lst) for lst in res.listeners.values()]
    for listener in listeners:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                if f["name"] == HCM:
                    # Inline the RDS route table so validation covers routes and RBAC too.
                    rds = f["typed_config"].pop("rds")
                    f["typed_config"]["route_config"] = routes[rds["route_config_name"]]
    static = boot["static_resources"]
    static["listeners"] = listeners
    static["clusters"] += [d(c) for c in res.clusters.values()]
    static["secrets"] = [d(s) for s in res.secrets.values()]
    return boot


def envoy_validate(config: dict, path) -> subprocess.CompletedProcess:
    path.write_text(json.dumps(config))
    return subprocess.run(
        [
            find_envoy(),
            "--mode",
            "validate",
            "-c",
            str(path),
            "--disable-hot-restart",
            "-l",
            "error",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("mode", "egress"), [("cluster", False), ("cluster", True), ("local", True)]
)
def test_every_proxy_config_is_valid_for_envoy(mode, egress, tmp_path):
    ca = CertificateAuthority.create()
    cert = ca.issue(Identity("shop", "web"))
    cat = catalog(egress=egress)
    for deployment in ("web", "api", "api-v2", "db"):
        res = translate(cat, proxy_of(cat, deployment), TranslateOptions(mode=mode), cert)
        result = envoy_validate(config_for(res, cert, ca.cert_pem), tmp_path / "c.json")
        assert result.returncode == 0, (deployment, result.stdout + result.stderr)


def test_validation_catches_a_broken_config(tmp_path):
    """The check above is meaningful: an invalid route regex fails it."""
    ca = CertificateAuthority.create()
    cert = ca.issue(Identity("shop", "web"))
    cat = catalog()
    res = translate(cat, proxy_of(cat, "web"), TranslateOptions(), cert)
    config = config_for(res, cert, ca.cert_pem)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    vhost = hcm["typed_config"]["route_config"]["virtual_hosts"][0]
    vhost["routes"][0]["match"] = {"safe_regex": {"regex": "(("}}
    result = envoy_validate(config, tmp_path / "bad.json")
    assert result.returncode != 0
