"""The whole cluster path without a cluster: the webhook injects a pod, its bootstrap Secret
starts a real Envoy, which connects to the controller's ADS over mTLS and ACKs its config."""

from __future__ import annotations

import base64
import json
import socket
import urllib.request

import pytest

from osm_mesh.controller.app import Controller
from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.service import InjectorService, InjectorServiceSettings
from osm_mesh.kube.client import connect
from tests.emulator.patch import json_patch
from tests.mesh.controller.conftest import http_get, seed_mesh, settings
from tests.mesh.injector.test_webhook import post, registered_ca, review

pytestmark = [pytest.mark.envoy]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_local_ports(bootstrap: dict, admin: int, metrics: int) -> dict:
    """The Secret's bootstrap with the fixed pod ports moved to free ones (shared machine)."""
    bootstrap["admin"]["address"]["socket_address"]["port_value"] = admin
    for cluster in bootstrap["static_resources"]["clusters"]:
        if cluster["name"] == "envoy-admin":
            lb = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
            lb["endpoint"]["address"]["socket_address"]["port_value"] = admin
    (listener,) = bootstrap["static_resources"]["listeners"]
    listener["address"]["socket_address"].update(address="127.0.0.1", port_value=metrics)
    return bootstrap


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
    try:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bookbuyer-0", "labels": {"app": "bookbuyer"}},
            "spec": {
                "serviceAccountName": "bookstore",
                "containers": [{"name": "app", "image": "bookbuyer:v1"}],
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
        bootstrap = json.loads(base64.b64decode(secret["data"]["bootstrap.yaml"]))
        metrics_port = free_port()
        envoy = EnvoyProcess(
            with_local_ports(bootstrap, free_port(), metrics_port), tmp_path, name="bookbuyer"
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

        _, _, metrics = http_get(controller.http.port, "/metrics")
        assert "osm_proxies_connected 1.0" in metrics
    finally:
        if envoy is not None:
            envoy.stop()
        injector.stop()
        controller.stop()
