"""Issue 12.1 on the real API server: a MeshConfig mistake never opens the mesh.

The API server itself refuses a quoted boolean (the CRD declares the type), but it keeps an
unknown key (the MeshConfig CRD preserves unknown fields, as upstream's did): a
`kubectl edit` that leaves ``enablePermisiveTrafficPolicyMode: true`` is stored. The
controller — running here with a TokenRequest token of the chart's own ServiceAccount, so
the chart's RBAC is what lets it read the MeshConfig and post Events — refuses it, keeps the
last valid MeshConfig (SMI mode) and says why in Events on the MeshConfig; the fix is
accepted again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from osm_mesh.controller.app import Controller, ControllerSettings
from osm_mesh.kube.client import connect
from tests.chart.helpers import render
from tests.realkube.cluster import unique

pytestmark = [pytest.mark.helm, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "templates" / "osm" / "crds" / "meshconfig.yaml"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def _mesh_config(namespace: str, traffic: dict) -> str:
    return json.dumps(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": namespace},
            "spec": {"traffic": traffic, "certificate": {"serviceCertValidityDuration": "1h"}},
        }
    )


def _events(real_cluster, namespace: str) -> list[dict]:
    items = real_cluster.kubectl_json("get", "events", "-n", namespace)["items"]
    return [e for e in items if e["involvedObject"]["kind"] == "MeshConfig"]


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.2)
    return bool(predicate())


@pytest.fixture
def mesh(real_cluster, tmp_path):
    """The chart's RBAC for a unique mesh, the MeshConfig CRD, an SMI-mode MeshConfig."""
    name, namespace = unique("mcg"), unique("mcg-osm")
    objects = [o for o in render({"osm": {"meshName": name}}, namespace, name)]
    rbac = [o for o in objects if o["kind"] in RBAC_KINDS]
    had_crd = real_cluster.kubectl(
        "get", "crd", "meshconfigs.config.openservicemesh.io", check=False
    )
    real_cluster.kubectl("apply", "-f", str(CRD))
    real_cluster.kubectl(
        "wait", "--for=condition=Established", "crd/meshconfigs.config.openservicemesh.io"
    )
    real_cluster.kubectl("create", "namespace", namespace)
    real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    real_cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_mesh_config(namespace, {"enablePermissiveTrafficPolicyMode": False}),
    )
    kube = connect(str(real_cluster.token_kubeconfig(tmp_path / "kc", namespace, "osm-controller")))
    try:
        yield {"name": name, "namespace": namespace, "kube": kube}
    finally:
        cluster_scoped = [
            f"{o['kind'].lower()}/{o['metadata']['name']}"
            for o in rbac
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding")
        ]
        real_cluster.kubectl("delete", "--ignore-not-found", *cluster_scoped, check=False)
        real_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        if had_crd.returncode != 0:
            real_cluster.kubectl("delete", "-f", str(CRD), "--wait=false", check=False)


def test_the_api_server_refuses_a_quoted_boolean(mesh, real_cluster):
    refused = real_cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=_mesh_config(mesh["namespace"], {"enablePermissiveTrafficPolicyMode": "false"}),
        check=False,
    )
    assert refused.returncode != 0
    assert "enablePermissiveTrafficPolicyMode" in refused.stderr
    assert "boolean" in refused.stderr


def test_a_stored_typo_is_refused_by_the_controller_with_events_and_smi_mode_kept(
    mesh, real_cluster
):
    namespace = mesh["namespace"]
    settings = ControllerSettings(
        mesh_name=mesh["name"],
        osm_namespace=namespace,
        ads_host="127.0.0.1",
        ads_port=0,
        http_host="127.0.0.1",
        http_port=0,
        sync_timeout=60,
    )
    controller = Controller(mesh["kube"], settings).start()
    try:
        source = controller.source
        assert source is not None and source.snapshot().permissive is False
        # The typo the API server stores (unknown fields are preserved by the CRD).
        real_cluster.kubectl(
            "patch",
            "meshconfig",
            "osm-mesh-config",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "spec": {
                        "traffic": {
                            "enablePermissiveTrafficPolicyMode": None,
                            "enablePermisiveTrafficPolicyMode": True,
                        }
                    }
                }
            ),
        )
        stored = real_cluster.kubectl_json("get", "meshconfig", "osm-mesh-config", "-n", namespace)
        assert stored["spec"]["traffic"] == {"enablePermisiveTrafficPolicyMode": True}
        assert _wait(lambda: len(_events(real_cluster, namespace)) >= 2)
        events = _events(real_cluster, namespace)
        assert {e["reason"] for e in events} == {"InvalidMeshConfig"}
        assert {e["type"] for e in events} == {"Warning"}
        messages = [e["message"] for e in events]
        assert any(
            "spec.traffic.enablePermisiveTrafficPolicyMode: unknown field" in m
            and "did you mean enablePermissiveTrafficPolicyMode?" in m
            for m in messages
        ), messages
        assert any("the last valid MeshConfig stays in force (SMI mode" in m for m in messages)
        assert source.snapshot().permissive is False
        # The corrected MeshConfig is accepted: the guard does not freeze the mesh.
        real_cluster.kubectl(
            "patch",
            "meshconfig",
            "osm-mesh-config",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "spec": {
                        "traffic": {
                            "enablePermisiveTrafficPolicyMode": None,
                            "enablePermissiveTrafficPolicyMode": True,
                        }
                    }
                }
            ),
        )
        assert _wait(lambda: source.snapshot().permissive is True)
    finally:
        controller.stop()
