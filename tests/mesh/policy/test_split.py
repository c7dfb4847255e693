"""TrafficSplit evaluation: backend dropping, weights, matches, the article's root Service."""

from __future__ import annotations

from pathlib import Path

from osm_mesh.catalog import Identity, build_catalog
from osm_mesh.catalog.loader import load_paths
from osm_mesh.policy import allowed_routes, split_backends, split_for, split_matches

DATA = Path(__file__).resolve().parents[2] / "data"
CANARY = "osm-canary-deployment-sample-app"


def article(extra=(), pod_ip=lambda *a: "127.0.0.2"):
    docs = load_paths([DATA / "article"]).documents
    return build_catalog(list(docs) + list(extra), pod_ip=pod_ip)


def svc(name, selector, port=80):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": CANARY},
        "spec": {"selector": selector, "ports": [{"port": port, "name": "http"}]},
    }


def split(backends, name="canary-deployment", version="v1alpha2", matches=None):
    spec = {"service": "api", "backends": [{"service": s, "weight": w} for s, w in backends]}
    if matches:
        spec["matches"] = [{"kind": "HTTPRouteGroup", "name": m} for m in matches]
    return {
        "apiVersion": f"split.smi-spec.io/{version}",
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": CANARY},
        "spec": spec,
    }


def test_article_canary_root_without_endpoints_still_splits():
    c = article()
    root = c.service(CANARY, "api")
    assert root is not None and c.pods_of_service(root) == ()  # the article's flaw
    assert [(s.name, w) for s, w in split_backends(c, root, 80)] == [("api-v1", 90), ("api-v2", 10)]
    assert split_matches(c, split_for(c, root)) is None


def test_backends_are_dropped_when_missing_empty_or_port_mismatched():
    c = article(
        [
            svc("api-v3", {"app": "nothing"}),
            svc("api-v4", {"app": "api-v2"}, port=8080),
            split(
                [("api-v1", 50), ("api-v2", 0), ("api-gone", 10), ("api-v3", 10), ("api-v4", 10)]
            ),
        ]
    )
    root = c.service(CANARY, "api")
    assert [(s.name, w) for s, w in split_backends(c, root, 80)] == [("api-v1", 50)]
    assert [(s.name, w) for s, w in split_backends(c, root)] == [("api-v1", 50), ("api-v4", 10)]


def test_backends_without_pod_ips_have_no_endpoints():
    c = article(pod_ip=None)
    assert split_backends(c, c.service(CANARY, "api"), 80) == ()


def test_not_a_root_and_split_matches():
    c = article(
        [
            {
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "HTTPRouteGroup",
                "metadata": {"name": "beta", "namespace": CANARY},
                "spec": {"matches": [{"name": "b", "headers": {"x-beta": "1"}}]},
            },
            split([("api-v2", 1)], version="v1alpha4", matches=["beta"]),
        ]
    )
    assert split_backends(c, c.service(CANARY, "frontend"), 80) == ()
    root = c.service(CANARY, "api")
    matches = split_matches(c, split_for(c, root))
    assert matches is not None and [m.name for m in matches] == ["b"]


def test_a_split_grants_no_access():
    c = article()
    frontend = Identity(CANARY, "frontend-service-account")
    v2 = Identity(CANARY, "api-v2-service-account")
    assert allowed_routes(c, frontend, v2).allowed
    without = build_catalog(
        [
            d
            for d in load_paths([DATA / "article"]).documents
            if not (d.obj["kind"] == "TrafficTarget" and d.obj["metadata"]["name"] == "api-v2")
        ]
    )
    assert split_for(without, without.service(CANARY, "api")) is not None
    assert not allowed_routes(without, frontend, v2).allowed


def test_the_smallest_weight_still_counts():
    c = article([split([("api-v1", 99), ("api-v2", 1)])])
    root = c.service(CANARY, "api")
    assert [(s.name, w) for s, w in split_backends(c, root, 80)] == [("api-v1", 99), ("api-v2", 1)]
