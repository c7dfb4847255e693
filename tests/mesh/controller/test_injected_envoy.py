"""The whole cluster path without a cluster: the webhook injects a pod, its bootstrap Secret
starts a real Envoy, which connects to the controller's ADS over mTLS and ACKs its config."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from osm_mesh.controller.app import Controller
from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.service import InjectorService, InjectorServiceSettings
from osm_mesh.kube.client import connect
from tests.emulator.patch import json_patch
from tests.mesh.controller.conftest import http_get, seed_mesh, settings
from tests.mesh.injector.secret_volume import mounted_bootstrap
from tests.mesh.injector.test_webhook import post, registered_ca, review

pytestmark = [pytest.mark.envoy]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_local_ports(bootstrap: dict, admin: int, ports: dict[str, int]) -> dict:
    """The Secret's bootstrap with the fixed pod ports moved to free ones (shared machine):
    ``ports`` maps static listener names to the ports to use instead."""
    bootstrap["admin"]["address"]["socket_address"]["port_value"] = admin
    for cluster in bootstrap["static_resources"]["clusters"]:
        if cluster["name"] == "envoy-admin":
            lb = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
            lb["endpoint"]["address"]["socket_address"]["port_value"] = admin
    listeners = bootstrap["static_resources"]["listeners"]
    assert {listener["name"] for listener in listeners} == set(ports)
    for listener in listeners:
        listener["address"]["socket_address"].update(
            address="127.0.0.1", port_value=ports[listener["name"]]
        )
    return bootstrap


class _App(BaseHTTPRequestHandler):
    """The meshed app: answers its readiness path and a path the probe listener must hide."""

    def do_GET(self) -> None:
        body = b"ready" if self.path == "/ready" else b"private"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_injected_pod_gets_its_config_from_the_controller(kube_emulator, kubeconfig, tmp_path):
    seed_mesh(kube_emulator)
    kube = connect(str(kubeconfig))
    kube.core.patch_namespace(
        "bookstore", {"metadata": {"annotations": {"openservicemesh.io/sidecar-injection": "yes"}}}
    )
    controller = Controller(kube, settings()).start()
    assert controller.control_plane is not None
    injector = InjectorService(
        kube,
        InjectorServiceSettings(
            injector=InjectorSettings(
                mesh_name="osm",
                osm_namespace="osm-system",
                ads_host="127.0.0.1",
                ads_port=controller.control_plane.port,
            ),
            webhook_host="127.0.0.1",
            webhook_port=0,
            http_host="127.0.0.1",
            http_port=0,
        ),
    ).start()
    envoy = None
    app = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=app.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bookbuyer-0", "labels": {"app": "bookbuyer"}},
            "spec": {
                "serviceAccountName": "bookstore",
                "containers": [
                    {
                        "name": "app",
                        "image": "bookbuyer:v1",
                        "ports": [{"name": "http", "containerPort": app.server_port}],
                        "readinessProbe": {"httpGet": {"port": "http", "path": "/ready"}},
                    }
                ],
            },
        }
        status, body = post(
            injector.webhook_port,
            registered_ca(kube_emulator),
            json.dumps(review("bookstore", pod)).encode(),
        )
        response = json.loads(body)["response"]
        assert status == 200 and response["allowed"], response
        patched = json_patch(pod, json.loads(base64.b64decode(response["patch"])))
        proxy_uuid = patched["metadata"]["labels"]["osm-proxy-uuid"]
        # The API server stores the mutated pod; the kubelet gives it an IP.
        patched["metadata"]["namespace"] = "bookstore"
        patched["status"] = {"phase": "Running", "podIP": "10.244.1.8"}
        kube_emulator.create(patched)

        secret = kube_emulator.get(
            "v1", "Secret", f"envoy-bootstrap-config-{proxy_uuid}", "bookstore"
        )
        bootstrap = mounted_bootstrap(secret, tmp_path / "volume")
        metrics_port, probe_port = free_port(), free_port()
        assert patched["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 15901
        ports = {"prometheus-listener": metrics_port, "probe-15901": probe_port}
        envoy = EnvoyProcess(
            with_local_ports(bootstrap, free_port(), ports), tmp_path, name="bookbuyer"
        ).start()

        cp = controller.control_plane
        assert cp.wait_connected(1, timeout=20), envoy.log_tail(10)
        assert cp.wait_converged(timeout=20), envoy.log_tail(10)
        envoy.wait_ready(timeout=20)
        (node,) = cp.connected()
        assert node.startswith(f"{proxy_uuid}.sidecar.bookstore.bookstore.")
        assert cp.statuses()[node].nacks == []
        assert "service-cert" in envoy.dynamic_names("secrets")
        assert envoy.dynamic_names("listeners")

        # The metrics listener serves Prometheus stats and nothing else of the admin API.
        with _OPENER.open(f"http://127.0.0.1:{metrics_port}/stats/prometheus", timeout=5) as r:
            assert r.status == 200
            assert b"envoy_cluster_upstream_cx_total" in r.read()
        with pytest.raises(urllib.error.HTTPError) as denied:
            _OPENER.open(f"http://127.0.0.1:{metrics_port}/config_dump", timeout=5)
        assert denied.value.code == 404
        # The kubelet's readiness probe reaches the app through its probe listener, which
        # forwards that path only.
        with _OPENER.open(f"http://127.0.0.1:{probe_port}/ready", timeout=5) as r:
            assert r.read() == b"ready"
        with pytest.raises(urllib.error.HTTPError) as hidden:
            _OPENER.open(f"http://127.0.0.1:{probe_port}/private", timeout=5)
        assert hidden.value.code == 404

        # A policy change is pushed to the running Envoy, which ACKs it.
        version = cp.version
        kube.custom.create_namespaced_custom_object(
            "access.smi-spec.io",
            "v1alpha3",
            "bookstore",
            "traffictargets",
            {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": "self", "namespace": "bookstore"},
                "spec": {
                    "destination": {
                        "kind": "ServiceAccount",
                        "name": "bookstore",
                        "namespace": "bookstore",
                    },
                    "sources": [
                        {"kind": "ServiceAccount", "name": "bookstore", "namespace": "bookstore"}
                    ],
                    "rules": [{"kind": "TCPRoute", "name": "all"}],
                },
            },
        )
        assert cp.wait_converged(version + 1, timeout=20), envoy.log_tail(10)
        assert cp.statuses()[node].nacks == []

        values = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, _, metrics = http_get(controller.http.port, "/metrics")
            values = {
                line.split()[0]: float(line.split()[1])
                for line in metrics.splitlines()
                if line and not line.startswith("#")
            }
            if values.get("osm_proxy_config_update_time_seconds_count", 0) >= 1:
                break
            time.sleep(0.05)
        assert values["osm_proxy_connect_count"] == 1
        assert values["osm_proxy_config_update_time_seconds_count"] >= 1
        assert values["osm_proxy_xds_nack_total"] == 0
    finally:
        if envoy is not None:
            envoy.stop()
        injector.stop()
        controller.stop()
        app.shutdown()
        app.server_close()
