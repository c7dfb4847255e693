"""The "node" of the cluster data-path test, run inside its own network namespace.

It runs what a cluster would: the API emulator, the controller (ADS on 0.0.0.0:15128) and
the injector; it sends the two pods' AdmissionReviews through the real webhook, stores the
mutated pods with their IPs, and writes each pod's bootstrap (from its Secret) and init script
(from its osm-init container) to WORKDIR for the test to start. Then it obeys stdin:

    connected N   wait until N proxies hold an ADS stream      -> "ok"
    allow         create the TrafficTarget frontend -> api and wait for every ACK -> "ok"
    quit

    python cluster_node.py REPO WORKDIR NODE_IP POD_A_IP POD_B_IP
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path


def main() -> None:
    repo, workdir, node_ip, ip_a, ip_b = sys.argv[1:6]
    sys.path.insert(0, repo)
    from osm_mesh.controller.app import Controller, ControllerSettings
    from osm_mesh.injector.patch import InjectorSettings
    from osm_mesh.injector.service import InjectorService, InjectorServiceSettings
    from osm_mesh.kube.client import connect
    from tests.emulator import KubeEmulator
    from tests.emulator.patch import json_patch
    from tests.mesh.injector.secret_volume import mounted_bootstrap
    from tests.mesh.injector.test_webhook import post, review

    out = Path(workdir)
    emu = KubeEmulator(simulate_workloads=False).start()
    kube = connect(str(emu.write_kubeconfig(out / "kubeconfig")))
    for obj in (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}},
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": False}},
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "demo",
                "labels": {"openservicemesh.io/monitored-by": "osm"},
                "annotations": {"openservicemesh.io/sidecar-injection": "enabled"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "frontend", "namespace": "demo"},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "api", "namespace": "demo"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", "namespace": "demo"},
            "spec": {
                "selector": {"app": "api"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    ):
        emu.create(obj)

    controller = Controller(
        kube,
        ControllerSettings(ads_host="0.0.0.0", ads_port=15128, http_host="127.0.0.1", http_port=0),
    ).start()
    injector = InjectorService(
        kube,
        InjectorServiceSettings(
            injector=InjectorSettings(ads_host=node_ip, ads_port=15128),
            webhook_host="127.0.0.1",
            webhook_port=0,
            http_host="127.0.0.1",
            http_port=0,
        ),
    ).start()
    cp = controller.control_plane
    assert cp is not None and injector.ca is not None
    for name, account, ip in (("frontend", "frontend", ip_a), ("api", "api", ip_b)):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "serviceAccountName": account,
                "containers": [
                    {
                        "name": name,
                        "image": "app:1",
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"port": 8080, "path": "/hello"}},
                    }
                ],
            },
        }
        status, body = post(
            injector.webhook_port, injector.ca.cert_pem, json.dumps(review("demo", pod)).encode()
        )
        response = json.loads(body)["response"]
        assert status == 200 and response.get("patch"), response
        patched = json_patch(pod, json.loads(base64.b64decode(response["patch"])))
        patched["metadata"]["namespace"] = "demo"
        patched["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        emu.create(patched)
        uuid = patched["metadata"]["labels"]["osm-proxy-uuid"]
        secret = emu.get("v1", "Secret", f"envoy-bootstrap-config-{uuid}", "demo")
        assert secret is not None
        (out / f"{name}.bootstrap.json").write_text(
            json.dumps(mounted_bootstrap(secret, out / f"{name}-volume"))
        )
        init = next(c for c in patched["spec"]["initContainers"] if c["name"] == "osm-init")
        (out / f"{name}.init.sh").write_text(init["args"][0])
    print("ready", flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "connected":
            ok = cp.wait_connected(int(words[1]), timeout=30) and cp.wait_converged(timeout=30)
        elif words[0] == "allow":
            kube.custom.create_namespaced_custom_object(
                "access.smi-spec.io",
                "v1alpha3",
                "demo",
                "traffictargets",
                {
                    "apiVersion": "access.smi-spec.io/v1alpha3",
                    "kind": "TrafficTarget",
                    "metadata": {"name": "frontend-to-api", "namespace": "demo"},
                    "spec": {
                        "destination": {
                            "kind": "ServiceAccount",
                            "name": "api",
                            "namespace": "demo",
                        },
                        "sources": [
                            {"kind": "ServiceAccount", "name": "frontend", "namespace": "demo"}
                        ],
                        "rules": [{"kind": "HTTPRouteGroup", "name": "api-routes"}],
                    },
                },
            )
            kube.custom.create_namespaced_custom_object(
                "specs.smi-spec.io",
                "v1alpha4",
                "demo",
                "httproutegroups",
                {
                    "apiVersion": "specs.smi-spec.io/v1alpha4",
                    "kind": "HTTPRouteGroup",
                    "metadata": {"name": "api-routes", "namespace": "demo"},
                    "spec": {"matches": [{"name": "all", "pathRegex": ".*", "methods": ["GET"]}]},
                },
            )
            source = controller.source
            assert source is not None
            deadline = time.monotonic() + 10
            while not source.snapshot().traffic_targets and time.monotonic() < deadline:
                source.wait_for_change(source.version, timeout=1)
            # A generation built from a catalog that holds both objects.
            ok = bool(source.snapshot().traffic_targets) and cp.wait_converged(
                cp.regenerate(), timeout=30
            )
        else:
            ok = False
        print("ok" if ok else f"failed {line.strip()}", flush=True)
    injector.stop()
    controller.stop()
    emu.stop()


if __name__ == "__main__":
    main()
