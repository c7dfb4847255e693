"""The pure parts of osm_mesh.kube.meshes / rollout / metrics / namespaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from osm_mesh.kube.meshes import MeshSmi, parse_smi_versions
from osm_mesh.kube.metrics import split_namespaces
from osm_mesh.kube.namespaces import AddOutcome
from osm_mesh.kube.rollout import RestartedWorkload, restart_patch


def test_smi_versions_drop_the_api_group_like_upstream():
    payload = {"TrafficTarget": "access.smi-spec.io/v1alpha3", "TCPRoute": "v1alpha4"}
    assert parse_smi_versions(payload) == {"TrafficTarget": "v1alpha3", "TCPRoute": "v1alpha4"}
    assert parse_smi_versions(["not", "a", "map"]) == {}


def test_smi_cell_is_sorted_and_unknown_when_empty():
    smi = MeshSmi("osm", "osm-system", {"TrafficTarget": "v1alpha3", "HTTPRouteGroup": "v1alpha4"})
    assert smi.formatted() == "HTTPRouteGroup:v1alpha4,TrafficTarget:v1alpha3"
    assert MeshSmi("osm", "osm-system").formatted() == "Unknown"


def test_restart_stamp_is_utc_rfc3339_like_kubectl():
    local = datetime(2026, 11, 26, 9, 30, 0, tzinfo=timezone(timedelta(hours=2)))
    patch = restart_patch(local)
    stamp = patch["spec"]["template"]["metadata"]["annotations"][
        "kubectl.kubernetes.io/restartedAt"
    ]
    assert stamp == "2026-11-26T07:30:00Z"
    assert restart_patch(datetime(2026, 1, 1, tzinfo=UTC)) != patch


def test_namespace_lists_split_like_cobra_string_slices():
    assert split_namespaces(["a,b", " c ", "a", ""]) == ["a", "b", "c"]


def test_restart_message_names_each_workload_and_the_skipped_ones():
    outcome = AddOutcome(
        "shop",
        "osm",
        "added",
        "enabled",
        restarted=(
            RestartedWorkload("deployment", "web"),
            RestartedWorkload("deployment", "held", skipped="paused"),
        ),
    )
    assert outcome.restart_message == (
        "Restarted deployment/web in namespace [shop]; Not restarted: deployment/held (paused)"
    )
    assert AddOutcome("shop", "osm", "added", "enabled").restart_message is None
    assert (
        AddOutcome("shop", "osm", "added", "enabled", restarted=()).restart_message
        == "No workloads to restart in namespace [shop]"
    )
