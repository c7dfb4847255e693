"""`osm local run`: input errors (the running mesh is covered in tests/mesh/local)."""

from __future__ import annotations

from pathlib import Path

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]
"""


def test_filename_is_required(osm):
    result = osm(["local", "run"])
    assert result.exit_code == 2
    assert "Missing option '--filename'" in result.stderr


def test_missing_path_is_one_line(osm, tmp_path: Path):
    result = osm(["local", "run", "-f", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: no such file or directory: {tmp_path / 'nope'}")
    assert "Traceback" not in result.stderr


def test_deployment_without_command_annotation(osm, tmp_path: Path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    result = osm(["local", "run", "-f", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        "Error: cannot run the manifests locally: Deployment shop/web: "
        "no local.openservicemesh.io/command annotation" in result.stderr
    )
    assert "local.openservicemesh.io/command:" in result.stderr  # the hint shows the fix
    assert result.stdout == ""


def test_bad_address_block(osm, tmp_path: Path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    result = osm(["local", "run", "-f", str(tmp_path), "--address-block", "10.0.0"])
    assert result.exit_code == 1
    assert "Error: invalid address block '10.0.0': must be inside 127.0.0.0/8" in result.stderr


def test_invalid_yaml_names_the_file(osm, tmp_path: Path):
    (tmp_path / "bad.yml").write_text("kind: [\n")
    result = osm(["local", "run", "-f", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'bad.yml'}:" in result.stderr and "invalid YAML" in result.stderr
