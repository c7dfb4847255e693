"""The wheel carries the chart (pyproject force-include) and the installed code finds it there,
not in a source checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from tests.chart.helpers import REPO

pytestmark = [pytest.mark.helm, pytest.mark.slow]


def test_wheel_ships_and_uses_the_chart(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    wheel = next(dist.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("Chart.yaml", "values.yaml", "values.schema.json", "crds/smi-access.yaml",
                     "templates/osm-controller.yaml",
                     "files/dashboards/data-plane/osm-service-to-service.json"):  # fmt: skip
        assert f"osm_mesh/helm/chart/{required}" in names, required
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # The unpacked wheel first on sys.path: the installed layout, not the checkout.
    code = (
        "import json; from osm_mesh.helm.location import load_chart, crd_names; "
        "c = load_chart(); print(json.dumps([str(c.path), c.name, len(crd_names(c))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,  # `python -c` puts the working directory (the checkout) first
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    path, name, crds = json.loads(out.stdout)
    assert path == str(site / "osm_mesh" / "helm" / "chart")
    assert (name, crds) == ("osm", 9)
