"""`osm namespace ignore`."""

from __future__ import annotations

from osm_mesh import labels as L
from tests.cli import kube_seed as seed


def test_ignore_labels_each_namespace(osm, kube_emulator, kubeconfig):
    seed.namespace(kube_emulator, "a", labels={"keep": "me"})
    seed.namespace(kube_emulator, "b")
    result = osm(["ns", "ignore", "a", "b"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Successfully configured namespace [a] to be ignored",
        "Successfully configured namespace [b] to be ignored",
    ]
    a_labels = seed.ns_meta(kube_emulator, "a")[0]
    assert a_labels["keep"] == "me"
    assert a_labels[L.IGNORE_LABEL] == "true"
    assert seed.ns_meta(kube_emulator, "b")[0][L.IGNORE_LABEL] == "true"


def test_a_missing_namespace_stops_before_any_write(osm, kube_emulator, kubeconfig):
    seed.namespace(kube_emulator, "a")
    kube_emulator.clear_requests()
    result = osm(["ns", "ignore", "a", "ghost"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Namespace [ghost] does not exist\n")
    assert kube_emulator.writes() == []
