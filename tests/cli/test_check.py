"""`osm check` against the API emulator: categories, marks, hints, JSON, exit codes, --wait.
(The real API server: tests/kube/test_diagnostics.py.)"""

from __future__ import annotations

import json
import time

from tests.cli.kube_seed import mesh as seed_controller


def test_nothing_installed_fails_with_hints(osm, kube_emulator, kubeconfig):
    result = osm(["check"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == ["control-plane", "-------------"]
    assert lines[2].startswith("✓ can reach the Kubernetes API: ")
    assert (
        "✗ osm-controller is ready: no Deployment osm-controller in namespace osm-system" in lines
    )
    assert "    hint: install the mesh (`osm install`), or pass its --osm-namespace" in lines
    assert lines[-1].startswith("Status: ✗ failed (1 ok, 0 warning(s), ")
    assert kube_emulator.writes() == []


def test_json_and_the_checks_that_pass(osm, kube_emulator, kubeconfig):
    seed_controller(kube_emulator)  # a controller Deployment that is ready, answering /version
    result = osm(["check", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    status = {c["name"]: c["status"] for c in data["checks"]}
    assert status["osm-controller is ready"] == "ok"
    assert status["osm-injector is ready"] == "fail"
    # The controller says v1.2.4, this CLI says its own version: a warning, not a failure.
    assert status["CLI and control-plane versions match"] == "warn"
    assert all(set(c) == {"category", "name", "status", "detail", "hint"} for c in data["checks"])


def test_wait_retries_until_its_deadline(osm, kube_emulator, kubeconfig):
    started = time.monotonic()
    result = osm(["check", "--wait", "3s"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert time.monotonic() - started >= 3
    assert result.stderr.count("waiting: ") >= 1


def test_bad_input_is_one_line(osm, kube_emulator, kubeconfig):
    bad = osm(["check", "--wait", "soon"], kubeconfig=kubeconfig)
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: invalid duration 'soon'")
    mesh = osm(["check", "--mesh-name", "Bad_Name"], kubeconfig=kubeconfig)
    assert mesh.exit_code == 1 and mesh.stderr.startswith("Error: invalid mesh name")
