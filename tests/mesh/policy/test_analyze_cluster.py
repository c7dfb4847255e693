"""`osm policy analyze`'s cluster checks (04xx, 0306) as a pure function over the objects a
cluster holds: each finding's code, object, field, message and the way out it offers.
(tests/cli/policy/test_analyze.py runs the same through the command and the API emulator.)"""

from __future__ import annotations

from typing import Any

from osm_mesh.catalog.loader import Document
from osm_mesh.policy.analyze import AnalyzeOptions, cluster_checks

MESHED = {"openservicemesh.io/monitored-by": "osm"}
INJECT = {"openservicemesh.io/sidecar-injection": "enabled"}
RULES = [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}]


def obj(kind: str, name: str, ns: str | None = None, api: str = "v1", **rest: Any) -> Document:
    meta: dict[str, Any] = {"name": name, **rest.pop("meta", {})}
    if ns is not None:
        meta["namespace"] = ns
    return Document({"apiVersion": api, "kind": kind, "metadata": meta, **rest})


def namespace(name: str, labels=None, annotations=None) -> Document:
    return obj("Namespace", name, meta={"labels": labels or {}, "annotations": annotations or {}})


def pod(ns: str, name: str, app: str, sa: str, sidecar: bool, rs: str | None = None, **ann):
    labels = {"app": app} | ({"osm-proxy-uuid": f"uuid-{name}"} if sidecar else {})
    meta: dict[str, Any] = {"labels": labels, "annotations": ann}
    if rs:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": rs}]
    spec = {"serviceAccountName": sa, "containers": [{"name": "app", "image": "x"}]}
    return obj("Pod", name, ns, meta=meta, spec=spec)


def service(ns: str, name: str, app: str) -> Document:
    return obj("Service", name, ns, spec={"selector": {"app": app}, "ports": [{"port": 80}]})


def target(ns: str, name: str, dest: str, sources: list[tuple[str, str]]) -> Document:
    spec = {
        "destination": {"kind": "ServiceAccount", "name": dest, "namespace": ns},
        "sources": [{"kind": "ServiceAccount", "name": n, "namespace": s} for s, n in sources],
        "rules": RULES,
    }
    return obj("TrafficTarget", name, ns, api="access.smi-spec.io/v1alpha3", spec=spec)


def findings(docs: list[Document], **options: Any) -> list[tuple]:
    problems = cluster_checks(docs, [], AnalyzeOptions(**options))
    return sorted((p.code, p.severity, str(p.ref), p.field, p.message, p.hint) for p in problems)


MESH_CONFIG = obj(
    "MeshConfig", "osm-mesh-config", "osm-system", api="config.openservicemesh.io/v1alpha2"
)


def test_a_namespace_of_another_mesh_holding_policies():
    docs = [
        MESH_CONFIG,
        namespace("theirs", {"openservicemesh.io/monitored-by": "other"}),
        namespace("ours", MESHED),
        obj("ServiceAccount", "x", "theirs"),
        obj("ServiceAccount", "x", "ours"),
        target("theirs", "t", "x", [("theirs", "x")]),
        target("ours", "t", "x", [("ours", "x")]),
    ]
    assert findings(docs) == [
        (
            "OSM0404",
            "warning",
            "Namespace/theirs",
            "metadata.labels",
            "namespace holds SMI policies but belongs to mesh [other], not [osm]: this mesh "
            "ignores them",
            "analyze mesh [other] with --mesh-name other, or move the namespace: "
            "osm namespace remove theirs --mesh-name other && osm namespace add theirs",
        )
    ]
    # Seen from the other mesh, the namespace is its own.
    assert [f[2] for f in findings(docs, mesh_name="other")] == ["Namespace/ours"]


def test_services_and_pods_without_sidecars_in_a_meshed_namespace():
    docs = [
        MESH_CONFIG,
        namespace("shop", MESHED, INJECT),
        namespace("outside"),
        obj("ServiceAccount", "default", "shop"),
        obj("ServiceAccount", "default", "outside"),
        pod("shop", "legacy-1", "legacy", "default", sidecar=False, rs="legacy-7f9c"),
        pod("shop", "loose", "loose", "default", sidecar=False),
        pod(
            "shop",
            "opted-out",
            "opted",
            "default",
            sidecar=False,
            **{"openservicemesh.io/sidecar-injection": "disabled"},
        ),
        pod("shop", "api-1", "api", "default", sidecar=True),
        pod("shop", "api-2", "api", "default", sidecar=False),  # one meshed pod is enough
        pod("outside", "plain", "plain", "default", sidecar=False),
        service("shop", "legacy", "legacy"),
        service("shop", "loose", "loose"),
        service("shop", "api", "api"),
        service("shop", "empty", "nobody"),
        service("outside", "plain", "plain"),
    ]
    assert findings(docs) == [
        (
            "OSM0401",
            "warning",
            "Service/shop/legacy",
            "spec.selector",
            "selects 1 pod(s), none with a sidecar: meshed clients cannot reach it over mTLS",
            "restart its pods so they get a sidecar: "
            "kubectl rollout restart deployment/legacy -n shop",
        ),
        (
            "OSM0401",
            "warning",
            "Service/shop/loose",
            "spec.selector",
            "selects 1 pod(s), none with a sidecar: meshed clients cannot reach it over mTLS",
            "restart its pods so they get a sidecar: delete and recreate them in namespace shop",
        ),
        (
            "OSM0402",
            "warning",
            "Pod/shop/api-2",
            "",
            "runs without its sidecar in a namespace with sidecar injection enabled (it started "
            "before the namespace joined the mesh): it is outside the mesh",
            "delete and recreate pod api-2 in namespace shop",
        ),
        (
            "OSM0402",
            "warning",
            "Pod/shop/legacy-1",
            "",
            "runs without its sidecar in a namespace with sidecar injection enabled (it started "
            "before the namespace joined the mesh): it is outside the mesh",
            "restart it: kubectl rollout restart deployment/legacy -n shop",
        ),
        (
            "OSM0402",
            "warning",
            "Pod/shop/loose",
            "",
            "runs without its sidecar in a namespace with sidecar injection enabled (it started "
            "before the namespace joined the mesh): it is outside the mesh",
            "delete and recreate pod loose in namespace shop",
        ),
    ]


def test_policy_subjects_whose_service_account_does_not_exist():
    docs = [
        MESH_CONFIG,
        namespace("shop", MESHED),
        obj("ServiceAccount", "api", "shop"),
        target("shop", "t", "api", [("shop", "ghost"), ("gone", "x"), ("unread", "y")]),
        namespace("unread", MESHED),
    ]
    got = findings(docs)
    assert got == [
        (
            "OSM0306",
            "warning",
            "TrafficTarget/shop/t",
            "spec.sources[0]",
            "ServiceAccount shop/ghost does not exist: this subject never matches",
            "create it (kubectl create serviceaccount ghost -n shop) or fix the name",
        ),
    ]


def test_a_missing_mesh_config_names_where_it_was_looked_for():
    assert findings([namespace("shop", MESHED)], osm_namespace="mesh-system") == [
        (
            "OSM0403",
            "warning",
            "MeshConfig/mesh-system/osm-mesh-config",
            "",
            "MeshConfig osm-mesh-config does not exist in namespace 'mesh-system': the "
            "controller uses the chart's defaults",
            "check --osm-namespace, or restore it with `osm mesh upgrade`",
        )
    ]
