"""Version, discovery, OpenAPI, watch, kubeconfig, and the real helm binary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import yaml
from kubernetes import watch

from tests.emulator_tests.manifests import deployment

HELM = Path(sys.executable).parent / "helm"


def test_version_through_client(kube):
    info = kube.version.get_code()
    assert info.git_version.startswith("v1.") and info.major == "1"


def test_kubeconfig_context_and_namespace(kube_emulator, tmp_path):
    from osm_mesh.kube.client import connect

    path = kube_emulator.write_kubeconfig(tmp_path / "kc", context="ctx", namespace="mesh")
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "ctx"
    kube = connect(str(path), context="ctx")
    assert kube.default_namespace == "mesh"
    assert kube.host == kube_emulator.url
    assert kube.core.read_namespace("default").metadata.name == "default"


def test_discovery_lists_groups_resources_and_new_crds(kube_emulator, kube):
    base = kube_emulator.url
    assert httpx.get(f"{base}/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in httpx.get(f"{base}/apis").json()["groups"]}
    assert {"apps", "rbac.authorization.k8s.io", "split.smi-spec.io"} <= set(groups)
    assert groups["specs.smi-spec.io"]["preferredVersion"]["version"] == "v1alpha4"
    core = {r["name"]: r for r in httpx.get(f"{base}/api/v1").json()["resources"]}
    assert core["pods"]["namespaced"] and not core["namespaces"]["namespaced"]
    assert "pods/portforward" in core and "pods/proxy" in core
    assert core["services"]["shortNames"] == ["svc"]
    assert httpx.get(f"{base}/apis/example.com/v1").status_code == 404
    kube.apiextensions.create_custom_resource_definition(
        {
            "metadata": {"name": "gadgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gd"]},
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        }
    )
    resources = httpx.get(f"{base}/apis/example.com/v1").json()["resources"]
    assert [(r["name"], r["kind"], r["shortNames"]) for r in resources] == [
        ("gadgets", "Gadget", ["gd"])
    ]
    index = httpx.get(f"{base}/openapi/v3").json()["paths"]
    assert "apis/example.com/v1" in index and "api/v1" in index


def test_watch_streams_changes(kube, kube_emulator):
    kube.core.create_namespaced_config_map("default", {"metadata": {"name": "w1"}})
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        kube.core.list_namespaced_config_map,
        "default",
        field_selector="metadata.name=w1",  # not kube-root-ca.crt, which every namespace has
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            kube.core.patch_namespaced_config_map("w1", "default", {"data": {"a": "b"}})
        elif len(seen) == 2:
            kube.core.delete_namespaced_config_map("w1", "default")
        else:
            stream.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


@pytest.mark.helm
def test_helm_list_install_upgrade_uninstall(kube_emulator, kubeconfig, tmp_path):
    if not HELM.exists() and not shutil.which("helm"):
        pytest.skip("helm binary not installed (make install)")
    helm = str(HELM if HELM.exists() else shutil.which("helm"))
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicas: 2\n")
    manifest = yaml.safe_dump(deployment("demo-web"))
    manifest = manifest.replace("replicas: 2", "replicas: {{ .Values.replicas }}")
    (chart / "templates" / "deploy.yaml").write_text(manifest)
    (chart / "templates" / "svc.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Service
            metadata: {name: demo-svc}
            spec: {selector: {app: demo-web}, ports: [{port: 80}]}
            """
        )
    )

    (chart / "templates" / "hook.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: pre
              annotations:
                helm.sh/hook: pre-install
                helm.sh/hook-delete-policy: hook-succeeded
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: pre, image: "busybox:1", command: ["true"]}]
            """
        )
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [helm, *args, "--kubeconfig", str(kubeconfig)],
            capture_output=True,
            text=True,
            timeout=90,
        )

    listed = run("list", "-n", "apps")
    assert listed.returncode == 0, listed.stderr
    installed = run(
        "install",
        "demo",
        str(chart),
        "-n",
        "apps",
        "--create-namespace",
        "--wait",
        "--timeout",
        "30s",
    )
    assert installed.returncode == 0, installed.stderr
    assert len(kube_emulator.list("v1", "Pod", "apps")) == 2  # the hook's pod went with it
    assert any(w.path == "/apis/batch/v1/namespaces/apps/jobs/pre" for w in kube_emulator.writes())
    assert kube_emulator.list("batch/v1", "Job", "apps") == []
    [release] = kube_emulator.list("v1", "Secret", "apps")
    assert release["metadata"]["labels"]["owner"] == "helm"
    assert release["type"] == "helm.sh/release.v1"
    upgraded = run(
        "upgrade",
        "demo",
        str(chart),
        "-n",
        "apps",
        "--set",
        "replicas=3",
        "--wait",
        "--timeout",
        "30s",
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert len(kube_emulator.list("v1", "Pod", "apps")) == 3
    status = run("status", "demo", "-n", "apps", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["version"] == 2
    removed = run("uninstall", "demo", "-n", "apps", "--wait", "--timeout", "30s")
    assert removed.returncode == 0, removed.stderr
    assert kube_emulator.list("v1", "Pod", "apps") == []
    assert kube_emulator.list("v1", "Secret", "apps") == []


def test_watch_from_a_compacted_resource_version_is_410(kube, kube_emulator):
    from kubernetes.client import ApiException

    start = kube.core.list_namespaced_config_map("default").metadata.resource_version
    kube_emulator.api.store.max_events = 10
    for i in range(15):
        kube.core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    stream = watch.Watch().stream(
        kube.core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=2
    )
    with pytest.raises(ApiException) as err:
        next(iter(stream))
    assert err.value.status == 410
