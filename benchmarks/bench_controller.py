"""The in-cluster controller and injector against the API emulator (over real HTTP).

- start to ready with a 500-pod mesh (CA Secret, list of every kind, catalog, ADS server);
  baseline: one LIST of all pods through the same client (the floor for reading the mesh);
- a TrafficTarget created through the API until the catalog holds it; baseline: the create
  call's own round trip;
- an AdmissionReview that injects a pod (certificate, bootstrap Secret, patch) over HTTPS;
  baseline: a review of a pod outside the mesh on the same server (TLS + namespace read).
  Upstream OSM published ~100-200 injected pods/min; the target is at least 200/min.
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import Result


def _seed(emu, services: int, pods: int, targets: int) -> None:
    from benchmarks.bench_catalog import mesh_objects

    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}})
    for obj in mesh_objects(services=services, pods=pods, targets=targets):
        emu.create(obj)


def run() -> list[Result]:
    from osm_mesh.controller.app import Controller, ControllerSettings
    from osm_mesh.injector.patch import InjectorSettings
    from osm_mesh.injector.service import (
        InjectorService,
        InjectorServiceSettings,
        webhook_limits,
    )
    from osm_mesh.kube.client import connect
    from tests.emulator import KubeEmulator
    from tests.emulator.patch import json_patch
    from tests.mesh.injector.test_webhook import a_pod, post, review

    results: list[Result] = []
    emu = KubeEmulator(simulate_workloads=False).start()
    tmp = tempfile.TemporaryDirectory()
    controller = injector = None
    try:
        _seed(emu, services=250, pods=500, targets=250)
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "outside"},
            }
        )
        kubeconfig = emu.write_kubeconfig(Path(tmp.name) / "kubeconfig")
        kube = connect(str(kubeconfig))
        kube.core.patch_namespace(
            "ns0",
            {"metadata": {"annotations": {"openservicemesh.io/sidecar-injection": "enabled"}}},
        )

        start = time.perf_counter()
        assert kube.core.list_pod_for_all_namespaces(_preload_content=False).data
        list_pods = time.perf_counter() - start
        settings = ControllerSettings(
            ads_host="127.0.0.1", ads_port=0, http_host="127.0.0.1", http_port=0, debug_port=0
        )
        start = time.perf_counter()
        controller = Controller(kube, settings).start()
        ready = time.perf_counter() - start
        assert controller.source is not None
        assert len(controller.source.snapshot().pods) == 500
        results.append(
            Result(
                "controller start to ready (500 pods, 250 services, 250 TrafficTargets)",
                ready,
                "s",
                "one LIST of all pods",
                list_pods,
                "<= 5 s",
                ready <= 5.0,
            )
        )

        source = controller.source
        creates, arrivals = [], []
        for i in range(15):
            body = {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": f"bench-{i}", "namespace": "ns1"},
                "spec": {
                    "destination": {"kind": "ServiceAccount", "name": "app1", "namespace": "ns1"},
                    "sources": [{"kind": "ServiceAccount", "name": "app0", "namespace": "ns0"}],
                    "rules": [{"kind": "HTTPRouteGroup", "name": "app1-routes"}],
                },
            }
            begin = time.perf_counter()
            kube.custom.create_namespaced_custom_object(
                "access.smi-spec.io", "v1alpha3", "ns1", "traffictargets", body
            )
            creates.append(time.perf_counter() - begin)
            name = f"bench-{i}"
            while not any(t.name == name for t in source.snapshot().traffic_targets):
                source.wait_for_change(source.version, timeout=5)
            arrivals.append(time.perf_counter() - begin)
        arrival = statistics.median(arrivals)
        results.append(
            Result(
                "TrafficTarget create -> catalog (median of 15)",
                arrival * 1000,
                "ms",
                "the create call alone",
                statistics.median(creates) * 1000,
                "<= 500 ms",
                arrival <= 0.5,
            )
        )

        assert controller.control_plane is not None
        injector = InjectorService(
            kube,
            InjectorServiceSettings(
                injector=InjectorSettings(),
                webhook_host="127.0.0.1",
                webhook_port=0,
                http_host="127.0.0.1",
                http_port=0,
                # One client sends every review here: no per-address rate limit.
                webhook_limits=webhook_limits(per_second=0),
            ),
        ).start()
        ca_pem = controller.control_plane.ca.cert_pem
        # The injector refuses pods whose ServiceAccount does not exist.
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "bookstore", "namespace": "ns0"},
            }
        )
        pod = a_pod()
        injected_body = json.dumps(review("ns0", pod)).encode()
        outside_body = json.dumps(review("outside", pod)).encode()

        def timed(body: bytes, n: int, *, injects: bool) -> float:
            times = []
            for _ in range(n):
                begin = time.perf_counter()
                status, answer = post(injector.webhook_port, ca_pem, body)
                times.append(time.perf_counter() - begin)
                response = json.loads(answer)["response"]
                assert status == 200 and response["allowed"], answer
                # What is timed must be the work: a pod in the mesh comes back with the patch
                # that adds its sidecar, one outside it without any.
                if not injects:
                    assert "patch" not in response, answer
                    continue
                assert response.get("patchType") == "JSONPatch", answer
                patched = json_patch(pod, json.loads(base64.b64decode(response["patch"])))
                names = [c["name"] for c in patched["spec"]["containers"]]
                assert "envoy" in names and len(names) == len(pod["spec"]["containers"]) + 1
            return statistics.median(times)

        outside = timed(outside_body, 20, injects=False)
        injected = timed(injected_body, 40, injects=True)
        per_minute = 60.0 / injected
        results.append(
            Result(
                "injection AdmissionReview over HTTPS (median of 40)",
                injected * 1000,
                "ms",
                "review of a pod outside the mesh",
                outside * 1000,
                ">= 200 pods/min (upstream ~100-200)",
                per_minute >= 200,
            )
        )
    finally:
        if injector is not None:
            injector.stop()
        if controller is not None:
            controller.stop()
        emu.stop()
        tmp.cleanup()
    return results
