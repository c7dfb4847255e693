"""Bootstrap credentials are not a data-plane identity (issue 11 item 3), on real Envoys.

The attack that worked: the certificate in frontend's bootstrap (a year-long mesh certificate
for frontend's ServiceAccount) got 200 from api's inbound listener. Now the bootstrap
certificate comes from the bootstrap CA, which no sidecar trusts, and names only its proxy.
"""

from __future__ import annotations

import datetime as dt
import ssl

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
    even in permissive mode where any mesh identity is let in. frontend's data-plane
    certificate on the same path gets 200: the path itself is open to frontend."""
    if permissive:
        mesh.change([mesh_config(permissive=True)])
    try:
        cert, key, _ca = tls_from_bootstrap(mesh.cp.bootstrap_for(mesh.pod("frontend")))
        leaf = x509.load_pem_x509_certificate(cert)
        assert "osm-bootstrap-ca" in leaf.issuer.rfc4514_string()
        assert leaf.not_valid_after_utc - leaf.not_valid_before_utc < dt.timedelta(days=2)
        (tmp_path / "c.crt").write_bytes(cert)
        (tmp_path / "c.key").write_bytes(key)
        _refused(mesh.pod("api").ip, tmp_path, mesh_ca.cert_pem)

        data_plane = mesh_ca.issue(Ident(NS, "frontend"))
        (tmp_path / "c.crt").write_bytes(data_plane.cert_pem)
        (tmp_path / "c.key").write_bytes(data_plane.key_pem)
        answer = _tls_get(mesh.pod("api").ip, tmp_path, mesh_ca.cert_pem, "/api/values")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    finally:
        if permissive:
            mesh.change([mesh_config(permissive=False)])
