"""Which objects are read as SMI, what becomes of TrafficMetrics, and how a problem reads in
the controller's log."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi.model import ObjectRef, Problem
from osm_mesh.smi.parse import is_smi, parse_smi


@pytest.mark.parametrize(
    ("obj", "smi"),
    [
        # By group: a kind this mesh does not read is still reported as unsupported.
        ({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplitter"}, True),
        ({"apiVersion": "metrics.smi-spec.io/v1alpha1", "kind": "TrafficMetrics"}, True),
        ({"apiVersion": "split.smi-spec.io/v1alpha4/", "kind": "Split"}, True),
        # By kind: a wrong or missing apiVersion is reported, not taken for a foreign object.
        ({"apiVersion": "v1", "kind": "TrafficSplit"}, True),
        ({"kind": "TrafficTarget"}, True),
        ({"apiVersion": "apps/v1", "kind": "Deployment"}, False),
        ({"apiVersion": "v1", "kind": "Service"}, False),
        ({}, False),
    ],
)
def test_objects_of_an_smi_group_or_kind_are_read_as_smi(obj: dict[str, Any], smi: bool):
    assert is_smi(obj) is smi


def test_traffic_metrics_is_noted_as_not_checked():
    obj = {
        "apiVersion": "metrics.smi-spec.io/v1alpha1",
        "kind": "TrafficMetrics",
        "metadata": {"name": "m", "namespace": "ns"},
    }
    parsed, problems = parse_smi(obj)
    assert parsed is None
    assert problems == [
        Problem(
            "info",
            ObjectRef("TrafficMetrics", "ns", "m"),
            "kind",
            "TrafficMetrics is served by an aggregated API, not a CRD: not checked",
            "",
            code="OSM0208",
        )
    ]


REF = ObjectRef("TrafficSplit", "ns", "s")


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (
            Problem("error", REF, "spec.service", "is required", file="a.yaml", line=3),
            "a.yaml:3: TrafficSplit/ns/s spec.service: is required",
        ),
        (
            Problem("error", REF, "spec.service", "is required", file="a.yaml"),
            "a.yaml: TrafficSplit/ns/s spec.service: is required",
        ),
        (
            Problem("error", REF, "spec.service", "is required", line=3),
            "TrafficSplit/ns/s spec.service: is required",
        ),
        (Problem("warning", None, "", "no objects", file="a.yaml"), "a.yaml: no objects"),
        (Problem("error", REF, "", "duplicate"), "TrafficSplit/ns/s duplicate"),
        (Problem("warning", None, "kind", "unknown"), "kind: unknown"),
        (Problem("warning", None, "", "bare"), "bare"),
    ],
)
def test_a_problem_reads_place_object_field_then_message(problem: Problem, text: str):
    assert str(problem) == text
