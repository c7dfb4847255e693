"""Catalog build, policy evaluation and lint at the issue's scale.

A 1,000-service / 2,000-pod / 1,000-TrafficTarget mesh (issue 5: full recompute including
translation <= 1 s, so the catalog part must be a small fraction of that). Baselines run
in the same process: a JSON round trip of the same objects (the floor for touching every
object once) and ``yaml.safe_load_all`` of the same manifests (the floor for lint).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import Result


def mesh_objects(
    services: int = 1000, pods: int = 2000, targets: int = 1000
) -> list[dict[str, Any]]:
    """A synthetic mesh: 10 namespaces, one SA + Service per app, 2 pods per app, and one
    TrafficTarget + HTTPRouteGroup per app letting the previous app call it."""
    namespaces = 10
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": False}},
        }
    ]
    for n in range(namespaces):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": f"ns{n}",
                    "labels": {"openservicemesh.io/monitored-by": "osm"},
                },
            }
        )
    per_app = max(1, pods // services)
    for i in range(services):
        ns, app = f"ns{i % namespaces}", f"app{i}"
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": app, "namespace": ns},
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": app, "namespace": ns},
                "spec": {
                    "selector": {"app": app},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                },
            }
        )
        for r in range(per_app):
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{app}-{r}",
                        "namespace": ns,
                        "labels": {"app": app, "osm-proxy-uuid": f"{i:08d}-{r}"},
                        # Replicas of a Deployment, as real pods are (through a ReplicaSet).
                        "ownerReferences": [{"kind": "ReplicaSet", "name": f"{app}-5d8f9c"}],
                    },
                    "spec": {
                        "serviceAccountName": app,
                        "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}],
                    },
                    "status": {"podIP": f"10.{i // 250}.{i % 250}.{r + 1}"},
                }
            )
    for i in range(targets):
        ns, app, src = f"ns{i % namespaces}", f"app{i}", f"app{(i - 1) % services}"
        src_ns = f"ns{((i - 1) % services) % namespaces}"
        objects.append(
            {
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "HTTPRouteGroup",
                "metadata": {"name": f"{app}-routes", "namespace": ns},
                "spec": {"matches": [{"name": "read", "pathRegex": "/items", "methods": ["GET"]}]},
            }
        )
        objects.append(
            {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": app, "namespace": ns},
                "spec": {
                    "destination": {"kind": "ServiceAccount", "name": app, "namespace": ns},
                    "sources": [{"kind": "ServiceAccount", "name": src, "namespace": src_ns}],
                    "rules": [
                        {"kind": "HTTPRouteGroup", "name": f"{app}-routes", "matches": ["read"]}
                    ],
                },
            }
        )
    return objects


def _median(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[Result]:
    import yaml

    from osm_mesh.catalog import build_catalog
    from osm_mesh.policy import inbound_rules
    from osm_mesh.policy.lint import lint_paths

    objects = mesh_objects()
    roundtrip = _median(lambda: json.loads(json.dumps(objects)))
    build = _median(lambda: build_catalog(objects))
    catalog = build_catalog(objects)
    assert len(catalog.services) == 1000 and len(catalog.pods) == 2000
    assert len(catalog.traffic_targets) == 1000 and not catalog.permissive

    def evaluate() -> None:
        for identity in catalog.identities():
            inbound_rules(catalog, identity)

    policy = _median(evaluate)
    tracemalloc.start()
    kept = build_catalog(objects)
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mesh.yaml"
        path.write_text(yaml.safe_dump_all(objects))
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        text = path.read_text()
        yaml_load = _median(lambda: list(yaml.load_all(text, Loader=loader)), repeat=1)
        lint = _median(lambda: lint_paths([path]), repeat=1)

    return [
        Result(
            "catalog build, 1,000 services / 2,000 pods / 1,000 TrafficTargets",
            build * 1000,
            "ms",
            baseline="JSON round trip of the same objects",
            baseline_value=roundtrip * 1000,
            target="<= 250 ms (a quarter of the 1 s full-recompute budget)",
            met=build <= 0.25,
        ),
        Result(
            "inbound policy evaluation for every identity (1,000)",
            policy * 1000,
            "ms",
            baseline="catalog build",
            baseline_value=build * 1000,
            target="<= 250 ms",
            met=policy <= 0.25,
        ),
        Result(
            "catalog memory per pod",
            size / 2000 / 1024,
            "KiB",
            target="<= 50 KiB (a tenth of the 0.5 MB per pod budget)",
            met=size / 2000 <= 50 * 1024,
        ),
        Result(
            "osm policy lint of the same mesh (one 8,000-object file)",
            lint * 1000,
            "ms",
            baseline="YAML parse of the file (same libyaml loader)",
            baseline_value=yaml_load * 1000,
            target="<= 3x the YAML parse",
            met=lint <= 3 * yaml_load,
        ),
    ]
