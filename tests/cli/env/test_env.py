"""`osm env`: upstream's YAML, and JSON for scripts."""

from __future__ import annotations

import json

import yaml


def test_yaml_by_default(osm):
    result = osm(["env"], environ={"OSM_CONFIG": "/nonexistent"})
    assert result.exit_code == 0
    data = yaml.safe_load(result.stdout)
    assert data["install"]["namespace"] == "osm-system"
    assert set(data["install"]) == {"kind", "distribution", "namespace"}


def test_json(osm):
    result = osm(["env", "-o", "json", "--osm-namespace", "mesh-a"])
    assert json.loads(result.stdout)["install"]["namespace"] == "mesh-a"
