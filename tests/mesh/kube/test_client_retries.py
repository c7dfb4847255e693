"""The kube client honours the API server's 429 + Retry-After ("storage is (re)initializing",
what a real server answers right after a CRD update) and still fails fast on everything else."""

from __future__ import annotations

import time

import pytest
from kubernetes.client.exceptions import ApiException

from osm_mesh.kube.client import RETRIES_429, connect


def test_a_reinitializing_resource_is_retried_after_retry_after(kube_emulator, kubeconfig):
    kube = connect(str(kubeconfig))
    kube.core.list_namespace()  # the first answer (short first-read timeout)
    kube_emulator.reinitialize("namespaces", requests=2)
    began = time.monotonic()
    names = [n.metadata.name for n in kube.core.list_namespace().items]
    assert "default" in names
    # Two Retry-After: 1 waits were honoured.
    assert time.monotonic() - began >= 2.0


def test_a_server_still_reinitializing_after_the_retries_is_an_error(kube_emulator, kubeconfig):
    kube = connect(str(kubeconfig))
    kube_emulator.reinitialize("namespaces", requests=RETRIES_429 + 1)
    with pytest.raises(ApiException) as err:
        kube.core.list_namespace()
    assert err.value.status == 429
    assert "storage is (re)initializing" in err.value.body


def test_a_write_answered_429_is_retried_too(kube_emulator, kubeconfig):
    """429 means the request was not processed: a create is retried like a read."""
    kube = connect(str(kubeconfig))
    kube_emulator.reinitialize("configmaps", requests=1)
    kube.core.create_namespaced_config_map("default", {"metadata": {"name": "after-429"}})
    assert kube.core.read_namespaced_config_map("after-429", "default").metadata.name
