"""A proxy's SDS secrets: its own certificate and key, and the mesh CA, under the names every
TLS context of its listeners and clusters asks for (a secret under another name, or holding
other bytes, leaves Envoy's mTLS without a certificate or a trust anchor)."""

from __future__ import annotations

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from osm_mesh.catalog import Identity
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.mesh.envoy.test_translate import catalog, proxy_of


def test_the_secrets_hold_the_proxys_certificate_and_the_mesh_ca_under_the_names_asked_for():
    ca = CertificateAuthority.create()
    cert = ca.issue(Identity("shop", "api"))
    cat = catalog(egress=False)
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    service, root = res.secrets[names.SECRET_SERVICE_CERT], res.secrets[names.SECRET_ROOT_CERT]
    assert service.name == names.SECRET_SERVICE_CERT
    assert service.tls_certificate.certificate_chain.inline_bytes == cert.cert_pem
    assert service.tls_certificate.private_key.inline_bytes == cert.key_pem
    assert root.name == names.SECRET_ROOT_CERT
    assert root.validation_context.trusted_ca.inline_bytes == ca.cert_pem

    contexts = []
    for listener in res.listeners.values():
        for chain in listener.filter_chains:
            if chain.HasField("transport_socket"):
                ctx = tls_pb2.DownstreamTlsContext()
                assert chain.transport_socket.typed_config.Unpack(ctx)
                contexts.append(ctx.common_tls_context)
    for cluster in res.clusters.values():
        assert isinstance(cluster, Cluster)
        if cluster.HasField("transport_socket"):
            ctx = tls_pb2.UpstreamTlsContext()
            assert cluster.transport_socket.typed_config.Unpack(ctx)
            contexts.append(ctx.common_tls_context)
    assert contexts
    for common in contexts:
        assert [s.name for s in common.tls_certificate_sds_secret_configs] == [service.name]
        combined = common.combined_validation_context
        assert combined.validation_context_sds_secret_config.name == root.name
