"""Every certificate the mesh makes, extension by extension (mutation testing found these
unchecked): the mesh CA, identity leaves, the bootstrap CA and bootstrap leaves; the SPIFFE id
parser and the key types."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from osm_mesh.certs import CertificateAuthority, CertManager, parse_spiffe_id
from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.certs.ca import BACKDATE, generate_key
from osm_mesh.errors import InvalidInput

USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


def profile(cert: x509.Certificate) -> dict:
    """The facts of a certificate's extensions: value and criticality of each."""
    ext = {e.oid._name: e for e in cert.extensions}
    out: dict = {"critical": {name: e.critical for name, e in ext.items()}}
    basic = ext["basicConstraints"].value
    out["ca"] = (basic.ca, basic.path_length)
    usage = ext["keyUsage"].value
    out["usages"] = {u for u in USAGES if getattr(usage, u)}
    if usage.key_agreement:
        out["usages"] |= {u for u in ("encipher_only", "decipher_only") if getattr(usage, u)}
    if "extendedKeyUsage" in ext:
        out["eku"] = list(ext["extendedKeyUsage"].value)
    return out


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def test_the_mesh_ca(ca):
    p = profile(ca.cert)
    assert p["ca"] == (True, None)
    assert p["usages"] == {"digital_signature", "key_cert_sign", "crl_sign"}
    assert p["critical"] == {
        "basicConstraints": True,
        "keyUsage": True,
        "subjectKeyIdentifier": False,
    }
    now = dt.datetime.now(dt.UTC)
    assert (
        now - BACKDATE - dt.timedelta(seconds=30) < ca.cert.not_valid_before_utc <= now - BACKDATE
    )


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048"])
def test_an_identity_leaf(key_type):
    ca = CertificateAuthority.create(key_type=key_type)
    leaf = ca.issue(Ident("shop", "web")).certificate()
    p = profile(leaf)
    assert p["ca"] == (False, None)
    # RSA keys encipher the TLS key exchange; EC keys only sign.
    rsa_only = {"key_encipherment"} if key_type.startswith("rsa") else set()
    assert p["usages"] == {"digital_signature", *rsa_only}
    assert p["eku"] == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert p["critical"] == {
        "basicConstraints": True,
        "keyUsage": True,
        "extendedKeyUsage": False,
        "authorityKeyIdentifier": False,
        "subjectAltName": False,
    }
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_leaf_names_validity_and_ca_bundle(ca):
    long_name = "x" * 100
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    issued = ca.issue_for_names(
        common_name=long_name,
        dns_names=["a.example"],
        ip_addresses=["10.0.0.7"],
        validity=dt.timedelta(hours=2),
        now=now,
    )
    cert = issued.certificate()
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "x" * 64  # the X.509 upper bound
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    assert cert.not_valid_before_utc == now - BACKDATE
    assert cert.not_valid_after_utc == now + dt.timedelta(hours=2)
    assert issued.ca_pem == ca.cert_pem
    assert (
        serialization.load_pem_private_key(issued.key_pem, None).public_key() == cert.public_key()
    )


