"""Clients for the emulator's own tests: the real kubernetes client, as the CLI builds it."""

from __future__ import annotations

import pytest


@pytest.fixture
def kube(kubeconfig):
    """osm_mesh.kube.client.Kube on the emulator (timeouts and all, like the CLI)."""
    from osm_mesh.kube.client import connect

    return connect(str(kubeconfig))


@pytest.fixture(autouse=True)
def _no_emulator_errors(request):
    """Every emulator test also checks that the emulator itself never crashed (HTTP 500)."""
    emulator = None
    if "kube_emulator" in request.fixturenames:
        emulator = request.getfixturevalue("kube_emulator")
    yield
    assert emulator is None or emulator.errors == []
