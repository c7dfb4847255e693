"""Fixtures for the real-Envoy tests (marked ``envoy``)."""

from __future__ import annotations

import pytest

from osm_mesh.certs import CertificateAuthority


@pytest.fixture(scope="session")
def mesh_ca() -> CertificateAuthority:
    return CertificateAuthority.create()
