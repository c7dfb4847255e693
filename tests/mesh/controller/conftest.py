"""A running Controller against the API emulator, seeded with a small meshed namespace."""

from __future__ import annotations

import json
import urllib.request

import pytest

from osm_mesh.controller.app import Controller, ControllerSettings
from osm_mesh.kube.client import connect

POD_UUID = "5f0c6a1e-2b7d-4c1e-9a53-0d6c1f3b9e21"
# Straight to loopback even when the environment sets HTTP_PROXY.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with _OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def seed_mesh(emu, *, pod_ip: str = "10.244.1.7") -> None:
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}})
    emu.create(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {
                "traffic": {"enablePermissiveTrafficPolicyMode": False},
                "certificate": {"serviceCertValidityDuration": "1h"},
            },
        }
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "bookstore",
                "labels": {"openservicemesh.io/monitored-by": "osm"},
            },
        }
    )
    # Not in the mesh: must not reach the catalog.
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
    for ns in ("bookstore", "plain"):
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "bookstore", "namespace": ns},
            }
        )
        emu.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "bookstore", "namespace": ns},
                "spec": {
                    "selector": {"app": "bookstore"},
                    "ports": [{"name": "http", "port": 14001, "targetPort": 14001}],
                },
            }
        )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "bookstore-0",
                "namespace": "bookstore",
                "labels": {"app": "bookstore", "osm-proxy-uuid": POD_UUID},
            },
            "spec": {
                "serviceAccountName": "bookstore",
                "containers": [
                    {
                        "name": "bookstore",
                        "image": "bookstore:v1",
                        "ports": [{"containerPort": 14001}],
                    }
                ],
            },
            "status": {"phase": "Running", "podIP": pod_ip, "podIPs": [{"ip": pod_ip}]},
        }
    )


def settings(**kw) -> ControllerSettings:
    defaults = dict(
        mesh_name="osm",
        osm_namespace="osm-system",
        ads_host="127.0.0.1",
        ads_port=0,
        http_host="127.0.0.1",
        http_port=0,
        debug_port=0,
        sync_timeout=20.0,
    )
    defaults.update(kw)
    return ControllerSettings(**defaults)


@pytest.fixture
def controller(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    running = Controller(connect(str(kubeconfig)), settings()).start()
    try:
        yield running
    finally:
        running.stop()


def smi_object(api_version: str, kind: str, name: str, namespace: str, spec: dict) -> dict:
    return json.loads(
        json.dumps(
            {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }
        )
    )
