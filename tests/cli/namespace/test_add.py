"""`osm namespace add`: labels, annotations, checks before writes, --restart."""

from __future__ import annotations

import pytest

from osm_mesh import labels as L
from tests.cli import kube_seed as seed


@pytest.fixture
def mesh(kube_emulator):
    seed.mesh(kube_emulator)
    return kube_emulator


def test_add_labels_namespace_and_enables_injection(osm, mesh, kubeconfig):
    seed.namespace(mesh, "bookstore", labels={"team": "books"})
    result = osm(["namespace", "add", "bookstore"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Namespace [bookstore] successfully added to mesh [osm]\n"
    ns_labels, annotations = seed.ns_meta(mesh, "bookstore")
    assert ns_labels[L.MONITORED_BY_LABEL] == "osm"
    assert ns_labels["team"] == "books"  # a merge patch, not a replace
    assert annotations[L.SIDECAR_INJECTION_ANNOTATION] == "enabled"
    # The controller may keep the namespace's bootstrap Secrets (owner, renewal): the chart's
    # ClusterRole, bound here only.
    binding = mesh.get(
        "rbac.authorization.k8s.io/v1", "RoleBinding", "osm-osm-bootstrap-secrets", "bookstore"
    )
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "osm-osm-bootstrap-secrets",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "osm-controller", "namespace": "osm-system"}
    ]


