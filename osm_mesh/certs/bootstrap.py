"""Bootstrap credentials: what a proxy shows the control plane, never a data-plane identity.

A pod's bootstrap Secret holds a client certificate that Envoy presents to ADS. It used to be a
mesh certificate for the pod's ServiceAccount, which every sidecar's inbound listener accepted
as that ServiceAccount (for a year). Now it is, on three counts, useless anywhere but ADS:

- it is signed by the **bootstrap CA**, a root of its own that no sidecar trusts (sidecars
  trust only the mesh CA) — and the ADS server trusts only it, so data-plane certificates do
  not open ADS streams either;
- its only name is ``urn:osm:proxy:<node id>``: no SPIFFE id, nothing an RBAC principal or
  an upstream SAN check could match, and it names one proxy (UUID included), so it proves
  that proxy and no other;
- it is for client authentication only, and short-lived (``DEFAULT_VALIDITY``).

The bootstrap CA is derived from the mesh CA's private key (HKDF, domain-separated) and its
certificate is built deterministically (fixed serial, the mesh CA's validity, RFC 6979
signatures): the controller and the injector, which both hold the mesh CA, compute the same
one with nothing more to store, distribute or migrate, and it changes when the mesh CA does.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from osm_mesh.certs.ca import (
    BACKDATE,
    CA_ORGANIZATION,
    CertificateAuthority,
    IssuedCert,
    generate_key,
    key_pem,
    uri_sans,
)

BOOTSTRAP_CA_COMMON_NAME = "osm-bootstrap-ca.openservicemesh.io"
NODE_URI_PREFIX = "urn:osm:proxy:"
# Long enough that a renewal written to the pod's Secret reaches the mounted file (the kubelet
# syncs Secret volumes within a minute or two) with hours to spare; short next to the year
# the first bootstrap certificates lasted.
DEFAULT_VALIDITY = dt.timedelta(hours=24)
_SECP256R1_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
_DERIVATION_LABEL = b"osm bootstrap CA v1"


def node_uri(node_id: str) -> str:
    return NODE_URI_PREFIX + node_id


def certificate_node_id(cert_pem: bytes) -> str | None:
    """The node id a bootstrap certificate is for; None when it names none."""
    names = [u[len(NODE_URI_PREFIX) :] for u in uri_sans(cert_pem) if u.startswith(NODE_URI_PREFIX)]
    return names[0] if len(names) == 1 else None


def bootstrap_authority(mesh_ca: CertificateAuthority) -> CertificateAuthority:
    """The bootstrap CA of ``mesh_ca`` (the same one every time, in every process)."""
    secret = mesh_ca.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    material = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=_DERIVATION_LABEL, info=b"key"
    ).derive(secret)
    # 64 bytes reduced modulo the group order: the bias is 2^-256, nothing to exploit.
    scalar = int.from_bytes(material, "big") % (_SECP256R1_ORDER - 1) + 1
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, BOOTSTRAP_CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
        ]
    )
    serial = int.from_bytes(hashlib.sha256(material + b"serial").digest()[:19], "big") | 1
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(mesh_ca.cert.not_valid_before_utc)
        .not_valid_after(mesh_ca.cert.not_valid_after_utc)
        # It signs leaves only: no intermediate below it.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return CertificateAuthority(cert, key)


def issue_bootstrap(
    bootstrap_ca: CertificateAuthority,
    node_id: str,
    *,
    validity: dt.timedelta = DEFAULT_VALIDITY,
    now: dt.datetime | None = None,
) -> IssuedCert:
    """A client certificate for exactly one proxy (``node_id``), for ADS only."""
    key = generate_key("ecdsa-p256")
    start = (now or dt.datetime.now(dt.UTC)) - BACKDATE
    end = min(start + BACKDATE + validity, bootstrap_ca.cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, node_id[:64]),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "osm-bootstrap"),
                ]
            )
        )
        .issuer_name(bootstrap_ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(bootstrap_ca.key.public_key()),
            False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(node_uri(node_id))]),
            critical=False,
        )
        .sign(bootstrap_ca.key, hashes.SHA256())
    )
    return IssuedCert(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key_pem(key),
        ca_pem=bootstrap_ca.cert_pem,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
    )