def fixed_mesh_ca() -> CertificateAuthority:
    """A mesh CA with a fixed key: the bootstrap CA derived from it is a known answer."""
    key = ec.derive_private_key(0x5EED, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fixed")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert, key)


def test_the_bootstrap_ca_is_a_known_answer_of_the_mesh_key():
    """The derivation is a contract between versions: a controller or injector upgraded in
    place must derive the same bootstrap CA, or every running proxy's bootstrap certificate
    stops opening ADS. Pinned for one fixed mesh CA key."""
    mesh = fixed_mesh_ca()
    boot = bootstrap_authority(mesh)
    assert isinstance(boot.key, ec.EllipticCurvePrivateKey)
    assert boot.key.private_numbers().private_value == KNOWN_SCALAR
    assert boot.cert.serial_number == KNOWN_SERIAL
    assert (boot.cert.not_valid_before_utc, boot.cert.not_valid_after_utc) == (
        mesh.cert.not_valid_before_utc,
        mesh.cert.not_valid_after_utc,
    )
    p = profile(boot.cert)
    assert p["ca"] == (True, 0)  # signs leaves only, never another CA
    assert p["usages"] == {"key_cert_sign", "crl_sign"}
    assert p["critical"] == {
        "basicConstraints": True,
        "keyUsage": True,
        "subjectKeyIdentifier": False,
    }


KNOWN_SCALAR = 0x533355BBE0315BAECBC82ADBF8859E1DD1B19A87CC9947CE51AAACD9D899F92
KNOWN_SERIAL = 0xCE467B547428DE37FD7F75A6BE570D65E80CF5


def test_a_bootstrap_leaf(ca):
    boot = bootstrap_authority(ca)
    now = dt.datetime.now(dt.UTC)
    node = "u" * 70
    issued = issue_bootstrap(boot, node, validity=dt.timedelta(hours=1), now=now)
    cert = issued.certificate()
    p = profile(cert)
    assert p["ca"] == (False, None)
    assert p["usages"] == {"digital_signature"}
    assert p["eku"] == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert p["critical"]["basicConstraints"] and p["critical"]["keyUsage"]
    assert not p["critical"]["extendedKeyUsage"] and not p["critical"]["subjectAltName"]
    assert not p["critical"]["authorityKeyIdentifier"]  # RFC 5280 4.2.1.1: MUST be non-critical
    subject = {a.oid: a.value for a in cert.subject}
    assert subject[NameOID.COMMON_NAME] == "u" * 64
    assert subject[NameOID.ORGANIZATIONAL_UNIT_NAME] == "osm-bootstrap"
    assert cert.not_valid_before_utc == (now - BACKDATE).replace(microsecond=0)
    assert cert.not_valid_after_utc == (now + dt.timedelta(hours=1)).replace(microsecond=0)
    assert issued.ca_pem == boot.cert_pem and issued.serial == cert.serial_number
    assert (
        serialization.load_pem_private_key(issued.key_pem, None).public_key() == cert.public_key()
    )
    # Never past the bootstrap CA (which ends with the mesh CA).
    late = issue_bootstrap(boot, "n", now=boot.not_after - dt.timedelta(minutes=5))
    assert late.not_after == boot.not_after


@pytest.mark.parametrize(
    "uri, parsed",
    [
        ("spiffe://cluster.local/ns/shop/sa/web", ("cluster.local", "shop", "web")),
        ("spiffe://td/ns/a/sa/b", ("td", "a", "b")),
        ("SPIFFE://td/ns/a/sa/b", None),
        ("https://td/ns/a/sa/b", None),
        ("spiffe:///ns/a/sa/b", None),  # no trust domain
        ("spiffe://td/ns/a/sa", None),
        ("spiffe://td/ns/a/sa/b/c", None),
        ("spiffe://td/sa/a/ns/b", None),
        ("spiffe://td/ns/a/xx/b", None),
        ("spiffe://td/xx/a/sa/b", None),
        ("spiffe://td/NS/a/sa/b", None),
    ],
)
def test_parse_spiffe_id(uri, parsed):
    assert parse_spiffe_id(uri) == parsed


@pytest.mark.parametrize(
    "key_type, kind, size",
    [
        ("ecdsa-p256", ec.EllipticCurvePrivateKey, 256),
        ("ec", ec.EllipticCurvePrivateKey, 256),
        ("ecdsa", ec.EllipticCurvePrivateKey, 256),
        ("rsa", rsa.RSAPrivateKey, 2048),
        ("rsa-3072", rsa.RSAPrivateKey, 3072),
    ],
)
def test_key_types(key_type, kind, size):
    key = generate_key(key_type)
    assert isinstance(key, kind) and key.key_size == size


@pytest.mark.parametrize(
    "key_type, hint",
    [
        ("rsa-1024", "use ecdsa-p256 or rsa-<bits ≥ 2048>"),
        ("rsa-big", "use ecdsa-p256 or rsa-<bits ≥ 2048>"),
        ("dsa", "use ecdsa-p256 or rsa-2048"),
        ("EC", "use ecdsa-p256 or rsa-2048"),
    ],
)
def test_unsupported_key_types_name_themselves_and_the_way_out(key_type, hint):
    with pytest.raises(InvalidInput) as err:
        generate_key(key_type)
    assert str(err.value) == f"unsupported key type {key_type!r}"
    assert err.value.hint == hint


def test_cert_manager_bounds(ca):
    CertManager(ca, validity=dt.timedelta(seconds=2), rotate_at=0.1)  # the smallest allowed
    for kwargs in (
        {"validity": dt.timedelta(seconds=1.9)},
        {"rotate_at": 1.0},
        {"rotate_at": 0.09},
    ):
        with pytest.raises(InvalidInput):
            CertManager(ca, **kwargs)


def test_ca_checks_at_their_exact_boundaries(ca):
    from osm_mesh.certs.ca import CA_EXPIRY_WARNING, check_usable_ca, expiry_warning

    end = ca.not_after
    assert expiry_warning(end, now=end - CA_EXPIRY_WARNING - dt.timedelta(seconds=1)) is None
    assert "expires in 30 days" in (expiry_warning(end, now=end - CA_EXPIRY_WARNING) or "")
    assert "expired on" in (expiry_warning(end, now=end) or "")
    check_usable_ca(ca.cert, now=end - dt.timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="expired on"):
        check_usable_ca(ca.cert, now=end)
    # A CA:TRUE certificate whose KeyUsage does not allow signing certificates is no CA.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no-sign")])
    off = dict.fromkeys(USAGES, False) | {"encipher_only": False, "decipher_only": False}
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**(off | {"digital_signature": True})), critical=True)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(InvalidInput, match="not a CA certificate"):
        check_usable_ca(cert)


def test_ca_files_save_load_and_their_errors(ca, tmp_path):
    from osm_mesh.certs.ca import CA_CERT_KEY, CA_KEY_KEY

    nested = tmp_path / "a" / "b"
    ca.save(nested)  # parents made, an existing directory is fine
    ca.save(nested)
    assert CertificateAuthority.load(nested).cert_pem == ca.cert_pem
    # One file of the two is not "no CA": load_or_create refuses rather than replacing it.
    half = tmp_path / "half"
    half.mkdir()
    (half / CA_CERT_KEY).write_bytes(ca.cert_pem)
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.load_or_create(half)
    assert str(err.value) == f"no CA in {half}: {CA_KEY_KEY} is missing"
    assert err.value.hint == "create one with CertificateAuthority.create().save(dir)"
    assert not (half / CA_KEY_KEY).exists()
    # load_or_create keeps the key type asked for when it loads.
    made = CertificateAuthority.load_or_create(tmp_path / "new", key_type="rsa-2048")
    assert CertificateAuthority.load_or_create(tmp_path / "new", key_type="rsa-2048").key_type == (
        "rsa-2048"
    )
    assert isinstance(made.issue(Ident("shop", "web")).certificate().public_key(), rsa.RSAPublicKey)
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.from_secret_data({CA_CERT_KEY: "x"})
    assert str(err.value) == f"the CA Secret lacks {CA_KEY_KEY}"
    assert err.value.hint == f"Secret osm-ca-bundle needs keys {CA_CERT_KEY} and {CA_KEY_KEY}"
