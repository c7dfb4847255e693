"""`osm namespace list [MESH]`: table (golden), JSON/YAML, empty messages."""

from __future__ import annotations

import json

import pytest
import yaml

from osm_mesh import labels as L
from tests.cli import kube_seed as seed
from tests.golden import assert_golden_data, assert_golden_text


@pytest.fixture
def cluster(kube_emulator):
    seed.namespace(
        kube_emulator,
        "bookstore",
        labels={L.MONITORED_BY_LABEL: "osm"},
        annotations={L.SIDECAR_INJECTION_ANNOTATION: "enabled"},
    )
    seed.namespace(
        kube_emulator,
        "bookbuyer",
        labels={L.MONITORED_BY_LABEL: "osm"},
        annotations={L.SIDECAR_INJECTION_ANNOTATION: "disabled"},
    )
    seed.namespace(kube_emulator, "bookthief", labels={L.MONITORED_BY_LABEL: "osm"})
    seed.namespace(
        kube_emulator,
        "legacy",
        labels={L.MONITORED_BY_LABEL: "edge-mesh", L.IGNORE_LABEL: "true"},
        annotations={L.SIDECAR_INJECTION_ANNOTATION: "enabled"},
    )
    seed.namespace(kube_emulator, "unmeshed")
    return kube_emulator


def test_table_lists_every_meshed_namespace(osm, cluster, kubeconfig):
    result = osm(["namespace", "list"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert "unmeshed" not in result.stdout
    assert_golden_text("cli/namespace/list.txt", result.stdout)


def test_json_and_yaml(osm, cluster, kubeconfig):
    as_json = osm(["ns", "list", "-o", "json"], kubeconfig=kubeconfig)
    assert as_json.exit_code == 0
    assert_golden_data("cli/namespace/list.json", as_json.stdout)
    as_yaml = osm(["ns", "list", "-o", "yaml"], kubeconfig=kubeconfig)
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)


def test_filter_by_mesh_argument_or_flag(osm, cluster, kubeconfig):
    by_arg = osm(["ns", "list", "edge-mesh"], kubeconfig=kubeconfig)
    by_flag = osm(["ns", "list", "--mesh-name", "edge-mesh"], kubeconfig=kubeconfig)
    assert by_arg.stdout == by_flag.stdout
    assert_golden_text("cli/namespace/list-edge-mesh.txt", by_arg.stdout)


def test_conflicting_mesh_argument_and_flag(osm, kube_emulator, kubeconfig):
    result = osm(["ns", "list", "a", "--mesh-name", "b"], kubeconfig=kubeconfig)
    assert result.exit_code == 2
    assert kube_emulator.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "No namespaces in any mesh\n"),
        (["osm"], "No namespaces in mesh [osm]\n"),
    ],
)
def test_empty(osm, kube_emulator, kubeconfig, args, message):
    seed.namespace(kube_emulator, "unmeshed")
    result = osm(["ns", "list", *args], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    assert result.stdout == message


def test_empty_json_is_an_empty_list(osm, kube_emulator, kubeconfig):
    result = osm(["ns", "list", "-o", "json"], kubeconfig=kubeconfig)
    assert json.loads(result.stdout) == []
