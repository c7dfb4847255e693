"""Workload simulation: pods appear, restart, fail to become ready, and are collected."""

from __future__ import annotations

import pytest

from tests.emulator import KubeEmulator
from tests.emulator_tests.manifests import deployment


def pod_names(kube, namespace="default", selector=None) -> list[str]:
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p.metadata.name for p in pods]


def test_deployment_gets_running_pods_and_status(kube):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=3))
    pods = kube.core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 3
    rs_name = kube.apps.list_namespaced_replica_set("default").items[0].metadata.name
    for pod in pods:
        assert pod.metadata.name.startswith(rs_name + "-")
        assert len(pod.metadata.name) == len(rs_name) + 6
        assert pod.metadata.labels["pod-template-hash"] == rs_name.rsplit("-", 1)[1]
        assert pod.metadata.owner_references[0].kind == "ReplicaSet"
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip.startswith("10.")
        assert pod.spec.containers[0].image == "nginx:1.25"
    assert len({p.status.pod_ip for p in pods}) == 3
    status = kube.apps.read_namespaced_deployment("web", "default").status
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (3, 3, 3)
    assert status.updated_replicas == 3 and status.observed_generation == 1
    assert {c.type: c.status for c in status.conditions}["Available"] == "True"


def test_rollout_restart_replaces_pods(kube):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=2))
    before = set(pod_names(kube))
    kube.apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {
                    "metadata": {
                        "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}
                    }
                }
            }
        },
    )
    after = set(pod_names(kube))
    assert len(after) == 2 and not before & after
    assert len(kube.apps.list_namespaced_replica_set("default").items) == 1
    pod = kube.core.read_namespaced_pod(sorted(after)[0], "default")
    assert pod.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == "2024-01-01T00:00:00Z"
    status = kube.apps.read_namespaced_deployment("web", "default").status
    assert status.observed_generation == 2 and status.ready_replicas == 2


def test_scaling_keeps_existing_pods(kube):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=1))
    [first] = pod_names(kube)
    kube.apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    names = pod_names(kube)
    assert len(names) == 3 and first in names
    kube.apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 0}})
    assert pod_names(kube) == []


def test_deleted_pod_is_replaced_and_deployment_delete_collects(kube, kube_emulator):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=1))
    [first] = pod_names(kube)
    kube.core.delete_namespaced_pod(first, "default")
    [second] = pod_names(kube)
    assert second != first
    kube.apps.delete_namespaced_deployment("web", "default")
    assert pod_names(kube) == []
    assert kube_emulator.list("apps/v1", "ReplicaSet", "default") == []


def test_set_not_ready_reports_waiting_pods_and_events(kube, kube_emulator):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=2, image="bad:1"))
    kube_emulator.set_not_ready("deployments", "default", "web", reason="ImagePullBackOff")
    pods = kube.core.list_namespaced_pod("default").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Pending"
        waiting = pod.status.container_statuses[0].state.waiting
        assert waiting.reason == "ImagePullBackOff"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    status = kube.apps.read_namespaced_deployment("web", "default").status
    assert not status.ready_replicas and status.unavailable_replicas == 2
    assert {c.type: c.status for c in status.conditions}["Available"] == "False"
    events = kube.core.list_namespaced_event(
        "default", field_selector=f"involvedObject.name={pods[0].metadata.name}"
    ).items
    assert {e.reason for e in events} == {"Failed", "BackOff"}
    assert any("ImagePullBackOff" in e.message for e in events)
    # A restart does not fix a bad image; set_ready does.
    kube.apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"metadata": {"annotations": {"r": "1"}}}}}
    )
    assert {p.status.phase for p in kube.core.list_namespaced_pod("default").items} == {"Pending"}
    kube_emulator.set_ready("deployments", "default", "web")
    assert kube.apps.read_namespaced_deployment("web", "default").status.ready_replicas == 2


def test_statefulset_and_daemonset(kube):
    sts = deployment("db", replicas=2)
    sts["kind"] = "StatefulSet"
    sts["spec"]["serviceName"] = "db"
    kube.apps.create_namespaced_stateful_set("default", sts)
    assert pod_names(kube, selector="app=db") == ["db-0", "db-1"]
    assert kube.apps.read_namespaced_stateful_set("db", "default").status.ready_replicas == 2

    ds = deployment("agent")
    ds["kind"] = "DaemonSet"
    del ds["spec"]["replicas"]
    kube.apps.create_namespaced_daemon_set("default", ds)
    [agent] = pod_names(kube, selector="app=agent")
    assert agent.startswith("agent-")
    assert kube.apps.read_namespaced_daemon_set("agent", "default").status.number_ready == 1


def test_simulation_can_be_switched_off(tmp_path):
    from osm_mesh.kube.client import connect

    emu = KubeEmulator(simulate_workloads=False)
    emu.start()
    try:
        kube = connect(str(emu.write_kubeconfig(tmp_path / "kc")))
        kube.apps.create_namespaced_deployment("default", deployment("web"))
        assert pod_names(kube) == []
        with pytest.raises(RuntimeError):
            emu.set_not_ready("deployments", "default", "web")
    finally:
        emu.stop()


def test_scale_subresource(kube):
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=1))
    scale = kube.apps.read_namespaced_deployment_scale("web", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (1, 1, "app=web")
    kube.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    assert len(pod_names(kube)) == 3
    body = kube.apps.read_namespaced_deployment_scale("web", "default").to_dict()
    body["spec"]["replicas"] = 2
    assert kube.apps.replace_namespaced_deployment_scale("web", "default", body).spec.replicas == 2
    assert len(pod_names(kube)) == 2


def test_job_completes_with_a_succeeded_pod(kube):
    from kubernetes import client

    job = client.BatchV1Api(kube.api_client).create_namespaced_job(
        "default",
        {
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox:1"}],
                    }
                }
            },
        },
    )
    status = client.BatchV1Api(kube.api_client).read_namespaced_job("once", "default").status
    assert status.succeeded == 1
    assert {c.type: c.status for c in status.conditions}["Complete"] == "True"
    [pod] = kube.core.list_namespaced_pod("default", label_selector="job-name=once").items
    assert pod.status.phase == "Succeeded"
    assert pod.metadata.owner_references[0].uid == job.metadata.uid


def test_reapplying_a_manifest_without_defaults_is_no_change(kube):
    """A re-sent manifest lacks server defaults; that must not look like a new generation
    (otherwise observedGeneration would lag forever and rollout waits would hang)."""
    kube.apps.create_namespaced_deployment("default", deployment("web", replicas=1))
    body = deployment("web", replicas=1)
    kube.apps.replace_namespaced_deployment("web", "default", body)
    got = kube.apps.read_namespaced_deployment("web", "default")
    assert got.metadata.generation == 1 and got.status.observed_generation == 1
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    kube.apps.replace_namespaced_deployment("web", "default", body)
    got = kube.apps.read_namespaced_deployment("web", "default")
    assert got.metadata.generation == 2 and got.status.observed_generation == 2
