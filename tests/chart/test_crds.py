"""The chart's CRDs: generated, structural, every SMI version served, and every SMI example
(the article's, OSM's bookstore and httpbin demos) valid against the matching version."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import jsonschema
import pytest

from tests.chart import crdgen
from tests.chart.helpers import CRD_DIR, REPO, crds, load_objects, validate_custom

SMI_VERSIONS = {
    ("access.smi-spec.io", "TrafficTarget"): ["v1alpha1", "v1alpha2", "v1alpha3"],
    ("specs.smi-spec.io", "HTTPRouteGroup"): ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
    ("specs.smi-spec.io", "TCPRoute"): ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
    ("specs.smi-spec.io", "UDPRoute"): ["v1alpha4"],
    ("split.smi-spec.io", "TrafficSplit"): ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"],
    ("config.openservicemesh.io", "MeshConfig"): ["v1alpha1", "v1alpha2"],
    # Resilience policies (docs/resilience.md).
    ("policy.openservicemesh.io", "Retry"): ["v1alpha1"],
    ("policy.openservicemesh.io", "UpstreamTrafficSetting"): ["v1alpha1"],
    ("policy.openservicemesh.io", "FaultInjection"): ["v1alpha1"],
}
CUSTOM_GROUPS = {group for group, _ in SMI_VERSIONS}


def custom_objects(path: Path) -> list[dict]:
    """The SMI/OSM objects of a manifest file (the ones the chart's CRDs judge)."""
    return [o for o in load_objects(path) if o.get("apiVersion", "").split("/")[0] in CUSTOM_GROUPS]


YAML_FILES = sorted(
    p
    for root in (REPO / "tests" / "data" / "article", REPO / "tests" / "data" / "external")
    for p in root.rglob("*")
    if p.suffix in (".yaml", ".yml")
)
# Only files with something to validate: a case over Deployments alone would pass vacuously.
EXAMPLES = [p for p in YAML_FILES if custom_objects(p)]


def test_crd_files_match_generator():
    rendered = crdgen.render()
    if os.environ.get("OSM_UPDATE_GOLDEN") == "1":
        crdgen.main()
    for name, text in rendered.items():
        assert (CRD_DIR / name).read_text() == text, f"{name}: run python -m tests.chart.crdgen"
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(rendered)


def test_every_version_served_exactly_one_stored():
    assert set(crds()) == set(SMI_VERSIONS)
    for key, versions in SMI_VERSIONS.items():
        spec = crds()[key]["spec"]
        assert [v["name"] for v in spec["versions"]] == versions
        assert all(v["served"] for v in spec["versions"])
        assert sum(v["storage"] for v in spec["versions"]) == 1
        assert spec["conversion"] == {"strategy": "None"}


def _structural_problems(node, path="", in_junctor=False, int_or_string_branch=False):
    """The API server's structural-schema rules that a hand edit most easily breaks."""
    problems = []
    if not isinstance(node, dict):
        return problems
    special = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
        "x-kubernetes-int-or-string"
    )
    if in_junctor:
        for banned in ("type", "description", "default", "additionalProperties", "nullable"):
            # The one exception: `anyOf: [{type: integer}, {type: string}]` under
            # x-kubernetes-int-or-string.
            if banned in node and not (banned == "type" and int_or_string_branch):
                problems.append(f"{path}: {banned} inside a junctor")
    elif "type" not in node and not special:
        problems.append(f"{path}: no type")
    int_or_string = node.get("x-kubernetes-int-or-string") and "anyOf" in node
    if int_or_string and [b.get("type") for b in node["anyOf"]] != ["integer", "string"]:
        problems.append(f"{path}: int-or-string anyOf must be [integer, string]")
    for key, child in (node.get("properties") or {}).items():
        problems += _structural_problems(child, f"{path}.{key}")
    if "items" in node:
        problems += _structural_problems(node["items"], f"{path}[]")
    for junctor in ("anyOf", "allOf", "oneOf"):
        for branch in node.get(junctor) or []:
            problems += _structural_problems(
                branch,
                f"{path}.{junctor}",
                in_junctor=True,
                int_or_string_branch=junctor == "anyOf"
                and bool(node.get("x-kubernetes-int-or-string")),
            )
    return problems


def test_schemas_are_structural_and_share_one_field_layout():
    for key, crd in crds().items():
        layouts = []
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            assert _structural_problems(schema) == [], (key, version["name"])
            layouts.append(_field_paths(schema))
        # No conversion webhook: an object written through one version and read through
        # another must keep its fields, so every version declares the same fields.
        assert all(layout == layouts[0] for layout in layouts), key


def _field_paths(node, prefix=""):
    paths = {prefix}
    for key, child in (node.get("properties") or {}).items():
        paths |= _field_paths(child, f"{prefix}.{key}")
    if "items" in node:
        paths |= _field_paths(node["items"], prefix + "[]")
    return paths


