"""`osm install --dry-run`: the rendered manifests, offline; and every input error reported
before anything else happens."""

from __future__ import annotations

import json
import stat

import pytest
import yaml

from tests.cli.install.support import helm_path_env

pytestmark = pytest.mark.helm

UNREACHABLE_KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def dead_kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(UNREACHABLE_KUBECONFIG)
    return path


def test_dry_run_prints_yaml_without_a_cluster(osm, dead_kubeconfig):
    result = osm(
        ["install", "--dry-run", "--enable-grafana"],
        kubeconfig=dead_kubeconfig,
        environ=helm_path_env(),
    )
    assert result.exit_code == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "osm-grafana") in kinds
    assert ("Deployment", "osm-prometheus") in kinds  # Grafana needs it
    assert ("CustomResourceDefinition", "traffictargets.access.smi-spec.io") in kinds
    assert ("MeshConfig", "osm-mesh-config") in kinds
    assert result.stderr == ""
    # Comments are for the user: none points at this repository's tests (issue 12.10).
    comments = [line for line in result.stdout.splitlines() if line.lstrip().startswith("#")]
    assert comments and not [c for c in comments if "tests/" in c or "test_" in c]


def test_dry_run_json_namespace_alias_and_mesh_name(osm):
    result = osm(
        [
            "install",
            "--dry-run",
            "-o",
            "json",
            "--namespace",
            "my-osm-namespace",
            "--mesh-name",
            "my-osm",
        ],
        environ=helm_path_env(),
    )
    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["kind"] == "List"
    namespaced = [
        i
        for i in listing["items"]
        if i["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding")
    ]
    assert {i["metadata"]["namespace"] for i in namespaced} == {"my-osm-namespace"}
    controller = next(
        i
        for i in listing["items"]
        if i["metadata"]["name"] == "osm-controller" and i["kind"] == "Deployment"
    )
    assert controller["metadata"]["labels"]["meshName"] == "my-osm"


def test_explicit_namespace_flag_wins_over_global(osm):
    result = osm(
        ["--osm-namespace", "global-ns", "install", "--dry-run", "-o", "json", "-n", "local-ns"],
        environ=helm_path_env(),
    )
    items = json.loads(result.stdout)["items"]
    assert {i["metadata"].get("namespace") for i in items} == {None, "local-ns"}
    result = osm(
        ["install", "--dry-run", "-o", "json", "--osm-namespace", "global-ns"],
        environ=helm_path_env(),
    )
    items = json.loads(result.stdout)["items"]
    assert {i["metadata"].get("namespace") for i in items} == {None, "global-ns"}


def test_go_style_boolean_flags(osm):
    result = osm(
        [
            "install",
            "--dry-run",
            "-o",
            "json",
            "--enforce-single-mesh=false",
            "--deploy-jaeger=true",
            "--set",
            "osm.deployPrometheus=false",
        ],
        environ=helm_path_env(),
    )
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    controller = next(
        i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == "osm-controller"
    )
    assert "enforceSingleMesh" not in controller["metadata"]["labels"]
    names = {i["metadata"]["name"] for i in items if i["kind"] == "Deployment"}
    assert names == {"osm-controller", "osm-injector", "jaeger"}


def test_values_file_and_set_precedence(osm, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("osm:\n  envoyLogLevel: debug\n  enableEgress: false\n")
    result = osm(
        [
            "install",
            "--dry-run",
            "-o",
            "json",
            "-f",
            str(values),
            "--set",
            "osm.envoyLogLevel=warn",
        ],
        environ=helm_path_env(),
    )
    items = json.loads(result.stdout)["items"]
    spec = next(i for i in items if i["kind"] == "MeshConfig")["spec"]
    assert spec["sidecar"]["logLevel"] == "warn"
    assert spec["traffic"]["enableEgress"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--mesh-name", "Bad_Name"],
            "Error: invalid mesh name 'Bad_Name': must consist of lower case",
        ),
        (["--mesh-name", "x" * 54], "must be no more than 53 characters"),
        (
            ["--set", "osm.deployGrafana"],
            'Error: invalid format for --set: key "osm.deployGrafana" has no value',
        ),
        (
            ["--set", "osm.envoyLogLevel=loud"],
            "Error: invalid chart values: at '/osm/envoyLogLevel': value must be one of",
        ),
        (
            ["--set", "osm.typo=1"],
            "Error: invalid chart values: at '/osm': additional properties 'typo' not allowed",
        ),
        (
            ["--set", "osm.prometheus.port=70000"],
            "Error: invalid chart values: at '/osm/prometheus/port': maximum",
        ),
        (["--timeout", "soon"], "Error: invalid duration 'soon'"),
        (["--osm-chart-path", "/nonexistent"], "Error: no Helm chart at '/nonexistent'"),
        (["-f", "/nonexistent.yaml"], "Error: cannot read values file '/nonexistent.yaml'"),
        (["--enforce-single-mesh=maybe"], "invalid boolean 'maybe'"),
    ],
)
def test_bad_input_one_line_no_cluster_contact(osm, kube_emulator, kubeconfig, args, message):
    kube_emulator.clear_requests()
    result = osm(["install", *args], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code in (1, 2)
    first = result.stderr.splitlines()[0]
    assert message in first, result.stderr
    assert "Traceback" not in result.stderr
    assert kube_emulator.requests == []


def test_missing_helm(osm, kube_emulator, kubeconfig, tmp_path):
    result = osm(["install"], kubeconfig=kubeconfig, environ={"PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: helm was not found on PATH"
    assert "helm.sh/docs/intro/install" in result.stderr
    assert kube_emulator.writes() == []


def test_old_helm(osm, kube_emulator, kubeconfig, tmp_path):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho v3.7.2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = osm(["install"], kubeconfig=kubeconfig, environ={"PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "helm 3.7.2" in result.stderr and "3.8 or newer" in result.stderr
    assert kube_emulator.writes() == []


def test_unreachable_cluster_fails_fast(osm, dead_kubeconfig):
    import time

    started = time.monotonic()
    result = osm(["install"], kubeconfig=dead_kubeconfig, environ=helm_path_env())
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "Error: Could not access Kubernetes cluster, check kubeconfig"
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_verbose_shows_helm_commands(osm):
    for _ in range(2):  # one handler per invocation, not one more each time
        result = osm(["install", "--dry-run", "--verbose"], environ=helm_path_env())
        assert result.exit_code == 0
        lines = [ln for ln in result.stderr.splitlines() if "running command:" in ln]
        assert len(lines) == 1
        assert lines[0].startswith("[debug] running command: ")
        assert " template osm " in lines[0]


def test_forbidden_check_names_the_permission(osm, kube_emulator, kubeconfig):
    kube_emulator.forbid("list", "deployments")
    result = osm(["install"], kubeconfig=kubeconfig, environ=helm_path_env())
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith('Error: deployments.apps is forbidden: User "emulator" cannot list')
    assert kube_emulator.writes() == []


def test_bad_mesh_name_is_reported_before_the_kubeconfig_is_read(osm, tmp_path):
    result = osm(["install", "--mesh-name", "Bad_Name"], kubeconfig=tmp_path / "missing")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid mesh name 'Bad_Name'")
    assert "kubeconfig" not in result.stderr
