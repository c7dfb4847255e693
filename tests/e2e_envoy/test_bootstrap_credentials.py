"""Bootstrap credentials are not a data-plane identity (issue 11 item 3), on real Envoys.

The attack that worked: the certificate in frontend's bootstrap (a year-long mesh certificate
for frontend's ServiceAccount) got 200 from api's inbound listener. Now the bootstrap
certificate comes from the bootstrap CA, which no sidecar trusts, and names only its proxy.
"""

from __future__ import annotations

import datetime as dt
import ssl
import time
from dataclasses import replace

import pytest
from cryptography import x509

from tests.e2e_envoy.harness import (
    EnvoyMesh,
    deployment,
    mesh_config,
    route_group,
    service,
    service_account,
    traffic_target,
)
from tests.e2e_envoy.test_access import _tls_get
from tests.mesh.xds.target import tls_from_bootstrap
from tests.mesh.xds.test_server import Ident

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS = "shop"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, mesh_ca):
    objects = [
        *(service_account(NS, sa) for sa in ("api", "frontend")),
        deployment(NS, "api", "api"),
        deployment(NS, "frontend", "frontend"),
        service(NS, "api"),
        service(NS, "frontend"),
        route_group(NS, "api-routes", [{"name": "read", "pathRegex": "/api/values"}]),
        traffic_target(NS, "api-access", "api", ["frontend"], "api-routes"),
    ]
    m = EnvoyMesh(tmp_path_factory.mktemp("bootcreds"), mesh_ca, objects)
    try:
        m.start_app("api")
        for name in ("api", "frontend"):
            m.start_envoy(name)
        m.wait_ready()
        yield m
    finally:
        m.close()


def _refused(ip: str, cert_dir, ca_pem: bytes) -> None:
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        answer = _tls_get(ip, cert_dir, ca_pem, "/api/values")
        # TLS 1.3: the server's refusal may arrive as an empty read instead of an alert.
        assert not answer.startswith(b"HTTP/"), answer
        raise ConnectionResetError("closed without a response")


@pytest.mark.parametrize("permissive", [False, True], ids=["smi", "permissive"])
def test_a_pods_bootstrap_certificate_is_refused_by_inbound_listeners(
    mesh, mesh_ca, tmp_path, permissive
):
    """frontend's bootstrap certificate, straight at api's inbound listener (the attack),
    even in permissive mode where any mesh identity is let in; and every pod's bootstrap
    certificate at every sidecar's inbound listener, its own included. A data-plane
    certificate completes the handshake with each of them (api: frontend's gets 200 on the
    same path; frontend, which has no app: an HTTP answer), so the listeners are there and
    the path is open: only the certificate is refused."""
    if permissive:
        mesh.change([mesh_config(permissive=True)])
    try:
        for owner in ("frontend", "api"):
            cert, key, _ca = tls_from_bootstrap(mesh.cp.bootstrap_for(mesh.pod(owner)))
            leaf = x509.load_pem_x509_certificate(cert)
            assert "osm-bootstrap-ca" in leaf.issuer.rfc4514_string()
            assert leaf.not_valid_after_utc - leaf.not_valid_before_utc < dt.timedelta(days=2)
            (tmp_path / "c.crt").write_bytes(cert)
            (tmp_path / "c.key").write_bytes(key)
            for sidecar in ("api", "frontend"):
                _refused(mesh.pod(sidecar).ip, tmp_path, mesh_ca.cert_pem)

        data_plane = mesh_ca.issue(Ident(NS, "frontend"))
        (tmp_path / "c.crt").write_bytes(data_plane.cert_pem)
        (tmp_path / "c.key").write_bytes(data_plane.key_pem)
        answer = _tls_get(mesh.pod("api").ip, tmp_path, mesh_ca.cert_pem, "/api/values")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        answer = _tls_get(mesh.pod("frontend").ip, tmp_path, mesh_ca.cert_pem, "/")
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    finally:
        if permissive:
            mesh.change([mesh_config(permissive=False)])


@pytest.mark.parametrize("renewed", [True, False], ids=["renewed", "not-renewed"])
def test_a_renewed_bootstrap_certificate_reaches_the_running_envoy(mesh_ca, tmp_path, renewed):
    """Bootstrap certificates are short-lived, so a running Envoy must pick up a renewed one
    from its mounted Secret: written as the kubelet writes a Secret volume, read by Envoy's
    file-based SDS. After the first certificate expired the control plane restarts (new
    connections, new handshakes): Envoy reconnects with the renewed certificate. Without the
    renewal it stays out."""
    from osm_mesh.certs.bootstrap import issue_bootstrap
    from osm_mesh.controlplane import ControlPlane
    from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap
    from osm_mesh.envoy.process import EnvoyProcess
    from osm_mesh.injector.bootstrap import ADS_CERT_KEY, ads_cert_text
    from tests.mesh.injector.secret_volume import SecretVolume

    objects = [service_account(NS, "frontend"), deployment(NS, "frontend", "frontend")]
    mesh = EnvoyMesh(tmp_path / "mesh", mesh_ca, objects)
    envoy = None
    try:
        cp, port = mesh.cp, mesh.cp.port
        node = cp.node_id_for(mesh.pod("frontend"))
        volume = SecretVolume(tmp_path / "volume")
        first = issue_bootstrap(cp.bootstrap_ca, node, validity=dt.timedelta(seconds=5))
        volume.write({ADS_CERT_KEY: ads_cert_text(first).encode()})
        boot = bootstrap(
            node_id=node,
            cluster="frontend.shop",
            ads_host="127.0.0.1",
            ads_port=port,
            tls=BootstrapTLS(
                ca_pem=mesh_ca.cert_pem, cert_sds_file=str(volume.directory / ADS_CERT_KEY)
            ),
            controller_san=cp.options.controller_name,
        )
        envoy = EnvoyProcess(boot, tmp_path, name="frontend").start()
        envoy.wait_ready(20)
        assert cp.wait_connected(1, timeout=20), envoy.log_tail(20)
        if renewed:
            later = issue_bootstrap(cp.bootstrap_ca, node, validity=dt.timedelta(hours=1))
            volume.write({ADS_CERT_KEY: ads_cert_text(later).encode()})
        # Wait out the first certificate, then restart the control plane: every proxy
        # connects again, with a new TLS handshake.
        remaining = (first.not_after - dt.datetime.now(dt.UTC)).total_seconds()
        time.sleep(max(0.0, remaining) + 1.0)
        cp.stop()
        mesh.cp = ControlPlane(mesh.source, mesh_ca, replace(mesh.options, port=port)).start()
        back = mesh.cp.wait_connected(1, timeout=8)
        assert back is renewed, envoy.log_tail(20)
    finally:
        if envoy is not None:
            envoy.stop()
        mesh.close()
