"""The chart's CRD schemas, enforced: pruning, 422 causes, strict field validation.

A real API server drops undeclared fields of a custom resource and refuses one that breaks
its schema, so a TrafficTarget with a typo in ``destination.kind`` never reaches the
controller. The emulator must do the same, or fast tests accept SMI objects a cluster refuses.
Causes are compared as a set: kube-openapi walks a Go map, so their order is not stable.
"""

from __future__ import annotations

import pytest

from tests.kube.parity.compare import assert_same, normalise
from tests.kube.parity.conftest import Pair
from tests.kube.parity.side import Reply

ACCESS = "access.smi-spec.io/v1alpha3"
SPLIT = "split.smi-spec.io/v1alpha2"
SPECS = "specs.smi-spec.io/v1alpha4"
CONFIG = "config.openservicemesh.io/v1alpha2"
POLICY = "policy.openservicemesh.io/v1alpha1"


def _path(api_version: str, plural: str, namespace: str) -> str:
    return f"/apis/{api_version}/namespaces/{namespace}/{plural}"


def invalid_as_compared(reply: Reply) -> dict:
    body = reply.body if isinstance(reply.body, dict) else {}
    details = dict(body.get("details") or {})
    causes = sorted(
        (c.get("field", ""), c.get("reason", ""), c.get("message", ""))
        for c in details.pop("causes", [])
    )
    message = str(body.get("message", ""))
    head, _, listed = message.partition(" is invalid: ")
    items = listed[1:-1].split(", spec") if listed.startswith("[") else [listed]
    return {
        "code": reply.code,
        "reason": body.get("reason"),
        "details": details,
        "causes": causes,
        "message head": head,
        "message items": sorted(i if i.startswith("spec") else "spec" + i for i in items)
        if len(items) > 1
        else items,
    }


TARGET_BASE = {
    "destination": {"kind": "ServiceAccount", "name": "d", "namespace": "x"},
    "sources": [{"kind": "ServiceAccount", "name": "s", "namespace": "x"}],
    "rules": [{"kind": "HTTPRouteGroup", "name": "r"}],
}

INVALID = {
    "enum, minLength, nested required, minItems": (
        ACCESS,
        "traffictargets",
        "TrafficTarget",
        {
            "destination": {"kind": "Foo", "name": ""},
            "sources": [],
            "rules": [{"kind": "HTTPRouteGroup"}],
        },
    ),
    "wrong type, required": (ACCESS, "traffictargets", "TrafficTarget", {"destination": "x"}),
    "integer range and type": (
        ACCESS,
        "traffictargets",
        "TrafficTarget",
        {
            "destination": {"kind": "ServiceAccount", "name": "d", "port": 0},
            "sources": [{"kind": "ServiceAccount", "name": "s", "port": "80"}],
            "rules": [{"kind": "TCPRoute", "name": "t"}],
        },
    ),
    "spec missing": (ACCESS, "traffictargets", "TrafficTarget", None),
    "split weights": (
        SPLIT,
        "trafficsplits",
        "TrafficSplit",
        {
            "service": "w",
            "backends": [
                {"service": "a", "weight": "abc"},
                {"service": "b", "weight": -1},
                {"service": 7, "weight": True},
            ],
        },
    ),
    "split without backends": (
        SPLIT,
        "trafficsplits",
        "TrafficSplit",
        {"service": "w", "backends": []},
    ),
    "meshconfig duration pattern": (
        CONFIG,
        "meshconfigs",
        "MeshConfig",
        {"certificate": {"serviceCertValidityDuration": "one day"}},
    ),
    "retry": (
        POLICY,
        "retries",
        "Retry",
        {
            "source": {"kind": "ServiceAccount", "name": "s"},
            "destinations": [],
            "retryPolicy": {"perTryTimeout": "soon"},
        },
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_schema_refusal_matches(crd_pair: Pair, case: str) -> None:
    pair = crd_pair
    api_version, plural, kind, spec = INVALID[case]
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "bad"}}
    if spec is not None:
        body["spec"] = spec
    path = _path(api_version, plural, pair.namespace)
    emu, real = pair.each(lambda s: s.post(path, body))
    assert real.code == 422, real.body
    assert_same(invalid_as_compared(emu), invalid_as_compared(real), case)


