"""Side by side with upstream OSM v1.2.4 at 200, 400 and 800 pods (issue 13 item 5).

Upstream's controller (built from its Go module, `make upstream-osm`) and ours run in turn as
the processes of their real Pods on one real API server (tests/realkube), given the same
namespace, Services, Pods and SMI objects, and the same simulated proxies (benchmarks/adsload's,
each with a certificate from that mesh's own CA). benchmarks/upstreamscale/run.py says what is
measured. The baseline of every figure is upstream's, measured in the same run.

Sizes: ``OSM_UPSTREAM_SCALE_SIZES`` (default ``200,400,800``). Needs root (network namespaces),
`make kube` and `make upstream-osm`; ``OSM_REAL_CLUSTER=DIR`` reuses a running cluster.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from benchmarks import Result

DEFAULT_SIZES = (200, 400, 800)


def _sizes() -> tuple[int, ...]:
    raw = os.environ.get("OSM_UPSTREAM_SCALE_SIZES")
    return tuple(int(x) for x in raw.split(",")) if raw else DEFAULT_SIZES


def run() -> list[Result]:
    from benchmarks.upstreamscale.run import compare

    cluster = None
    if os.environ.get("OSM_REAL_CLUSTER"):
        from tests.realkube.cluster import attach

        cluster = attach(Path(os.environ["OSM_REAL_CLUSTER"]).resolve())
    measured = compare(_sizes(), cluster)
    for m in measured:  # the raw figures, for docs/performance.md
        print(json.dumps({**m.__dict__, "p50": m.change_p50, "max": m.change_max}),
              file=sys.stderr)  # fmt: skip
    results = []
    by = {(m.side, m.pods): m for m in measured}
    baseline = "upstream OSM v1.2.4"
    for pods in _sizes():
        ours, up = by[("ours", pods)], by[("upstream", pods)]
        results += [
            Result(f"upstream-scale {pods} pods: route change -> affected proxies, p50",
                   ours.change_p50 or 0.0, "ms", baseline, up.change_p50),
            Result(f"upstream-scale {pods} pods: route change, slowest of {len(ours.changes_ms)}",
                   ours.change_max or 0.0, "ms", baseline, up.change_max),
            Result(f"upstream-scale {pods} pods: proxies pushed per change (median)",
                   float(sorted(ours.pushed)[len(ours.pushed) // 2]) if ours.pushed else 0.0,
                   "proxies", baseline,
                   float(sorted(up.pushed)[len(up.pushed) // 2]) if up.pushed else None),
            Result(f"upstream-scale {pods} pods: all proxies synced from connect",
                   ours.synced_seconds, "s", baseline, up.synced_seconds),
            Result(f"upstream-scale {pods} pods: initial pushes over (3 s quiet) from connect",
                   ours.settled_seconds, "s", baseline, up.settled_seconds),
            Result(f"upstream-scale {pods} pods: controller RSS after the changes",
                   ours.rss_kib / 1024, "MiB", baseline, up.rss_kib / 1024),
            Result(f"upstream-scale {pods} pods: changes not seen within 120 s, proxy failures",
                   float(ours.timeouts + ours.failures), "count", baseline,
                   float(up.timeouts + up.failures)),
        ]  # fmt: skip
    return results
