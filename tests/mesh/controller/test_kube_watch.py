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


def test_watch_events_build_the_catalog_incrementally_and_it_equals_a_full_build(
    kube_emulator, kubeconfig
):
    from osm_mesh.catalog.incremental import CatalogBuilder
    from osm_mesh.catalog.loader import Document
    from tests.mesh.catalog.test_incremental import assert_same

    seed_mesh(kube_emulator)
    source = KubeSource(
        connect(str(kubeconfig)), mesh_name="osm", osm_namespace="osm-system", debounce=0.01
    ).start()

    def settled(check) -> bool:  # type: ignore[no-untyped-def]
        return wait_for(lambda: check(source.snapshot()))

    try:
        assert source.wait_synced(10) and wait_for(lambda: source.version >= 1)
        kube_emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bookstore-1", "namespace": "bookstore",
                             "labels": {"app": "bookstore", "osm-proxy-uuid": "p-1"}},
                "spec": {"serviceAccountName": "bookstore", "containers": [{"name": "c"}]},
                "status": {"podIP": "10.244.1.8"},
            }
        )  # fmt: skip
        assert settled(lambda c: c.pod("bookstore", "bookstore-1") is not None)
        target = {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "t", "namespace": "bookstore"},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "bookstore",
                                "namespace": "bookstore"},
                "sources": [{"kind": "ServiceAccount", "name": "bookbuyer",
                             "namespace": "bookstore"}],
                "rules": [{"kind": "HTTPRouteGroup", "name": "r"}],
            },
        }  # fmt: skip
        kube_emulator.create(target)
        assert settled(lambda c: len(c.traffic_targets) == 1)
        kube_emulator.delete("v1", "Pod", "bookstore-0", "bookstore")
        assert settled(lambda c: c.pod("bookstore", "bookstore-0") is None)
        builder = source._builder
        assert builder.incremental_builds >= 3, vars(builder)
        full = CatalogBuilder(monitored=None, mesh_name="osm", synthesize_pods=False).rebuild(
            [Document(o) for o in source.objects()]
        )
        assert_same(source.snapshot(), full, "after watch events")
    finally:
        source.stop()
