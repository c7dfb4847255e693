"""Issue 11 item 11: what is given as the mesh CA must be usable as one.

Before: a leaf certificate (no BasicConstraints CA:TRUE) was accepted as the CA, so every
certificate it signed was refused by Envoy with no word why; an expired CA failed later, far
from the cause; nothing warned ahead of expiry.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from osm_mesh.certs.ca import CertificateAuthority, expiry_warning, key_pem
from osm_mesh.controller.ca import ensure_ca
from osm_mesh.controller.runtime import run
from osm_mesh.errors import InvalidInput
from osm_mesh.kube.client import connect

NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


def self_signed(*, ca: bool, not_after: dt.datetime) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "osm-ca.openservicemesh.io")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=400))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM), key_pem(key)


def test_a_leaf_certificate_is_refused_as_the_ca():
    leaf = CertificateAuthority.create().issue(Ident("shop", "web"))
    with pytest.raises(InvalidInput, match="is not a CA certificate") as err:
        CertificateAuthority.from_pem(leaf.cert_pem, leaf.key_pem)
    assert "\n" not in err.value.message and "ca.crt" in err.value.hint


def test_basic_constraints_ca_false_is_refused():
    cert, key = self_signed(ca=False, not_after=NOW + dt.timedelta(days=300))
    with pytest.raises(InvalidInput, match="is not a CA certificate"):
        CertificateAuthority.from_pem(cert, key)


def test_an_expired_ca_is_a_one_line_error_with_the_way_out():
    cert, key = self_signed(ca=True, not_after=NOW - dt.timedelta(days=2))
    with pytest.raises(InvalidInput) as err:
        CertificateAuthority.from_pem(cert, key)
    assert err.value.message.startswith("the mesh CA expired on ")
    assert "\n" not in err.value.message
    assert "delete Secret osm-ca-bundle" in err.value.hint


def test_a_valid_ca_loads_and_reports_its_expiry():
    ca = CertificateAuthority.create()
    again = CertificateAuthority.from_pem(ca.cert_pem, key_pem(ca.key))
    assert again.not_after == ca.not_after
    assert expiry_warning(ca.not_after) is None


@pytest.mark.parametrize(
    "days,expected",
    [(400, None), (31, None), (29, "expires in 28 days"), (1, "expires in 0 days")],
)
def test_expiry_warning_starts_30_days_ahead(days, expected):
    warning = expiry_warning(NOW + dt.timedelta(days=days, seconds=-30), now=NOW)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning


def _ca_secret(emu, cert: bytes, key: bytes) -> None:
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}})
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "osm-ca-bundle", "namespace": "osm-system"},
            "data": {
                "ca.crt": base64.b64encode(cert).decode(),
                "private.key": base64.b64encode(key).decode(),
            },
        }
    )


def test_the_controller_refuses_an_expired_ca_secret(kube_emulator, kubeconfig, caplog):
    cert, key = self_signed(ca=True, not_after=NOW - dt.timedelta(days=2))
    _ca_secret(kube_emulator, cert, key)
    with pytest.raises(InvalidInput, match="the mesh CA expired on"):
        ensure_ca(connect(str(kubeconfig)), "osm-system")

    # As the process runs it: one log line, exit 1.
    from osm_mesh.controller.app import Controller
    from tests.mesh.controller.conftest import settings

    caplog.set_level("ERROR")
    code = run(lambda: Controller(connect(str(kubeconfig)), settings()), "controller")
    assert code == 1
    (line,) = [r.getMessage() for r in caplog.records if "could not start" in r.getMessage()]
    assert "the mesh CA expired on" in line and "Traceback" not in line


def test_the_injector_refuses_a_leaf_as_ca(kube_emulator, kubeconfig):
    from osm_mesh.controller.ca import wait_for_ca

    leaf = CertificateAuthority.create().issue(Ident("osm-system", "osm-controller"))
    _ca_secret(kube_emulator, leaf.cert_pem, leaf.key_pem)
    with pytest.raises(InvalidInput, match="is not a CA certificate"):
        wait_for_ca(connect(str(kubeconfig)), "osm-system", timeout=2)
