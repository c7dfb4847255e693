"""Secret osm-ca-bundle: created once, loaded after, restored from the mounted copy."""

from __future__ import annotations

import base64

import pytest

from osm_mesh.certs.ca import CertificateAuthority
from osm_mesh.controller.ca import ensure_ca, wait_for_ca
from osm_mesh.errors import InvalidInput
from osm_mesh.kube.client import connect


@pytest.fixture
def kube(kube_emulator, kubeconfig):
    kube_emulator.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}}
    )
    return connect(str(kubeconfig))


def test_restores_the_secret_from_the_mounted_copy(kube, kube_emulator, tmp_path):
    original = CertificateAuthority.create()
    original.save(tmp_path)
    ca, how = ensure_ca(kube, "osm-system", ca_dir=tmp_path)
    assert how == "restored"
    assert ca.cert_pem == original.cert_pem
    secret = kube_emulator.get("v1", "Secret", "osm-ca-bundle", "osm-system")
    assert base64.b64decode(secret["data"]["ca.crt"]) == original.cert_pem
    # The injector reads the same CA.
    assert wait_for_ca(kube, "osm-system", timeout=1).cert_pem == original.cert_pem
    again, how = ensure_ca(kube, "osm-system", ca_dir=tmp_path)
    assert how == "loaded" and again.cert_pem == original.cert_pem


def test_a_broken_secret_is_an_error_not_a_new_ca(kube, kube_emulator):
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "osm-ca-bundle", "namespace": "osm-system"},
            "data": {"ca.crt": base64.b64encode(b"not pem").decode()},
        }
    )
    # Replacing it silently would orphan every certificate the old CA issued.
    with pytest.raises(InvalidInput, match=r"private\.key"):
        ensure_ca(kube, "osm-system")
