"""Locating the chart (wheel copy, else the repository) and reading its metadata."""

from __future__ import annotations

import pytest

from osm_mesh.errors import InvalidInput
from osm_mesh.helm.client import translate
from osm_mesh.helm.location import crd_names, default_chart_path, load_chart


def test_default_chart_is_the_repositorys_in_a_checkout():
    chart = load_chart()
    assert chart.path == default_chart_path()
    assert chart.name == "osm"
    assert (chart.path / "values.schema.json").is_file()
    assert chart.app_version == "0.1.0"


def test_crd_names_from_the_chart():
    names = crd_names()
    assert "traffictargets.access.smi-spec.io" in names
    assert "meshconfigs.config.openservicemesh.io" in names
    assert len(names) == 9  # 5 SMI, MeshConfig, 3 resilience policies


def test_override_path_must_be_a_chart(tmp_path):
    with pytest.raises(InvalidInput, match=r"Chart\.yaml not found"):
        load_chart(tmp_path)
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nversion: 1.0.0\n")
    with pytest.raises(InvalidInput, match="no chart name"):
        load_chart(tmp_path)


def test_helm_errors_condensed_to_one_line():
    from pyhelm3 import errors

    schema = errors.Error(
        1,
        b"",
        b"Error: values don't meet the specifications of the schema(s) in the following "
        b"chart(s):\nosm:\n- at '/osm/envoyLogLevel': value must be one of 'trace', 'debug'\n"
        b"- at '/osm': additional properties 'bogus' not allowed\n",
    )
    err = translate(schema)
    assert isinstance(err, InvalidInput)
    assert err.message == (
        "invalid chart values: at '/osm/envoyLogLevel': value must be one of 'trace', 'debug'; "
        "at '/osm': additional properties 'bogus' not allowed"
    )
    down = translate(
        errors.Error(
            1,
            b"",
            b'Error: Kubernetes cluster unreachable: Get "https://x": '
            b"dial tcp 127.0.0.1:1: connect: connection refused\n",
        )
    )
    assert down.message.startswith("Could not access Kubernetes cluster, check kubeconfig:")


def test_packaged_chart(tmp_path):
    import subprocess

    from osm_mesh.helm.location import crd_documents
    from tests.cli.install.support import VENV_BIN

    subprocess.run(
        [str(VENV_BIN / "helm"), "package", str(default_chart_path()), "-d", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    archive = next(tmp_path.glob("osm-*.tgz"))
    chart = load_chart(archive)
    assert chart.path == archive
    assert sorted(d["metadata"]["name"] for d in crd_documents(chart)) == sorted(crd_names())