@pytest.mark.parametrize(
    "path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO / "tests" / "data"))
)
def test_smi_examples_valid_against_crds(path: Path):
    objects = custom_objects(path)
    assert objects, f"{path} holds no SMI/OSM object"
    for obj in objects:
        validate_custom(obj)


def test_examples_cover_the_articles_versions():
    seen = {
        (o["apiVersion"], o["kind"])
        for p in EXAMPLES
        for o in load_objects(p)
        if o.get("apiVersion", "").split("/")[0] in CUSTOM_GROUPS
    }
    # The article's (OSM ≤ 0.6) versions, which OSM v1.2's CRDs rejected.
    assert ("access.smi-spec.io/v1alpha2", "TrafficTarget") in seen
    assert ("specs.smi-spec.io/v1alpha3", "HTTPRouteGroup") in seen
    assert ("split.smi-spec.io/v1alpha2", "TrafficSplit") in seen
    # OSM v1.2's docs.
    assert ("access.smi-spec.io/v1alpha3", "TrafficTarget") in seen
    assert ("specs.smi-spec.io/v1alpha4", "TCPRoute") in seen
    assert ("config.openservicemesh.io/v1alpha1", "MeshConfig") in seen


TT_V1ALPHA3 = {
    "apiVersion": "access.smi-spec.io/v1alpha3",
    "kind": "TrafficTarget",
    "metadata": {"name": "t", "namespace": "n"},
    "spec": {
        "destination": {"kind": "ServiceAccount", "name": "api", "namespace": "n"},
        "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["api"]}],
        "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "n"}],
    },
}
SPLIT_V1ALPHA1 = {
    "apiVersion": "split.smi-spec.io/v1alpha1",
    "kind": "TrafficSplit",
    "metadata": {"name": "s", "namespace": "n"},
    "spec": {"service": "api", "backends": [{"service": "v1", "weight": "900m"}]},
}
V1ALPHA1_TARGET = {
    "apiVersion": "access.smi-spec.io/v1alpha1",
    "kind": "TrafficTarget",
    "metadata": {"name": "t", "namespace": "n"},
    "destination": {"kind": "ServiceAccount", "name": "api", "namespace": "n", "port": 80},
    "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": "n"}],
    "specs": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["api"]}],
}


def test_version_specific_shapes_accepted():
    validate_custom(TT_V1ALPHA3)
    validate_custom(SPLIT_V1ALPHA1)
    validate_custom(V1ALPHA1_TARGET)
    headers_as_map = {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "r", "namespace": "n"},
        "spec": {"matches": [{"name": "m", "headers": {"user-agent": ".*curl.*"}}]},
    }
    validate_custom(headers_as_map)


def _broken(base, mutate):
    obj = copy.deepcopy(base)
    mutate(obj)
    return obj


@pytest.mark.parametrize(
    "obj, why",
    [
        (
            _broken(TT_V1ALPHA3, lambda o: o["spec"].pop("destination")),
            "'destination' is a required",
        ),
        (_broken(TT_V1ALPHA3, lambda o: o["spec"].update(sources=[])), "should be non-empty"),
        (
            _broken(TT_V1ALPHA3, lambda o: o["spec"]["rules"][0].update(kind="Route")),
            "is not one of",
        ),
        (_broken(TT_V1ALPHA3, lambda o: o["spec"].update(destinaton={})), "Additional properties"),
        (
            _broken(SPLIT_V1ALPHA1, lambda o: o.update(apiVersion="split.smi-spec.io/v1alpha2")),
            "is not of type 'integer'",
        ),
        (
            _broken(SPLIT_V1ALPHA1, lambda o: o["spec"]["backends"][0].update(weight="90%")),
            "does not match",
        ),
        (
            _broken(SPLIT_V1ALPHA1, lambda o: o["spec"].pop("service")),
            "'service' is a required",
        ),
    ],
    ids=[
        "no-destination",
        "no-sources",
        "bad-rule-kind",
        "typo",
        "quantity-in-v1alpha2",
        "percent-weight",
        "no-root-service",
    ],
)
def test_invalid_objects_rejected(obj, why):
    with pytest.raises(jsonschema.ValidationError, match=why):
        validate_custom(obj)


def test_unserved_version_rejected():
    obj = dict(TT_V1ALPHA3, apiVersion="access.smi-spec.io/v1beta1")
    with pytest.raises(LookupError, match="not served"):
        validate_custom(obj)


def test_structural_check_catches_a_bad_schema():
    bad = {
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"anyOf": [{"type": "integer"}, {"type": "string"}]},  # not int-or-string
        },
    }
    assert _structural_problems(bad) == [
        ".a: no type",
        ".b: no type",
        ".b.anyOf: type inside a junctor",
        ".b.anyOf: type inside a junctor",
    ]
