"""The bootstrap CA and bootstrap certificates (osm_mesh.certs.bootstrap) by value."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from osm_mesh.certs.bootstrap import (
    bootstrap_authority,
    certificate_node_id,
    issue_bootstrap,
)
from osm_mesh.certs.ca import CertificateAuthority, key_pem, uri_sans

NODE = "u-1.sidecar.api.reader.shop.cluster.local"


def test_every_holder_of_the_mesh_ca_derives_the_same_bootstrap_ca():
    ca = CertificateAuthority.create()
    copy = CertificateAuthority.from_pem(ca.cert_pem, key_pem(ca.key))
    assert bootstrap_authority(ca).cert_pem == bootstrap_authority(copy).cert_pem
    other = bootstrap_authority(CertificateAuthority.create())
    assert other.cert.public_key() != bootstrap_authority(ca).cert.public_key()
    # An RSA mesh CA has one too (always EC P-256).
    assert bootstrap_authority(CertificateAuthority.create(key_type="rsa-2048")).cert


def test_a_bootstrap_certificate_names_one_proxy_and_opens_ads_only():
    ca = CertificateAuthority.create()
    boot = bootstrap_authority(ca)
    issued = issue_bootstrap(boot, NODE)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert uri_sans(issued.cert_pem) == [f"urn:osm:proxy:{NODE}"]
    assert certificate_node_id(issued.cert_pem) == NODE
    assert not any(u.startswith("spiffe://") for u in uri_sans(issued.cert_pem))
    cert.verify_directly_issued_by(boot.cert)
    with pytest.raises(Exception):  # noqa: B017 - not signed by the mesh CA
        cert.verify_directly_issued_by(ca.cert)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert issued.validity <= dt.timedelta(hours=24, minutes=1)
    # A data-plane certificate names no proxy.
    assert certificate_node_id(ca.issue(_Ident("shop", "api")).cert_pem) is None


class _Ident:
    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name