def test_unknown_fields_are_pruned(crd_pair: Pair) -> None:
    pair = crd_pair
    spec = {
        "destination": {**TARGET_BASE["destination"], "extra": 1},
        "sources": [{**TARGET_BASE["sources"][0], "zzz": 2}],
        "rules": TARGET_BASE["rules"],
        "unknown": True,
    }
    body = {
        "apiVersion": ACCESS,
        "kind": "TrafficTarget",
        "metadata": {"name": "pruned", "labels": {"a": "b"}},
        "spec": spec,
        "status": {"x": 1},
        "top": 5,
    }
    path = _path(ACCESS, "traffictargets", pair.namespace)
    emu, real = pair.each(lambda s: (s.post(path, body), s.get(f"{path}/pruned")))
    assert real[0].code == 201
    assert "top" not in real[1].body and "extra" not in real[1].body["spec"]["destination"]
    drop = ("metadata.managedFields",)
    for e, r in zip(emu, real, strict=True):
        assert_same(normalise(e.body, drop=drop), normalise(r.body, drop=drop))


def test_strict_field_validation_refuses_unknown_fields(crd_pair: Pair) -> None:
    """kubectl apply sends fieldValidation=Strict: a typo is a 400, not a silent drop."""
    pair = crd_pair
    body = {
        "apiVersion": ACCESS,
        "kind": "TrafficTarget",
        "metadata": {"name": "strict"},
        "spec": {**TARGET_BASE, "unknown": True, "destination": {**TARGET_BASE["destination"]}},
        "top": 5,
    }
    body["spec"]["destination"]["extra"] = 1
    path = _path(ACCESS, "traffictargets", pair.namespace)
    emu, real = pair.each(lambda s: s.post(path, body, query={"fieldValidation": "Strict"}))
    assert real.code == 400 and "strict decoding error" in real.message
    assert (emu.code, emu.reason, emu.message) == (real.code, real.reason, real.message)


def test_valid_objects_of_every_served_version_are_accepted(crd_pair: Pair) -> None:
    pair = crd_pair
    objects = [
        (ACCESS, "traffictargets", "TrafficTarget", TARGET_BASE),
        (
            SPECS,
            "httproutegroups",
            "HTTPRouteGroup",
            {"matches": [{"name": "all", "pathRegex": ".*", "methods": ["GET"]}]},
        ),
        (
            SPLIT,
            "trafficsplits",
            "TrafficSplit",
            {"service": "w", "backends": [{"service": "a", "weight": 1}]},
        ),
    ]
    for api_version, plural, kind, spec in objects:
        body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "ok"}, "spec": spec}
        path = _path(api_version, plural, pair.namespace)
        emu, real = pair.each(lambda s, path=path, body=body: s.post(path, body))
        assert real.code == 201, real.body
        drop = ("metadata.managedFields",)
        assert_same(normalise(emu.body, drop=drop), normalise(real.body, drop=drop), kind)


def test_patch_into_an_invalid_object_is_refused(crd_pair: Pair) -> None:
    pair = crd_pair
    path = _path(SPLIT, "trafficsplits", pair.namespace)
    body = {
        "apiVersion": SPLIT,
        "kind": "TrafficSplit",
        "metadata": {"name": "p"},
        "spec": {"service": "w", "backends": [{"service": "a", "weight": 1}]},
    }

    def send(side):
        assert side.post(path, body).code == 201
        return side.patch(f"{path}/p", {"spec": {"backends": []}}, "application/merge-patch+json")

    emu, real = pair.each(send)
    assert real.code == 422
    assert_same(invalid_as_compared(emu), invalid_as_compared(real))
