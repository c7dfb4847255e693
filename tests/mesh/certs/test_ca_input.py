"""A CA given by the user (files, a Secret) is refused with the reason and the way out when
it cannot work, and keeps the leaf key type asked for (mutation testing found these
unchecked)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from osm_mesh.certs.ca import (
    CA_CERT_KEY,
    CA_KEY_KEY,
    CertificateAuthority,
    check_usable_ca,
    key_pem,
)
from osm_mesh.errors import InvalidInput

NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def _builder(key, *, sign_certs: bool, basic: bool) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "user-ca")])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    if basic:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement"), False
    )
    usage |= {"encipher_only": False, "decipher_only": False, "crl_sign": sign_certs}
    return b.add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=sign_certs, **usage), critical=True
    )


def test_key_cert_sign_without_basic_constraints_is_no_ca():
    """Without BasicConstraints CA:TRUE no verifier takes it as an issuer, whatever its
    KeyUsage says."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _builder(key, sign_certs=True, basic=False).sign(key, hashes.SHA256())
    with pytest.raises(InvalidInput, match="is not a CA certificate"):
        check_usable_ca(cert)


def test_a_ca_key_of_another_kind_is_refused_by_name():
    key = ed25519.Ed25519PrivateKey.generate()
    cert = _builder(key, sign_certs=True, basic=True).sign(key, None)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.from_pem(pem, key_bytes)
    assert str(err.value) == "the CA private key must be EC or RSA"


def test_a_certificate_and_a_key_that_do_not_match_are_refused_with_the_way_out(ca):
    other = CertificateAuthority.create()
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.from_pem(ca.cert_pem, key_pem(other.key))
    assert str(err.value) == "the CA certificate and private key do not belong together"
    assert err.value.hint == "restore both files from the same backup"


def test_bytes_that_are_not_pem_are_refused_with_what_is_needed(ca):
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.from_pem(b"not a certificate", key_pem(ca.key))
    assert str(err.value).startswith("the CA bundle is not valid PEM: ")
    assert err.value.hint == f"it needs {CA_CERT_KEY} and {CA_KEY_KEY} as PEM"


def test_a_secret_without_either_key_names_both():
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.from_secret_data({})
    assert str(err.value) == f"the CA Secret lacks {CA_CERT_KEY}, {CA_KEY_KEY}"


def test_a_ca_from_a_secret_issues_the_key_type_asked_for(ca):
    data = {
        CA_CERT_KEY: base64.b64encode(ca.cert_pem).decode(),
        CA_KEY_KEY: base64.b64encode(key_pem(ca.key)).decode(),
    }
    loaded = CertificateAuthority.from_secret_data(data, "rsa-2048")
    leaf = loaded.issue(Ident("shop", "web")).certificate()
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)
    default = CertificateAuthority.from_secret_data(data).issue(Ident("shop", "web"))
    assert isinstance(default.certificate().public_key(), ec.EllipticCurvePublicKey)


def test_an_existing_ca_loaded_without_a_key_type_issues_ecdsa(ca, tmp_path):
    ca.save(tmp_path)
    loaded = CertificateAuthority.load_or_create(tmp_path)
    assert loaded.cert_pem == ca.cert_pem
    leaf = loaded.issue(Ident("shop", "web")).certificate()
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
