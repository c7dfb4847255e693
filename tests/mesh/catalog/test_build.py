"""Catalog building: protocols, selectors, endpoints, monitored namespaces, determinism."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from osm_mesh.catalog import FrozenMap, Identity, build_catalog, port_protocol
from osm_mesh.catalog.loader import load_paths, parse_documents

DATA = Path(__file__).resolve().parents[2] / "data"


def ns(name, monitored=True, ignore=False):
    labels = {}
    if monitored:
        labels["openservicemesh.io/monitored-by"] = "osm"
    if ignore:
        labels["openservicemesh.io/ignore"] = "true"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def svc(name, namespace, selector, ports):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": ports},
    }


def pod(name, namespace, labels, sa="default", ip="10.0.0.1", ports=()):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "serviceAccountName": sa,
            "containers": [{"name": "c", "ports": [dict(p) for p in ports]}],
        },
        "status": {"podIP": ip},
    }


@pytest.mark.parametrize(
    ("port", "protocol"),
    [
        ({"name": "http-web", "port": 80}, "http"),
        ({"name": "tcp-db", "port": 5432}, "tcp"),
        ({"name": "grpc-api", "port": 9000}, "grpc"),
        ({"name": "grpc", "port": 9000}, "grpc"),
        ({"name": "api-port", "port": 80}, "http"),
        ({"name": "httpish", "port": 80}, "http"),
        ({"name": "tcpx", "port": 80}, "http"),
        ({"port": 80}, "http"),
        ({"name": "http-web", "port": 80, "appProtocol": "tcp"}, "tcp"),
        ({"name": "client", "port": 3306, "appProtocol": "tcp"}, "tcp"),
        ({"name": "x", "port": 53, "protocol": "UDP"}, "udp"),
        ({"name": "x", "port": 80, "appProtocol": "kubernetes.io/h2c"}, "http"),
    ],
)
def test_port_protocol(port, protocol):
    assert port_protocol(port) == protocol


def test_selectors_endpoints_and_named_target_ports():
    catalog = build_catalog(
        [
            ns("shop"),
            svc("api", "shop", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": "web"}]),
            svc("api-v2", "shop", {"app": "api", "v": "2"}, [{"port": 80, "targetPort": 8080}]),
            svc("none", "shop", {}, [{"port": 80}]),
            pod(
                "api-1",
                "shop",
                {"app": "api", "v": "1"},
                "api",
                "10.0.0.1",
                [{"name": "web", "containerPort": 8081}],
            ),
            pod(
                "api-2",
                "shop",
                {"app": "api", "v": "2"},
                "api",
                "10.0.0.2",
                [{"name": "web", "containerPort": 8082}],
            ),
            pod("pending", "shop", {"app": "api", "v": "2"}, "api", ""),
            pod("web-1", "shop", {"app": "web"}, "web"),
        ]
    )
    api = catalog.service("shop", "api")
    v2 = catalog.service("shop", "api-v2")
    assert api is not None and v2 is not None
    assert [p.name for p in catalog.pods_of_service(api)] == ["api-1", "api-2", "pending"]
    assert [p.name for p in catalog.pods_of_service(v2)] == ["api-2", "pending"]
    assert catalog.pods_of_service(catalog.service("shop", "none")) == ()  # empty selector
    assert [(e.ip, e.port) for e in catalog.endpoints(api, 80)] == [
        ("10.0.0.1", 8081),
        ("10.0.0.2", 8082),
    ]
    assert [(e.ip, e.port) for e in catalog.endpoints(v2, 80)] == [("10.0.0.2", 8080)]
    assert catalog.endpoints(api, 81) == ()
    api2 = catalog.pod("shop", "api-2")
    assert api2 is not None
    assert [s.name for s in catalog.services_of_pod(api2)] == ["api", "api-v2"]
    assert catalog.identity_of(api2) == Identity("shop", "api")
    assert [s.name for s in catalog.services_of_identity(Identity("shop", "api"))] == [
        "api",
        "api-v2",
    ]
    assert catalog.identities() == (Identity("shop", "api"), Identity("shop", "web"))


def test_monitored_namespaces():
    objects = [
        ns("in"),
        ns("out", monitored=False),
        ns("ignored", ignore=True),
        svc("a", "in", {"app": "a"}, [{"port": 80}]),
        svc("b", "out", {"app": "b"}, [{"port": 80}]),
        svc("c", "ignored", {"app": "c"}, [{"port": 80}]),
        svc("d", "undeclared", {"app": "d"}, [{"port": 80}]),
    ]
    by_label = build_catalog(objects)
    assert by_label.monitored_namespaces == {"in"}
    assert [s.name for s in by_label.services] == ["a"]
    assert by_label.namespaces == ("ignored", "in", "out", "undeclared")
    assert {s.name for s in build_catalog(objects, monitored="all").services} == {
        "a",
        "b",
        "c",
        "d",
    }
    assert [s.name for s in build_catalog(objects, monitored=["out"]).services] == ["b"]
    assert [s.name for s in build_catalog(objects, monitored="out").services] == ["b"]
    assert build_catalog(objects, mesh_name="other").monitored_namespaces == frozenset()


def test_deployments_become_pods_with_stable_uuids_and_hooked_ips():
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "serviceAccountName": "api-sa",
                    "containers": [{"name": "c", "ports": [{"containerPort": 80}]}],
                },
            },
        },
    }
    seen = []

    def hook(namespace, deployment, replica, pod_name):
        seen.append((namespace, deployment, replica, pod_name))
        return f"127.0.1.{replica + 1}"

    first = build_catalog([ns("shop"), dep], pod_ip=hook)
    again = build_catalog([ns("shop"), dep], pod_ip=hook)
    assert [(p.name, p.ip, p.service_account, p.deployment) for p in first.pods] == [
        ("api-0", "127.0.1.1", "api-sa", "api"),
        ("api-1", "127.0.1.2", "api-sa", "api"),
    ]
    assert seen[:2] == [("shop", "api", 0, "api-0"), ("shop", "api", 1, "api-1")]
    assert [p.proxy_uuid for p in first.pods] == [p.proxy_uuid for p in again.pods]
    assert first.pods[0].proxy_uuid != first.pods[1].proxy_uuid
    assert first.pod_by_uuid(first.pods[1].proxy_uuid or "") == first.pods[1]
    # Real pods of the Deployment replace the synthesized ones.
    real = pod("api-7d9f-abcde", "shop", {"app": "api"}, "api-sa")
    real["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "api-7d9f"}]
    assert [p.name for p in build_catalog([ns("shop"), dep, real]).pods] == ["api-7d9f-abcde"]


def test_catalog_is_deterministic_and_immutable():
    objects = [ns("shop")] + [
        svc(f"s{i}", "shop", {"app": f"a{i % 3}"}, [{"port": 80}]) for i in range(20)
    ]
    objects += [pod(f"p{i}", "shop", {"app": f"a{i % 3}"}, f"sa{i % 2}") for i in range(20)]
    shuffled = list(objects)
    random.Random(7).shuffle(shuffled)
    a, b = build_catalog(objects), build_catalog(shuffled)
    assert a == b
    assert [s.name for s in a.services] == sorted(s.name for s in a.services)
    with pytest.raises(AttributeError):
        a.services = ()  # type: ignore[misc]
    labels = a.pods[0].labels
    assert isinstance(labels, FrozenMap) and hash(labels) == hash(FrozenMap(dict(labels)))
    with pytest.raises(TypeError):
        labels["x"] = "y"  # type: ignore[index]


def test_smi_objects_and_mesh_config_from_the_article():
    result = load_paths([DATA / "article"])
    catalog = build_catalog(result.documents)
    assert catalog.monitored_namespaces == {"osm-simple-app", "osm-canary-deployment-sample-app"}
    assert not catalog.permissive  # the article's MeshConfig: SMI mode
    assert [t.name for t in catalog.traffic_targets] == ["api-v1", "api-v2", "api"]
    assert [s.name for s in catalog.traffic_splits] == ["canary-deployment"]
    assert catalog.http_route_group("osm-simple-app", "api-service-routes") is not None
    assert catalog.problems == ()
    assert [
        t.name
        for t in catalog.traffic_targets_to(Identity("osm-simple-app", "api-service-account"))
    ] == ["api"]


def test_invalid_objects_are_dropped_and_reported_with_place():
    docs, problems = parse_documents(
        "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\n"
        "metadata: {name: s, namespace: x}\n"
        "spec: {service: a, backends: [{service: b, weight: -1}]}\n",
        "f.yaml",
    )
    assert problems == []
    catalog = build_catalog(docs, monitored="all")
    assert catalog.traffic_splits == ()
    [problem] = catalog.problems
    assert (problem.file, problem.line, problem.severity) == ("f.yaml", 1, "error")


def test_loader_handles_lists_multidoc_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "---\napiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ServiceAccount, metadata: {name: a}}\n"
        "---\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b}\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "c"}}'
    )
    (tmp_path / "notes.txt").write_text("ignored")
    result = load_paths([tmp_path])
    assert [d.obj["metadata"]["name"] for d in result.documents] == ["a", "b", "c"]
    assert [d.line for d in result.documents] == [2, 8, 1]
    assert result.problems == []
