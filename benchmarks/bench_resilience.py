"""Resilience policies: what they cost the control plane, and how precisely Envoy applies them.

1. Control plane: a full recompute (catalog + translate + snapshot for 2,000 proxies) of the
   1,000-service mesh of ``bench_catalog`` with an UpstreamTrafficSetting (circuit breaker,
   request timeout, one per-path timeout, outlier detection) on every Service, a Retry on
   every TrafficTarget's source -> destination, and a FaultInjection on every tenth Service.
   Baseline (same run): the same mesh without those 2,100 policies.
2. Real Envoys (one client sidecar, one server sidecar, local mode):
   - request timeout 200 ms on a 2 s upstream: time until the 504; baseline = the configured
     200 ms (ratio 1.0 = exact);
   - circuit breaker (1 connection / 1 pending / 1 request) under 8 concurrent slow calls: time
     until a shed request gets its 503; baseline = a plain fast request through both sidecars;
   - a request that succeeds on its third attempt (2 retries, 10 ms backoff base); baseline =
     the same request succeeding at once.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import Result
from benchmarks.bench_catalog import mesh_objects

POLICY = "policy.openservicemesh.io/v1alpha1"


def policy_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    services = [o for o in objects if o["kind"] == "Service"]
    for i, svc in enumerate(services):
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        out.append(
            {
                "apiVersion": POLICY,
                "kind": "UpstreamTrafficSetting",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "host": f"{name}.{ns}.svc.cluster.local",
                    "connectionSettings": {
                        "tcp": {"maxConnections": 100},
                        "http": {"maxPendingRequests": 50, "maxRequests": 200},
                    },
                    "requestTimeout": "5s",
                    "httpRoutes": [{"path": "/reports", "requestTimeout": "30s"}],
                    "outlierDetection": {"consecutive5xxErrors": 5},
                },
            }
        )
        if i % 10 == 0:
            out.append(
                {
                    "apiVersion": POLICY,
                    "kind": "FaultInjection",
                    "metadata": {"name": f"{name}-chaos", "namespace": ns},
                    "spec": {"host": name, "abort": {"httpStatus": 503, "percentage": 1}},
                }
            )
    for target in (o for o in objects if o["kind"] == "TrafficTarget"):
        spec, ns = target["spec"], target["metadata"]["namespace"]
        source = spec["sources"][0]
        out.append(
            {
                "apiVersion": POLICY,
                "kind": "Retry",
                "metadata": {"name": f"{target['metadata']['name']}-retry", "namespace": ns},
                "spec": {
                    "source": {
                        "kind": "ServiceAccount",
                        **{k: source[k] for k in ("name", "namespace")},
                    },
                    "destinations": [
                        {"kind": "Service", "name": spec["destination"]["name"], "namespace": ns}
                    ],
                    "retryPolicy": {"retryOn": "5xx", "numRetries": 2, "perTryTimeout": "1s"},
                },
            }
        )
    return out


def control_plane() -> list[Result]:
    from osm_mesh.catalog import build_catalog
    from osm_mesh.certs import CertificateAuthority, CertManager
    from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, mesh_index, translate
    from osm_mesh.xds.cache import SnapshotCache

    plain = mesh_objects()
    policies = policy_objects(plain)
    with_policies = plain + policies
    options = TranslateOptions()
    certs = CertManager(CertificateAuthority.create())
    catalog = build_catalog(with_policies)
    assert len(catalog.retries) == 1000 and len(catalog.upstream_traffic_settings) == 1000
    assert not [p for p in catalog.problems if p.severity == "error"]
    proxies = [ProxyIdentity(p.proxy_uuid or "", p.identity) for p in catalog.pods]
    for p in proxies:
        certs.get(p.identity)

    def recompute(objects: list[dict[str, Any]]) -> None:
        cat = build_catalog(objects)
        index = mesh_index(cat, options)
        SnapshotCache().set_snapshots(
            {
                p.proxy_uuid: translate(
                    cat, p, options, certs.get(p.identity), index=index
                ).by_type()
                for p in proxies
            }
        )

    def timed(objects: list[dict[str, Any]]) -> float:
        times = []
        for _ in range(3):
            gc.collect()
            start = time.perf_counter()
            recompute(objects)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    baseline, measured = timed(plain), timed(with_policies)
    return [
        Result(
            f"full recompute for 2,000 proxies with {len(policies)} resilience policies",
            measured * 1000,
            "ms",
            baseline="same mesh without resilience policies",
            baseline_value=baseline * 1000,
            target="<= 1.5x the mesh without policies",
            met=measured <= 1.5 * baseline,
        )
    ]


def envoys() -> list[Result]:
    from osm_mesh.certs import CertificateAuthority
    from tests.e2e_envoy.harness import (
        EnvoyMesh,
        deployment,
        route_group,
        service,
        service_account,
        traffic_target,
    )
    from tests.e2e_envoy.test_resilience import (
        NS,
        ScriptedApp,
        get,
        retry,
        upstream_setting,
    )

    objects = [
        service_account(NS, "api"),
        service_account(NS, "frontend"),
        deployment(NS, "api", "api"),
        deployment(NS, "frontend", "frontend"),
        service(NS, "api"),
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        traffic_target(NS, "api", "api", ["frontend"], "all"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        mesh = EnvoyMesh(Path(tmp), CertificateAuthority.create(), objects)
        app = ScriptedApp(mesh.pod("api").ip)
        try:
            mesh.start_envoy("api")
            mesh.start_envoy("frontend")
            mesh.wait_ready()
            conn = mesh.connection("frontend")
            for _ in range(20):
                get(mesh, "/", conn)
            fast = statistics.median(get(mesh, "/", conn)[2] for _ in range(50))

            mesh.change([upstream_setting({"requestTimeout": "200ms"})])
            cuts = [get(mesh, "/sleep/2000") for _ in range(5)]
            assert all(status == 504 for status, _, _ in cuts)
            timeout = statistics.median(t for _, _, t in cuts)

            breaker = {
                "connectionSettings": {
                    "tcp": {"maxConnections": 1},
                    "http": {"maxPendingRequests": 1, "maxRequests": 1},
                }
            }
            mesh.change([upstream_setting(breaker)])
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: get(mesh, "/sleep/500"), range(8)))
            shed = statistics.median(t for s, h, t in results if s == 503)

            mesh.source.delete("UpstreamTrafficSetting", "api", NS)
            mesh.change([retry(3)])
            conn.close()
            conn = mesh.connection("frontend")
            retried = statistics.median(get(mesh, f"/fail/bench{i}/2", conn)[2] for i in range(10))
            direct = statistics.median(get(mesh, f"/fail/direct{i}/0", conn)[2] for i in range(10))
            conn.close()
        finally:
            mesh.close()
            app.stop()
    return [
        Result(
            "request timeout 200 ms: time to the 504 (2 s upstream)",
            timeout * 1000,
            "ms",
            baseline="configured timeout",
            baseline_value=200.0,
            target="<= 1.25x the configured timeout",
            met=timeout <= 0.25,
        ),
        Result(
            "circuit breaker: time to a shed 503 (x-envoy-overloaded) under 8 concurrent calls",
            shed * 1000,
            "ms",
            baseline="plain request through both sidecars",
            baseline_value=fast * 1000,
            target="shed without waiting for the upstream (< 100 ms)",
            met=shed < 0.1,
        ),
        Result(
            "request succeeding on its 3rd attempt (2 retries, 10 ms backoff base)",
            retried * 1000,
            "ms",
            baseline="same request succeeding at once",
            baseline_value=direct * 1000,
        ),
    ]


def run() -> list[Result]:
    return control_plane() + envoys()
