"""Global settings: control-plane namespace precedence, --kubeconfig, --context."""

from __future__ import annotations

import json

import pytest

from tests.cli import kube_seed as seed


def _namespace(osm, args=(), **environ) -> str:
    result = osm(["env", "-o", "json", *args], environ=environ)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["install"]["namespace"]


@pytest.fixture
def home(tmp_path):
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_default_is_osm_system(osm, home):
    assert _namespace(osm, HOME=str(home)) == "osm-system"


def test_article_era_osm_namespace_variable(osm, home):
    assert _namespace(osm, HOME=str(home), OSM_NAMESPACE="from-env") == "from-env"


def test_osm_config_file_beats_osm_namespace(osm, home, tmp_path):
    config = tmp_path / "osm.yaml"
    config.write_text("install:\n  namespace: from-file\n")
    assert (
        _namespace(osm, HOME=str(home), OSM_CONFIG=str(config), OSM_NAMESPACE="from-env")
        == "from-file"
    )


def test_home_config_is_the_default_file(osm, home):
    (home / ".osm").mkdir()
    (home / ".osm" / "config.yaml").write_text("install:\n  namespace: from-home\n")
    assert _namespace(osm, HOME=str(home)) == "from-home"


def test_flag_beats_everything(osm, home, tmp_path):
    config = tmp_path / "osm.yaml"
    config.write_text("install:\n  namespace: from-file\n")
    found = _namespace(
        osm,
        ["--osm-namespace", "from-flag"],
        HOME=str(home),
        OSM_CONFIG=str(config),
        OSM_NAMESPACE="from-env",
    )
    assert found == "from-flag"


def test_broken_config_file_falls_back(osm, home, tmp_path):
    config = tmp_path / "osm.yaml"
    config.write_text("install: [unclosed\n")
    assert _namespace(osm, HOME=str(home), OSM_CONFIG=str(config)) == "osm-system"


def test_kubeconfig_flag_beats_the_environment(osm, kube_emulator, kubeconfig, tmp_path):
    seed.namespace(kube_emulator, "a", labels={"openservicemesh.io/monitored-by": "osm"})
    result = osm(
        ["ns", "list", "--kubeconfig", str(kubeconfig)],
        environ={"KUBECONFIG": str(tmp_path / "missing")},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[0] == "a"


def test_context_flag_selects_the_context(osm, kube_emulator, tmp_path):
    path = kube_emulator.write_kubeconfig(tmp_path / "kc", context="staging")
    ok = osm(["ns", "list", "--context", "staging"], kubeconfig=path)
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout == "No namespaces in any mesh\n"
