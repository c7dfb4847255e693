"""The chart's containers and the processes they start agree (docs/container-contract.md):
every argument the chart passes is one the control-plane program accepts."""

from __future__ import annotations

import pytest

from tests.chart.helpers import MATRIX, find, render

pytestmark = pytest.mark.helm


@pytest.mark.parametrize("case", ["defaults", "custom"])
@pytest.mark.parametrize(
    "deployment, module",
    [
        ("osm-controller", "osm_mesh.controller.__main__"),
        ("osm-injector", "osm_mesh.injector.__main__"),
    ],
)
def test_rendered_args_parse(case, deployment, module):
    import importlib

    values, namespace, release = MATRIX[case]
    container = find(render(values, namespace, release), "Deployment", deployment)["spec"][
        "template"
    ]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", module.removesuffix(".__main__")]
    parsed = importlib.import_module(module).parse_args(container["args"])
    assert parsed.osm_namespace == namespace
    assert parsed.mesh_name == values.get("osm", {}).get("meshName", "osm")
    assert parsed.http_port == 9091
    ports = {p["containerPort"] for p in container["ports"]}
    assert ports == ({15128, 9091} if deployment == "osm-controller" else {9090, 9091})
