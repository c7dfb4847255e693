"""KubeSource: list + watch with re-watch, resync and no rebuild when nothing changed."""

from __future__ import annotations

import time

from osm_mesh.catalog.kube_watch import KubeSource
from osm_mesh.kube.client import connect
from tests.mesh.controller.conftest import seed_mesh


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_rewatches_and_resyncs_without_needless_rebuilds(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    source = KubeSource(
        connect(str(kubeconfig)),
        mesh_name="osm",
        osm_namespace="osm-system",
        watch_timeout=1,
        resync_seconds=1.0,
    ).start()
    try:
        assert source.wait_synced(10)
        assert wait_for(lambda: source.version >= 1)
        assert source.served["TrafficTarget"].startswith("access.smi-spec.io/")
        version = source.version

        def pod_lists() -> int:
            return sum(
                1
                for r in kube_emulator.requests
                if r.method == "GET" and r.path == "/api/v1/pods" and "watch" not in r.query
            )

        lists = pod_lists()
        # Watches time out every second and relists happen every second: neither is a change.
        assert wait_for(lambda: pod_lists() >= lists + 2, timeout=15)
        assert source.version == version

        # Events after several re-watches still arrive.
        kube_emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "bookbuyer", "namespace": "bookstore"},
                "spec": {"selector": {"app": "bookbuyer"}, "ports": [{"port": 80}]},
            }
        )
        assert wait_for(lambda: source.snapshot().service("bookstore", "bookbuyer") is not None)
        assert source.errors == 0
    finally:
        source.stop()
