"""`osm policy check-pods` against the Kubernetes API emulator, with the article's policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from osm_mesh import labels as L

DATA = Path(__file__).resolve().parents[2] / "data"
SIMPLE = "osm-simple-app"


def pod(emu, ns, name, sa, app, meshed=True):
    labels = {"app": app}
    if meshed:
        labels[L.PROXY_UUID_LABEL] = f"uuid-{name}"
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "app"}]},
        }
    )


def mesh_config(emu, permissive):
    if emu.get("v1", "Namespace", "osm-system") is None:
        emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}})
    emu.create(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": L.MESH_CONFIG_NAME, "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": permissive}},
        }
    )


@pytest.fixture
def article(kube_emulator):
    """The simple app: namespace, SAs, Services, the TrafficTarget + HTTPRouteGroup, pods."""
    emu = kube_emulator
    for path in sorted((DATA / "article" / "simple").rglob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] in (
                "Namespace",
                "ServiceAccount",
                "Service",
                "TrafficTarget",
                "HTTPRouteGroup",
            ):
                emu.create(doc)
    pod(emu, SIMPLE, "frontend-6bdfcfd878-42x8v", "frontend-service-account", "frontend")
    pod(emu, SIMPLE, "api-5f7b9c-abcde", "api-service-account", "api")
    pod(emu, SIMPLE, "debug", "default", "debug", meshed=False)
    return emu


def test_allowed_with_routes(osm, article, kubeconfig):
    mesh_config(article, permissive=False)
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
            f"{SIMPLE}/api-5f7b9c-abcde",
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[+] SMI traffic policy mode enabled for mesh operated by osm-controller running in "
        "osm-system namespace",
        "",
        f"[+] Pod '{SIMPLE}/frontend-6bdfcfd878-42x8v' is allowed to communicate to pod "
        f"'{SIMPLE}/api-5f7b9c-abcde' via the SMI TrafficTarget policy \"api\" in namespace "
        f"{SIMPLE}",
        "[+] Allowed routes:",
        "    HTTP api: methods *, path /api/values",
    ]


def test_denied_in_the_other_direction(osm, article, kubeconfig):
    mesh_config(article, permissive=False)
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/api-5f7b9c-abcde",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"[+] Pod '{SIMPLE}/api-5f7b9c-abcde' is not allowed to communicate to pod "
        f"'{SIMPLE}/frontend-6bdfcfd878-42x8v', missing SMI TrafficTarget policy"
    )


def test_json_output(osm, article, kubeconfig):
    mesh_config(article, permissive=False)
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
            f"{SIMPLE}/api-5f7b9c-abcde",
            "-o",
            "json",
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["allowed"] is True and data["mode"] == "smi"
    assert data["sourceIdentity"] == f"{SIMPLE}/frontend-service-account"
    assert data["trafficTargets"] == [f"{SIMPLE}/api"]
    assert data["routes"] == {
        "http": [{"name": "api", "pathRegex": "/api/values", "methods": ["*"], "headers": {}}],
        "tcpPorts": [],
        "udpPorts": [],
    }


def test_permissive_mode(osm, article, kubeconfig):
    mesh_config(article, permissive=True)
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/api-5f7b9c-abcde",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
            "--osm-namespace",
            "osm-system",
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[+] Permissive mode enabled for mesh operated by osm-controller running in "
        "'osm-system' namespace",
        "",
        f"[+] Pod '{SIMPLE}/api-5f7b9c-abcde' is allowed to communicate to pod "
        f"'{SIMPLE}/frontend-6bdfcfd878-42x8v'",
    ]


def test_policy_change_is_seen(osm, article, kubeconfig):
    mesh_config(article, permissive=False)
    article.delete("access.smi-spec.io/v1alpha2", "TrafficTarget", "api", SIMPLE)
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
            f"{SIMPLE}/api-5f7b9c-abcde",
            "-o",
            "json",
        ],
        kubeconfig=kubeconfig,
    )
    assert json.loads(result.stdout)["allowed"] is False


FORM = "Pod name should be of the form <namespace/pod>, or <pod> for default namespace"
EXAMPLE = "e.g. osm policy check-pods bookbuyer/bookbuyer-client bookstore/bookstore-0"


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (
            ["a/b/c", "x"],
            f"Invalid argument specified for the source pod [a/b/c]: {FORM}, got: 'a/b/c'",
            EXAMPLE,
        ),
        (
            ["x", "/y"],
            f"Invalid argument specified for the destination pod [/y]: {FORM}, got: '/y'",
            EXAMPLE,
        ),
        (
            [f"{SIMPLE}/nope", f"{SIMPLE}/debug"],
            f"Could not find pod nope in namespace {SIMPLE}",
            f"List the pods with: kubectl get pods -n {SIMPLE}",
        ),
        (
            [f"{SIMPLE}/debug", f"{SIMPLE}/api-5f7b9c-abcde"],
            f"Pod debug in namespace {SIMPLE} is not a part of a mesh",
            f"Add the namespace with 'osm namespace add {SIMPLE}' and restart the pod",
        ),
        (
            ["frontend", "api"],
            "Could not find pod frontend in namespace default",
            "List the pods with: kubectl get pods -n default",
        ),
    ],
)
def test_bad_input(osm, article, kubeconfig, args, message, hint):
    """One line saying what is wrong, one saying what to do; nothing on stdout."""
    mesh_config(article, permissive=False)
    result = osm(["policy", "check-pods", *args], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n{hint}\n"
    assert result.stdout == ""


def test_pods_without_a_service_account_run_as_default(osm, article, kubeconfig):
    mesh_config(article, permissive=False)
    for name in ("a", "b"):
        article.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": SIMPLE,
                    "labels": {L.PROXY_UUID_LABEL: name},
                },
                "spec": {"containers": [{"name": "app", "image": "app"}]},
            }
        )
    result = osm(
        ["policy", "check-pods", f"{SIMPLE}/a", f"{SIMPLE}/b", "-o", "json"], kubeconfig=kubeconfig
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["sourceIdentity"], data["destinationIdentity"]) == (
        f"{SIMPLE}/default",
        f"{SIMPLE}/default",
    )
    assert data["allowed"] is False


def test_missing_mesh_config(osm, article, kubeconfig):
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
            f"{SIMPLE}/api-5f7b9c-abcde",
            "--osm-namespace",
            "elsewhere",
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Error fetching MeshConfig osm-mesh-config in namespace elsewhere\n"
        "Is osm installed there? Pass the control plane's namespace with --osm-namespace\n"
    )


def test_forbidden_listing_is_one_line(osm, article, kubeconfig):
    mesh_config(article, permissive=False)
    article.forbid("list", "services", SIMPLE)
    result = osm(
        [
            "policy",
            "check-pods",
            f"{SIMPLE}/frontend-6bdfcfd878-42x8v",
            f"{SIMPLE}/api-5f7b9c-abcde",
        ],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
