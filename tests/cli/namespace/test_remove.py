"""`osm namespace remove`."""

from __future__ import annotations

from osm_mesh import labels as L
from osm_mesh.kube.bootstrap_rbac import bootstrap_secrets_binding
from tests.cli import kube_seed as seed


def test_remove_deletes_every_osm_key_and_keeps_the_rest(osm, kube_emulator, kubeconfig):
    seed.namespace(
        kube_emulator,
        "bookstore",
        labels={L.MONITORED_BY_LABEL: "osm", "team": "books"},
        annotations={
            L.SIDECAR_INJECTION_ANNOTATION: "enabled",
            L.METRICS_ANNOTATION: "enabled",
            "owner": "me",
        },
    )
    kube_emulator.create(bootstrap_secrets_binding("osm", "bookstore", "osm-system"))
    result = osm(["ns", "remove", "bookstore"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Namespace [bookstore] successfully removed from mesh [osm]\n"
    ns_labels, annotations = seed.ns_meta(kube_emulator, "bookstore")
    assert ns_labels.get("team") == "books"
    assert L.MONITORED_BY_LABEL not in ns_labels
    assert annotations == {"owner": "me"}
    # The controller no longer may patch Secrets there.
    assert (
        kube_emulator.get(
            "rbac.authorization.k8s.io/v1", "RoleBinding", "osm-osm-bootstrap-secrets", "bookstore"
        )
        is None
    )


def test_namespace_in_no_mesh_is_not_an_error(osm, kube_emulator, kubeconfig):
    seed.namespace(kube_emulator, "plain")
    kube_emulator.clear_requests()
    result = osm(["ns", "remove", "plain"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout == "Namespace [plain] already does not belong to any mesh\n"
    assert kube_emulator.writes() == []


def test_namespace_of_another_mesh_is_refused(osm, kube_emulator, kubeconfig):
    seed.namespace(kube_emulator, "shop", labels={L.MONITORED_BY_LABEL: "other"})
    kube_emulator.clear_requests()
    result = osm(["ns", "remove", "shop", "--mesh-name", "osm"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Namespace belongs to mesh [other], not mesh [osm]. Please specify the correct "
        "mesh\n"
    )
    assert kube_emulator.writes() == []


def test_missing_namespace(osm, kube_emulator, kubeconfig):
    result = osm(["ns", "remove", "ghost"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Namespace [ghost] does not exist\n")
    assert "Traceback" not in result.stderr
