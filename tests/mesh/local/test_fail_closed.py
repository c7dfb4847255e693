"""A MeshConfig mistake never opens the local mesh (issue 12, items 1-3), on real Envoy.

Before: a quoted ``"false"`` or a misspelt key was a warning (or nothing) and the mesh ran
in the chart's default permissive mode — frontend -> api 200 with no TrafficTarget.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG, SIMPLE_NS, call_frontend
from osm_mesh.local.inputs import InvalidManifests, load_objects
from osm_mesh.local.runtime import LocalMesh
from osm_mesh.policy.lint import lint_paths

APP = MANIFESTS / "simple" / "app"
GOOD = MESH_CONFIG.read_text()
QUOTED = GOOD.replace(
    "enablePermissiveTrafficPolicyMode: false", 'enablePermissiveTrafficPolicyMode: "false"'
)
TYPO = GOOD.replace(
    "enablePermissiveTrafficPolicyMode: false", "enablePermisiveTrafficPolicyMode: false"
)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _manifests(tmp_path: Path, mesh_config: str) -> Path:
    root = tmp_path / "manifests"
    shutil.copytree(APP, root / "app")
    (root / "mesh-config.yml").write_text(mesh_config)
    return root


@pytest.mark.parametrize(
    ("text", "code", "field", "message", "fix"),
    [
        (
            QUOTED,
            "OSM0204",
            "spec.traffic.enablePermissiveTrafficPolicyMode",
            "must be true or false, got 'false'",
            "use true or false, unquoted",
        ),
        (
            TYPO,
            "OSM0205",
            "spec.traffic.enablePermisiveTrafficPolicyMode",
            "unknown field 'enablePermisiveTrafficPolicyMode'",
            "did you mean enablePermissiveTrafficPolicyMode?",
        ),
    ],
    ids=["quoted-bool", "misspelt-key"],
)
def test_a_bad_meshconfig_stops_local_run_and_lint_alike(
    osm, tmp_path, text, code, field, message, fix
):
    root = _manifests(tmp_path, text)
    config = root / "mesh-config.yml"
    line = _line_of(text, "TrafficPolicyMode:")
    expected = (
        f"{config}:{line}: error[{code}]: MeshConfig/osm-system/osm-mesh-config {field}: "
        f"{message}\n"
        f"    fix: {fix}"
    )
    run = osm(["local", "run", "-f", str(root), "--work-dir", str(tmp_path / "work")])
    assert run.exit_code == 1
    assert expected in run.stderr
    assert "Error: 1 error(s) in the manifests: nothing was started" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert not (tmp_path / "work").exists()  # nothing started, nothing written
    lint = osm(["policy", "lint", "-f", str(root)])
    assert lint.exit_code == 1
    assert expected in lint.stdout


def test_a_typo_in_a_running_meshconfig_is_refused_and_calls_stay_denied(tmp_path):
    """A running SMI-mode mesh; applying a MeshConfig with a typo (or a quoted boolean) that
    would have made it permissive is refused, and the call is still denied by the real
    Envoy; applying a correct permissive MeshConfig does open it (the check is not vacuous).
    """
    with LocalMesh([MESH_CONFIG, APP], work_dir=tmp_path / "work") as mesh:
        assert mesh.traffic_policy.mode == "smi"
        frontend = mesh.pod(SIMPLE_NS, "frontend")
        assert call_frontend(frontend)["status"] == 403
        for bad in (
            TYPO.replace(
                "enablePermisiveTrafficPolicyMode: false", "enablePermisiveTrafficPolicyMode: true"
            ),
            QUOTED.replace('"false"', '"true"'),
        ):
            (tmp_path / "bad.yml").write_text(bad)
            with pytest.raises(InvalidManifests) as refused:
                mesh.apply(load_objects([tmp_path / "bad.yml"]))
            assert "PermissiveTrafficPolicyMode" in "\n".join(refused.value.details)
            assert mesh.traffic_policy.mode == "smi"
            assert call_frontend(frontend)["status"] == 403
        (tmp_path / "open.yml").write_text(
            GOOD.replace(
                "enablePermissiveTrafficPolicyMode: false",
                "enablePermissiveTrafficPolicyMode: true",
            )
        )
        mesh.apply(load_objects([tmp_path / "open.yml"]))
        assert mesh.traffic_policy.mode == "permissive"
        assert call_frontend(frontend)["status"] == 200


def test_the_mode_in_force_is_printed_with_its_reason(tmp_path):
    without = LocalMesh([APP], work_dir=tmp_path / "a")
    policy = without.traffic_policy
    assert policy.permissive and policy.source == "default"
    assert "OSM chart's default (enablePermissiveTrafficPolicyMode: true)" in policy.describe()
    with_config = LocalMesh([MESH_CONFIG, APP], work_dir=tmp_path / "b")
    line = _line_of(GOOD, "enablePermissiveTrafficPolicyMode")
    assert with_config.traffic_policy.describe() == (
        "Traffic policy: SMI mode: only what a TrafficTarget allows gets through (else HTTP "
        f"403); set by MeshConfig osm-system/osm-mesh-config at {MESH_CONFIG}:{line}."
    )


def test_local_run_prints_lints_findings_with_lints_prefixes(osm, tmp_path):
    """The files of the report: a TrafficTarget whose HTTPRouteGroup is missing, a
    TrafficSplit with a missing backend and the root Service as its own backend. Before,
    `local run` printed 2 warnings ("Warning: error: ...") where lint found 4 errors."""
    root = _manifests(tmp_path, GOOD)
    (root / "policy.yml").write_text(
        """\
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api, namespace: osm-simple-app}
spec:
  destination: {kind: ServiceAccount, name: api-service-account, namespace: osm-simple-app}
  rules: [{kind: HTTPRouteGroup, name: missing-routes, matches: [all]}]
  sources: [{kind: ServiceAccount, name: frontend-service-account, namespace: osm-simple-app}]
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: split, namespace: osm-simple-app}
spec:
  service: api
  backends: [{service: api, weight: 50}, {service: api-v9, weight: 50}]
"""
    )
    lint = lint_paths([root])
    errors = [f.text() for f in lint.findings if f.severity == "error"]
    assert len(errors) == 2 and len(lint.findings) == 3  # + the root-as-backend warning
    run = osm(["local", "run", "-f", str(root), "--work-dir", str(tmp_path / "work")])
    assert run.exit_code == 1
    for finding in lint.findings:
        assert finding.text() in run.stderr
    assert f"Error: {len(errors)} error(s) in the manifests" in run.stderr
    assert "Warning: error:" not in run.stderr
