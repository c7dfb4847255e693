"""Helm's --set grammar, -f files and merging, as `osm install` builds its values."""

from __future__ import annotations

import pytest

from osm_mesh.errors import InvalidInput
from osm_mesh.helm.lifecycle import InstallOptions, install_values
from osm_mesh.helm.values import load_values_file, merge, parse_set, user_values
from osm_mesh.validation import parse_duration


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("osm.deployGrafana=true", {"osm": {"deployGrafana": True}}),
        ("a=1,b=false,c=null,d=", {"a": 1, "b": False, "c": None, "d": ""}),
        ("port=0,zip=007,ratio=1.5,neg=-3", {"port": 0, "zip": "007", "ratio": "1.5", "neg": -3}),
        ("list={a,2,true}", {"list": ["a", 2, True]}),
        ("l[1]=x,l[0].name=y", {"l": [{"name": "y"}, "x"]}),
        (r"key\.with\.dots=v\,w", {"key.with.dots": "v,w"}),
        (
            "osm.imagePullSecrets[0].name=regcred",
            {"osm": {"imagePullSecrets": [{"name": "regcred"}]}},
        ),
        ("a=b=c", {"a": "b=c"}),
    ],
)
def test_parse_set(expression, expected):
    assert parse_set(expression) == expected


@pytest.mark.parametrize(
    "expression, message",
    [
        ("osm.deployGrafana", 'key "osm.deployGrafana" has no value'),
        ("=true", "has no key"),
        ("a..b=1", "empty key segment"),
        ("a[x]=1", "bad list index"),
        ("a[99999999]=1", "too large"),
    ],
)
def test_parse_set_errors(expression, message):
    with pytest.raises(InvalidInput, match="invalid format for --set") as caught:
        parse_set(expression)
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_merge_replaces_lists_and_keeps_null():
    base = {"osm": {"a": [1, 2], "b": {"c": 1, "d": 2}}}
    merged = merge(base, {"osm": {"a": [3], "b": {"c": None}}})
    assert merged == {"osm": {"a": [3], "b": {"c": None, "d": 2}}}
    assert base["osm"]["a"] == [1, 2]  # inputs untouched


def test_files_then_sets_later_wins(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("osm:\n  envoyLogLevel: debug\n  deployJaeger: true\n")
    second = tmp_path / "b.yaml"
    second.write_text("osm:\n  envoyLogLevel: info\n")
    values = user_values([first, second], ["osm.envoyLogLevel=warn"])
    assert values == {"osm": {"envoyLogLevel": "warn", "deployJaeger": True}}


@pytest.mark.parametrize(
    "content, message",
    [("- a\n- b\n", "must hold a mapping"), ("osm: [\n", r"not valid YAML \(line")],
)
def test_bad_values_files(tmp_path, content, message):
    path = tmp_path / "v.yaml"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        load_values_file(path)
    with pytest.raises(InvalidInput, match="cannot read values file"):
        load_values_file(tmp_path / "missing.yaml")


def test_install_values_force_flags_over_set():
    options = InstallOptions(
        mesh_name="m1",
        sets=("osm.meshName=other,osm.enforceSingleMesh=true",),
        enforce_single_mesh=False,
        addons={"grafana": True, "prometheus": None, "jaeger": None},
    )
    values = install_values(options)
    # Upstream: the mesh name and single-mesh enforcement come from the flags.
    assert values["osm"]["meshName"] == "m1"
    assert values["osm"]["enforceSingleMesh"] is False
    # Grafana brings the Prometheus its dashboards read...
    assert values["osm"]["deployGrafana"] is True
    assert values["osm"]["deployPrometheus"] is True
    assert "deployJaeger" not in values["osm"]


def test_grafana_without_prometheus_when_asked():
    options = InstallOptions(addons={"grafana": True, "prometheus": False})
    assert install_values(options)["osm"]["deployPrometheus"] is False
    options = InstallOptions(sets=("osm.deployPrometheus=false",), addons={"grafana": True})
    assert install_values(options)["osm"]["deployPrometheus"] is False


@pytest.mark.parametrize(
    "text, seconds", [("5m", 300), ("90s", 90), ("1h30m", 5400), ("45", 45), ("1.5s", 1.5)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "m5", "0s", "-1"])
def test_parse_duration_rejects(text):
    with pytest.raises(InvalidInput):
        parse_duration(text)
