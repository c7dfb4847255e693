"""CA persistence, identity certificates (both SANs), real TLS verification, rotation."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from osm_mesh.certs import CA_COMMON_NAME, CertificateAuthority, CertManager, uri_sans
from osm_mesh.errors import InvalidInput


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def test_ca_is_self_signed_root_with_upstream_cn(ca):
    cert = ca.cert
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == CA_COMMON_NAME
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > dt.timedelta(days=3600)
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)


def test_identity_cert_has_spiffe_uri_and_osm_dns_san(ca):
    issued = ca.issue(Ident("bookstore", "bookbuyer"), validity=dt.timedelta(hours=1))
    cert = issued.certificate()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/bookstore/sa/bookbuyer"
    ]
    assert san.get_values_for_type(x509.DNSName) == ["bookbuyer.bookstore.cluster.local"]
    assert cert.issuer == ca.cert.subject
    assert (
        dt.timedelta(minutes=59)
        < issued.not_after - dt.datetime.now(dt.UTC)
        <= dt.timedelta(hours=1)
    )
    assert uri_sans(issued.cert_pem) == ["spiffe://cluster.local/ns/bookstore/sa/bookbuyer"]


def test_trust_domain_is_configurable(ca):
    issued = ca.issue(Ident("ns1", "sa1"), trust_domain="example.org")
    assert uri_sans(issued.cert_pem) == ["spiffe://example.org/ns/ns1/sa/sa1"]


def test_rsa_key_type(ca):
    rsa_ca = CertificateAuthority(ca.cert, ca.key, key_type="rsa-2048")
    issued = rsa_ca.issue(Ident("a", "b"))
    assert isinstance(issued.certificate().public_key(), rsa.RSAPublicKey)
    with pytest.raises(InvalidInput, match="unsupported key type"):
        CertificateAuthority.create(key_type="dsa")


def test_save_and_load_directory(ca, tmp_path):
    ca.save(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca" / "private.key").stat().st_mode) == 0o600
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.cert_pem == ca.cert_pem
    # A cert issued by the reloaded CA verifies against the original root.
    issued = loaded.issue(Ident("x", "y"))
    issued.certificate().verify_directly_issued_by(ca.cert)
    again = CertificateAuthority.load_or_create(tmp_path / "ca")
    assert again.cert_pem == ca.cert_pem


def test_load_errors_are_clear(ca, tmp_path):
    with pytest.raises(InvalidInput, match=r"ca\.crt is missing"):
        CertificateAuthority.load(tmp_path)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "private.key").write_bytes(b"garbage")
    with pytest.raises(InvalidInput, match="not valid PEM"):
        CertificateAuthority.load(tmp_path)
    other = CertificateAuthority.create()
    other.save(tmp_path / "o")
    (tmp_path / "private.key").write_bytes((tmp_path / "o" / "private.key").read_bytes())
    with pytest.raises(InvalidInput, match="do not belong together"):
        CertificateAuthority.load(tmp_path)


def test_secret_data_round_trip(ca):
    data = ca.to_secret_data()
    assert set(data) == {"ca.crt", "private.key"}
    assert CertificateAuthority.from_secret_data(data).cert_pem == ca.cert_pem
    with pytest.raises(InvalidInput, match=r"lacks private\.key"):
        CertificateAuthority.from_secret_data({"ca.crt": data["ca.crt"]})


def test_mutual_tls_handshake_with_issued_certs(ca, tmp_path):
    """Two identities authenticate each other with a real TLS 1.3 handshake."""
    server_cert = ca.issue(Ident("ns", "server"))
    client_cert = ca.issue(Ident("ns", "client"))
    for name, issued in (("server", server_cert), ("client", client_cert)):
        (tmp_path / f"{name}.crt").write_bytes(issued.cert_pem)
        (tmp_path / f"{name}.key").write_bytes(issued.key_pem)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "ca.crt")
    server_ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=tmp_path / "ca.crt")
    client_ctx.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            seen["peer"] = tls.getpeercert()
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="server.ns.cluster.local") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(5)
    listener.close()
    peer = seen["peer"]
    assert ("URI", "spiffe://cluster.local/ns/ns/sa/client") in peer["subjectAltName"]  # type: ignore[index]


def test_cert_from_another_ca_is_rejected(ca):
    other = CertificateAuthority.create()
    issued = other.issue(Ident("a", "b"))
    with pytest.raises(InvalidSignature):
        issued.certificate().verify_directly_issued_by(ca.cert)


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_manager_reuses_then_rotates_at_fraction(ca):
    clock = FakeClock()
    mgr = CertManager(ca, validity=dt.timedelta(hours=10), rotate_at=0.5, clock=clock)
    first = mgr.get(Ident("ns", "a"))
    assert mgr.get(Ident("ns", "a")) is first
    assert mgr.due() == []
    # Renewal at half of the validity, counted from the moment of issue.
    clock.now += dt.timedelta(hours=4, minutes=59)
    assert mgr.get(Ident("ns", "a")) is first
    clock.now += dt.timedelta(minutes=1)
    assert mgr.due() == [("ns", "a")]
    second = mgr.get(Ident("ns", "a"))
    assert second.serial != first.serial and second.not_after > first.not_after
    assert mgr.issued_count == 2
    assert mgr.next_renewal() == mgr.renew_time(second)


def test_manager_rejects_bad_settings(ca):
    with pytest.raises(InvalidInput, match="rotate_at"):
        CertManager(ca, rotate_at=1.5)
    with pytest.raises(InvalidInput, match="too short"):
        CertManager(ca, validity=dt.timedelta(seconds=1))


def test_short_validity_is_not_due_at_once(ca):
    """The back-dated notBefore must not make a 10 s certificate due immediately."""
    clock = FakeClock()
    mgr = CertManager(ca, validity=dt.timedelta(seconds=10), rotate_at=0.5, clock=clock)
    first = mgr.get(Ident("ns", "a"))
    clock.now += dt.timedelta(seconds=4)
    assert mgr.get(Ident("ns", "a")) is first
    clock.now += dt.timedelta(seconds=1.5)
    assert mgr.get(Ident("ns", "a")) is not first


def test_due_follows_issues_renewals_and_forgets(ca):
    """due() answers from the earliest renewal time it keeps; that time must stay right."""
    clock = FakeClock()
    mgr = CertManager(ca, validity=dt.timedelta(hours=10), rotate_at=0.5, clock=clock)
    a = mgr.get(Ident("ns", "a"))
    clock.now += dt.timedelta(hours=1)
    mgr.get(Ident("ns", "b"))
    assert mgr.due() == [] and mgr.next_renewal() == mgr.renew_time(a)
    clock.now += dt.timedelta(hours=4)  # a is due (5 h), b not yet (6 h)
    assert mgr.due() == [("ns", "a")]
    renewed = mgr.get(Ident("ns", "a"))  # the earliest one renewed: b is the earliest now
    assert mgr.due() == [] and mgr.next_renewal() == mgr.renew_time(mgr.get(Ident("ns", "b")))
    clock.now += dt.timedelta(hours=1)
    assert mgr.due() == [("ns", "b")]
    mgr.forget(Ident("ns", "b"))
    assert mgr.due() == [] and mgr.next_renewal() == mgr.renew_time(renewed)
    mgr.forget(Ident("ns", "a"))
    assert mgr.due() == [] and mgr.next_renewal() is None


def test_a_leaf_never_outlives_its_ca():
    """A CA with an hour left issues a 24 h leaf: the leaf ends with the CA (a chain past its
    CA's end is rejected by every peer), its own end as written in the certificate."""
    short = CertificateAuthority.create(validity=dt.timedelta(hours=1))
    leaf = short.issue(Ident("shop", "web"), validity=dt.timedelta(hours=24))
    cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    assert cert.not_valid_after_utc == short.not_after == leaf.not_after
    named = short.issue_for_names(common_name="osm-controller", validity=dt.timedelta(days=2))
    assert named.not_after == short.not_after
    # Within the CA's life a leaf gets the validity asked for.
    brief = short.issue(Ident("shop", "web"), validity=dt.timedelta(minutes=10))
    assert brief.not_after < short.not_after
    assert brief.not_after - brief.not_before >= dt.timedelta(minutes=10)
