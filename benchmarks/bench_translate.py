"""Full recompute of a 1,000-service / 2,000-pod / 1,000-TrafficTarget mesh, and memory.

"Full recompute" = everything the control plane does when the catalog changes: build the
catalog from the objects, translate every one of the 2,000 proxies (identity certificates
already issued: they are reused across recomputes until renewal), and store each proxy's
snapshot in the SnapshotCache (which serializes every resource to compare versions).

Baseline (same run): building the catalog alone from the same objects, i.e. the part of a
recompute that does not depend on the translation; the ratio says what translating and
snapshotting cost on top of merely reading the mesh state.

Memory: growth of the process RSS (protobuf messages live in upb arenas that tracemalloc
cannot see) while building catalog + index + 2,000 snapshots with every resource serialized
as served (``Any``) + 1,000 identity certificates, divided by the 2,000 meshed pods.
"""

from __future__ import annotations

import gc
import statistics
import time

from benchmarks import Result
from benchmarks.bench_catalog import mesh_objects


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run() -> list[Result]:
    from osm_mesh.catalog import build_catalog
    from osm_mesh.certs import CertificateAuthority, CertManager
    from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, mesh_index, translate
    from osm_mesh.xds.cache import SnapshotCache

    objects = mesh_objects()
    options = TranslateOptions()
    ca = CertificateAuthority.create()
    certs = CertManager(ca)

    catalog = build_catalog(objects)
    identities = catalog.identities()
    t0 = time.perf_counter()
    for identity in identities[:200]:
        ca.issue(identity)
    issue_seconds = (time.perf_counter() - t0) / 200
    proxies = [ProxyIdentity(p.proxy_uuid or "", p.identity) for p in catalog.pods]
    assert len(proxies) == 2000 and len(catalog.traffic_targets) == 1000

    # Memory first, before timing runs leave freed-but-mapped memory behind.
    gc.collect()
    before = rss_bytes()
    fresh_certs = CertManager(ca)
    for identity in identities:
        fresh_certs.get(identity)
    fresh = SnapshotCache()
    cat = build_catalog(objects)
    index = mesh_index(cat, options)
    fresh.set_snapshots(
        {
            p.proxy_uuid: translate(
                cat, p, options, fresh_certs.get(p.identity), index=index
            ).by_type()
            for p in proxies
        }
    )
    gc.collect()
    per_pod = (rss_bytes() - before) / len(proxies)
    del fresh, fresh_certs, cat, index

    def recompute(cache: SnapshotCache) -> int:
        cat = build_catalog(objects)
        index = mesh_index(cat, options)
        batch = {
            p.proxy_uuid: translate(cat, p, options, certs.get(p.identity), index=index).by_type()
            for p in proxies
        }
        cache.set_snapshots(batch)
        return len(batch)

    def timed(fn, repeat=3):
        times = []
        for _ in range(repeat):
            gc.collect()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    build = timed(lambda: build_catalog(objects))
    cache = SnapshotCache()
    full = timed(lambda: recompute(cache))

    def translate_only():
        cat = build_catalog(objects)
        index = mesh_index(cat, options)
        for proxy in proxies:
            translate(cat, proxy, options, certs.get(proxy.identity), index=index)

    translate_time = timed(translate_only) - build

    # The same mesh in permissive mode (OSM's default): every proxy reaches all 1,000 services.
    permissive_objects = [dict(o) for o in objects]
    permissive_objects[0] = {
        **objects[0],
        "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": True}},
    }

    def recompute_permissive(cache: SnapshotCache) -> None:
        cat = build_catalog(permissive_objects)
        assert cat.permissive
        index = mesh_index(cat, options)
        cache.set_snapshots(
            {
                p.proxy_uuid: translate(
                    cat, p, options, certs.get(p.identity), index=index
                ).by_type()
                for p in proxies
            }
        )

    permissive_cache = SnapshotCache()
    permissive = timed(lambda: recompute_permissive(permissive_cache), repeat=1)

    return [
        Result(
            "full recompute (catalog + translate + snapshot) for 2,000 proxies",
            full * 1000,
            "ms",
            baseline="catalog build alone",
            baseline_value=build * 1000,
            target="<= 1000 ms",
            met=full <= 1.0,
        ),
        Result(
            "full recompute, same mesh in permissive mode (1,000 routes per proxy)",
            permissive * 1000,
            "ms",
            baseline="catalog build alone",
            baseline_value=build * 1000,
        ),
        Result(
            "translation alone for 2,000 proxies",
            translate_time * 1000,
            "ms",
            baseline="catalog build alone",
            baseline_value=build * 1000,
        ),
        Result(
            "control-plane memory per meshed pod (snapshots served + index + certs)",
            per_pod / 1024,
            "KiB",
            target="<= 512 KiB (0.5 MB; OSM ~1 MB)",
            met=per_pod <= 512 * 1024,
        ),
        Result(
            "certificate issue, EC P-256, per identity (not in recomputes: reused until renewal)",
            issue_seconds * 1000,
            "ms",
        ),
    ]
