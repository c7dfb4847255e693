"""Golden manifests (`make golden` / OSM_UPDATE_GOLDEN=1 rewrites them), compared as YAML.

The Grafana password is random per render, so it is masked before comparing.
"""

from __future__ import annotations

import pytest
import yaml

from tests.chart.helpers import MATRIX, render
from tests.golden import assert_golden_data

pytestmark = pytest.mark.helm


def _normalized(case: str) -> str:
    values, namespace, release = MATRIX[case]
    objects = render(values, namespace, release, include_crds=False)
    for obj in objects:
        generated = not values.get("osm", {}).get("grafana", {}).get("adminPassword")
        if obj["kind"] == "Secret" and obj["metadata"]["name"] == "osm-grafana" and generated:
            obj["data"]["admin-password"] = "<generated>"
    return yaml.safe_dump_all(objects, sort_keys=True)


@pytest.mark.parametrize("case", ["defaults", "article", "custom"])
def test_chart_golden(case):
    assert_golden_data(f"chart/{case}.yaml", _normalized(case))
