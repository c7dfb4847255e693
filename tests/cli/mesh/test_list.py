"""`osm mesh list`: both upstream tables (golden), SMI versions via the pod proxy."""

from __future__ import annotations

import json

from osm_mesh import labels as L
from tests.cli import kube_seed as seed
from tests.golden import assert_golden_data, assert_golden_text


def _two_meshes(emu):
    seed.mesh(emu, "osm", "osm-system", "v1.2.4")
    seed.mesh(
        emu,
        "edge",
        "edge-system",
        None,  # no app.kubernetes.io/version label: VERSION is Unknown
        smi={"TrafficTarget": "access.smi-spec.io/v1alpha3", "TrafficSplit": "v1alpha2"},
    )
    for name, mesh in (("bookstore", "osm"), ("bookbuyer", "osm"), ("gateway", "edge")):
        seed.namespace(emu, name, labels={L.MONITORED_BY_LABEL: mesh})


def test_tables(osm, kube_emulator, kubeconfig):
    _two_meshes(kube_emulator)
    result = osm(["mesh", "list"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert_golden_text("cli/mesh/list.txt", result.stdout)
    assert "kubectl get pods -n <osm-mesh-namespace> -l app=osm-controller" in result.stderr


def test_json(osm, kube_emulator, kubeconfig):
    _two_meshes(kube_emulator)
    result = osm(["mesh", "list", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert_golden_data("cli/mesh/list.json", result.stdout)
    assert result.stderr == ""


def test_controller_not_answering_shows_unknown_smi(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator, serve=False)  # the pod proxy answers 503, as for a dead port
    result = osm(["mesh", "list", "-o", "json", "--verbose"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    [mesh] = json.loads(result.stdout)
    assert mesh["smiSupported"] == {}
    assert "SMI versions of mesh [osm]" in result.stderr
    table = osm(["mesh", "list"], kubeconfig=kubeconfig)
    assert table.stdout.splitlines()[-1].split() == ["osm", "osm-system", "Unknown"]


def test_no_mesh(osm, kube_emulator, kubeconfig):
    result = osm(["mesh", "list"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout == "No osm mesh control planes found\n"
    assert json.loads(osm(["mesh", "list", "-o", "json"], kubeconfig=kubeconfig).stdout) == []


def test_local_port_flag_is_accepted(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator)
    result = osm(["mesh", "list", "-p", "19091"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
