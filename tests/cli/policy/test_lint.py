"""`osm policy lint`: exit codes, text and JSON output; no cluster involved."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
BROKEN = DATA / "lint" / "broken"


def test_article_passes_with_the_canary_warning(osm):
    result = osm(["policy", "lint", "-f", str(DATA / "article")], kubeconfig="/nonexistent")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"{DATA / 'article' / 'canary' / 'smi' / 'split.yml'}:2: warning[OSM0322]: "
    )
    assert "root Service 'api' selects no pod" in lines[0]
    assert lines[1].startswith("    fix: ")
    assert lines[-1] == "0 error(s), 1 warning(s), 0 info in 27 object(s) from 17 file(s)"


def test_errors_exit_1_and_say_file_object_field_and_fix(osm):
    path = BROKEN / "hrg-lowercase-method.yaml"
    result = osm(["policy", "lint", "-f", str(path)])
    assert result.exit_code == 1
    assert (
        f"{path}:46: error[OSM0204]: HTTPRouteGroup/shop/routes spec.matches[0].methods[1]: "
        "invalid method 'post'\n    fix: did you mean 'POST'?"
    ) in result.stdout
    # The TrafficTarget referencing the invalid group gets no cascading error.
    assert result.stdout.splitlines()[-1].startswith("1 error(s)")


def test_several_paths_and_json(osm):
    result = osm(
        [
            "policy",
            "lint",
            "-f",
            str(BROKEN / "split-all-zero.yaml"),
            "--filename",
            str(BROKEN / "tt-missing-route-group.yaml"),
            "-o",
            "json",
        ]
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["summary"]["files"] == 2
    assert data["summary"]["errors"] >= 1 and data["summary"]["warnings"] >= 1
    severities = {(f["severity"], f["field"]) for f in data["findings"]}
    assert ("warning", "spec.backends") in severities
    assert ("error", "spec.rules[0]") in severities
    first = data["findings"][0]
    assert set(first) == {"code", "severity", "file", "line", "object", "field", "message", "hint"}
    codes = {(f["code"], f["field"]) for f in data["findings"]}
    assert ("OSM0207", "spec.backends") in codes  # every weight 0: an ineffective field
    assert ("OSM0310", "spec.rules[0]") in codes  # the HTTPRouteGroup does not exist


def test_warnings_alone_exit_0_in_yaml(osm):
    result = osm(
        ["policy", "lint", "-f", str(BROKEN / "split-root-selects-no-pod.yaml"), "-o", "yaml"]
    )
    assert result.exit_code == 0
    assert "severity: warning" in result.stdout


def test_requires_a_file(osm):
    result = osm(["policy", "lint"])
    assert result.exit_code == 2
    assert "--filename" in result.stderr


def test_missing_file(osm):
    result = osm(["policy", "lint", "-f", "/nonexistent.yaml"])
    assert result.exit_code == 1
    assert "/nonexistent.yaml: error[OSM0101]: no such file or directory" in result.stdout


def test_stdin(osm):
    text = (BROKEN / "split-negative-weight.yaml").read_text()
    result = osm(["policy", "lint", "-f", "-", "-o", "json"], stdin=text)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["summary"]["files"] == 1
    assert any(
        f["file"] == "<stdin>" and f["message"].startswith("negative weight")
        for f in data["findings"]
    )