def test_a_mesh_without_the_bootstrap_clusterrole_gets_no_binding(osm, kube_emulator, kubeconfig):
    """Upstream OSM's mesh (or an older chart): nothing to bind, nothing written for it."""
    seed.mesh(kube_emulator, bootstrap_role=False)
    seed.namespace(kube_emulator, "bookstore")
    result = osm(["namespace", "add", "bookstore"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert [w.path for w in kube_emulator.writes() if "rolebindings" in w.path] == []


def test_article_spelling_and_ns_alias_and_several_namespaces(osm, mesh, kubeconfig):
    seed.namespace(mesh, "a")
    seed.namespace(mesh, "b")
    result = osm(["ns", "add", "a", "b", "--enable-sidecar-injection"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Namespace [a] successfully added to mesh [osm]",
        "Namespace [b] successfully added to mesh [osm]",
    ]
    for name in ("a", "b"):
        assert seed.ns_meta(mesh, name)[1][L.SIDECAR_INJECTION_ANNOTATION] == "enabled"


def test_disable_sidecar_injection(osm, mesh, kubeconfig):
    seed.namespace(mesh, "bookstore")
    result = osm(["ns", "add", "bookstore", "--disable-sidecar-injection"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    ns_labels, annotations = seed.ns_meta(mesh, "bookstore")
    assert ns_labels[L.MONITORED_BY_LABEL] == "osm"
    assert annotations[L.SIDECAR_INJECTION_ANNOTATION] == "disabled"


def test_enable_and_disable_together_is_a_usage_error_without_any_call(
    osm, kube_emulator, kubeconfig
):
    result = osm(
        ["ns", "add", "x", "--enable-sidecar-injection", "--disable-sidecar-injection"],
        kubeconfig=kubeconfig,
    )
    assert result.exit_code == 2
    assert "cannot be used together" in result.stderr
    assert kube_emulator.requests == []


def test_invalid_name_is_refused_before_any_call(osm, kube_emulator, kubeconfig):
    result = osm(["ns", "add", "Book_Store"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid namespace name 'Book_Store'")
    assert len(result.stderr.splitlines()) == 1
    assert kube_emulator.requests == []


def test_missing_mesh_writes_nothing(osm, kube_emulator, kubeconfig):
    seed.namespace(kube_emulator, "bookstore")
    result = osm(["ns", "add", "bookstore", "--mesh-name", "other"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: mesh [other] does not exist, please specify another mesh using --mesh-name "
        "or create a new mesh\n"
    )
    assert kube_emulator.writes() == []


def test_one_missing_namespace_means_no_namespace_is_changed(osm, mesh, kubeconfig):
    seed.namespace(mesh, "a")
    mesh.clear_requests()
    result = osm(["ns", "add", "a", "nope"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: Namespace [nope] does not exist",
        "Create it first: kubectl create namespace nope",
    ]
    assert mesh.writes() == []
    assert L.MONITORED_BY_LABEL not in seed.ns_meta(mesh, "a")[0]


def test_ignored_namespace_is_refused(osm, mesh, kubeconfig):
    seed.namespace(mesh, "quiet", labels={L.IGNORE_LABEL: "true"})
    mesh.clear_requests()
    result = osm(["ns", "add", "quiet"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert "Error: Cannot add ignored namespace [quiet] to mesh [osm]" in result.stderr
    assert mesh.writes() == []


def test_control_plane_namespace_is_refused(osm, mesh, kubeconfig):
    result = osm(["ns", "add", "osm-system"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Namespace [osm-system] already has [osm-controller] installed and cannot be "
        "added to mesh [osm]"
    )
    assert mesh.writes() == []


def test_namespace_of_another_mesh_is_refused(osm, mesh, kubeconfig):
    seed.mesh(mesh, name="other", ns="other-system")
    seed.namespace(mesh, "shop", labels={L.MONITORED_BY_LABEL: "other"})
    mesh.clear_requests()
    result = osm(["ns", "add", "shop"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: Namespace [shop] belongs to mesh [other], not mesh [osm]",
        "Remove it from that mesh first: osm namespace remove shop --mesh-name other",
    ]
    assert mesh.writes() == []
    assert seed.ns_meta(mesh, "shop")[0][L.MONITORED_BY_LABEL] == "other"


def test_already_added_says_so_and_changes_nothing(osm, mesh, kubeconfig):
    seed.namespace(
        mesh,
        "bookstore",
        labels={L.MONITORED_BY_LABEL: "osm"},
        annotations={L.SIDECAR_INJECTION_ANNOTATION: "enabled"},
    )
    # Added by an older osm: only the controller's RoleBinding is missing, and made.
    result = osm(["ns", "add", "bookstore"], kubeconfig=kubeconfig)
    assert [w.path for w in mesh.writes()] == [
        "/apis/rbac.authorization.k8s.io/v1/namespaces/bookstore/rolebindings"
    ]
    mesh.clear_requests()
    result = osm(["ns", "add", "bookstore"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout == "Namespace [bookstore] has already been added to mesh [osm]\n"
    assert mesh.writes() == []


def test_already_added_with_explicit_flag_updates_injection(osm, mesh, kubeconfig):
    seed.namespace(
        mesh,
        "bookstore",
        labels={L.MONITORED_BY_LABEL: "osm"},
        annotations={L.SIDECAR_INJECTION_ANNOTATION: "enabled"},
    )
    result = osm(["ns", "add", "bookstore", "--disable-sidecar-injection"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert "sidecar injection is now disabled" in result.stdout
    assert seed.ns_meta(mesh, "bookstore")[1][L.SIDECAR_INJECTION_ANNOTATION] == "disabled"


def test_restart_rolls_out_every_workload_kind(osm, mesh, kubeconfig):
    seed.namespace(mesh, "bookstore")
    seed.workload(mesh, "Deployment", "bookstore", "bookbuyer")
    seed.workload(mesh, "StatefulSet", "bookstore", "mysql")
    seed.workload(mesh, "DaemonSet", "bookstore", "agent")
    seed.workload(mesh, "Deployment", "default", "elsewhere")
    result = osm(["ns", "add", "bookstore", "--restart"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Namespace [bookstore] successfully added to mesh [osm]",
        "Restarted daemonset/agent, deployment/bookbuyer, statefulset/mysql in namespace "
        "[bookstore]",
    ]
    for kind, name in (
        ("Deployment", "bookbuyer"),
        ("StatefulSet", "mysql"),
        ("DaemonSet", "agent"),
    ):
        obj = mesh.get("apps/v1", kind, name, "bookstore")
        stamp = obj["spec"]["template"]["metadata"]["annotations"][L.RESTARTED_AT_ANNOTATION]
        assert stamp.endswith("Z") and "T" in stamp
        # The pod template's own labels survive the patch.
        assert obj["spec"]["template"]["metadata"]["labels"] == {"app": name}
    other = mesh.get("apps/v1", "Deployment", "elsewhere", "default")
    assert L.RESTARTED_AT_ANNOTATION not in (
        other["spec"]["template"]["metadata"].get("annotations") or {}
    )


def test_restart_skips_paused_deployments(osm, mesh, kubeconfig):
    seed.namespace(mesh, "bookstore")
    seed.workload(mesh, "Deployment", "bookstore", "held", paused=True)
    result = osm(["ns", "add", "bookstore", "--restart"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert "Not restarted: deployment/held (paused)" in result.stdout
    obj = mesh.get("apps/v1", "Deployment", "held", "bookstore")
    assert not (obj["spec"]["template"]["metadata"].get("annotations") or {})


def test_a_binding_of_that_name_to_another_role_is_made_again(osm, mesh, kubeconfig):
    """roleRef is immutable (tests/kube/parity): a replace would be refused with 422, so the
    binding that points elsewhere is deleted and created anew."""
    seed.namespace(mesh, "bookstore")
    mesh.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "osm-osm-bootstrap-secrets", "namespace": "bookstore"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "someone", "namespace": "bookstore"}],
        }
    )
    result = osm(["namespace", "add", "bookstore"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    binding = mesh.get(
        "rbac.authorization.k8s.io/v1", "RoleBinding", "osm-osm-bootstrap-secrets", "bookstore"
    )
    assert binding["roleRef"]["name"] == "osm-osm-bootstrap-secrets"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "osm-controller", "namespace": "osm-system"}
    ]
