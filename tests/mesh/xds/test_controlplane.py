"""ControlPlane wiring without Envoy: bootstraps, and a failing regeneration keeps serving."""

from __future__ import annotations

import pytest
from cryptography import x509

from osm_mesh.catalog import FileSource, Pod
from osm_mesh.certs import CertificateAuthority, uri_sans
from osm_mesh.controlplane import ControlPlane
from osm_mesh.errors import InvalidInput
from tests.e2e_envoy.harness import deployment, service, service_account


@pytest.fixture
def cp():
    source = FileSource(
        objects=[
            service_account("ns", "web"),
            deployment("ns", "web", "web"),
            service("ns", "web"),
        ],
        monitored="all",
        pod_ip=lambda *a: "127.0.0.9",
    )
    plane = ControlPlane(source, CertificateAuthority.create()).start()
    yield plane
    plane.stop()


def test_bootstrap_carries_identity_cert_and_node_id(cp):
    pod = cp.source.snapshot().pods[0]
    boot = cp.bootstrap_for(pod)
    assert boot["node"]["id"] == f"{pod.proxy_uuid}.sidecar.web.ns.cluster.local"
    ctx = boot["static_resources"]["clusters"][0]["transport_socket"]["typed_config"]
    cert = ctx["common_tls_context"]["tls_certificates"][0]["certificate_chain"]["inline_string"]
    # A bootstrap certificate: it names this one proxy, not the ServiceAccount's SPIFFE id,
    # and comes from the bootstrap CA, not the mesh CA.
    assert uri_sans(cert.encode()) == [
        f"urn:osm:proxy:{pod.proxy_uuid}.sidecar.web.ns.cluster.local"
    ]
    issuer = x509.load_pem_x509_certificate(cert.encode()).issuer.rfc4514_string()
    assert "osm-bootstrap-ca" in issuer
    endpoint = boot["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]
    assert endpoint["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] == (
        cp.port
    )


def test_unmeshed_pod_has_no_bootstrap(cp):
    with pytest.raises(InvalidInput, match="no proxy UUID"):
        cp.bootstrap_for(Pod("ns", "p"))


def test_regenerate_bumps_generation_on_source_change(cp):
    before = cp.version
    cp.source.apply([service("ns", "other", app="web")])
    with cp._generation_changed:
        assert cp._generation_changed.wait_for(lambda: cp.version > before, 5)
    assert cp.last_error is None and cp.converged()  # no proxies connected: trivially


def test_service_account_with_dots_gets_its_configuration():
    """Issue 11 item 10: ServiceAccount names are DNS subdomains; a node id is not split on
    the dots inside one (``split(".", 4)`` read sa "api", namespace "reader", and refused)."""
    from envoy.config.listener.v3 import listener_pb2
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

    from osm_mesh.xds.cache import LISTENER, SECRET
    from tests.mesh.xds.ads_client import AdsClient

    source = FileSource(
        objects=[
            service_account("ns", "api.reader"),
            deployment("ns", "api", "api.reader"),
            service("ns", "api"),
        ],
        monitored="all",
        pod_ip=lambda *a: "127.0.0.9",
    )
    with ControlPlane(source, CertificateAuthority.create()) as plane:
        pod = source.snapshot().pods[0]
        boot = plane.bootstrap_for(pod)
        assert boot["node"]["id"] == f"{pod.proxy_uuid}.sidecar.api.reader.ns.cluster.local"
        with AdsClient.for_bootstrap(boot, plane.port) as client:
            got = client.sync(boot["node"]["id"])
        assert plane.server is not None and not plane.server.rejected
        listeners = set()
        for any_ in got[LISTENER].resources:
            listener = listener_pb2.Listener()
            any_.Unpack(listener)
            listeners.add(listener.name)
        assert listeners == {"inbound-listener", "outbound-listener"}
        secrets = {}
        for any_ in got[SECRET].resources:
            secret = secret_pb2.Secret()
            any_.Unpack(secret)
            secrets[secret.name] = secret
        cert = secrets["service-cert"].tls_certificate.certificate_chain.inline_bytes
        assert uri_sans(cert) == ["spiffe://cluster.local/ns/ns/sa/api.reader"]
