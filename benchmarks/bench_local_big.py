"""A big manifest on the local mesh (issue 12.9): 25,000 objects / 9 MB ready in ≤ 3 s.

The file: the demo's access app (frontend and api, 2 pods with real Envoy sidecars, SMI
mode) plus 1,000 namespaces each with a Namespace, a ServiceAccount, a Service, a
TrafficTarget and an HTTPRouteGroup, and 20 ConfigMaps each (~330 bytes of data): 25,000+
objects, ~9 MB, one multi-document YAML file as `kubectl get -o yaml` tools write them.

Measured, as a user's `osm local run -f big.yaml` does it: ``LocalMesh([file]).start()``
until every pod is ready and every sidecar ACKed its configuration — reading, the lint
checks, the catalog, the translation, the processes. Baseline in the same run: PyYAML's C
loader (``CSafeLoader``) parsing the same file — what `osm policy lint` used when the issue
measured ~1 s for it and 11 s for the local mesh. Also shown:
the pure-Python loader the local mesh used before (``yaml.safe_load_all``), which alone took
most of the 11 s the issue measured.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks import Result

RUNS = int(os.environ.get("OSM_BENCH_RUNS", "3"))
TARGET_SECONDS = 3.0
# The figures: ready in <= 3 s where lint's C-loader parse took about 1 s.
RATIO = 3.0
NAMESPACES = 1_000
CONFIG_MAPS_PER_NAMESPACE = 20
DEMO = Path(__file__).resolve().parents[1] / "osm_mesh" / "local" / "manifests"


def _namespace_objects(i: int) -> list[dict]:
    ns = f"team-{i:04d}"
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "app", "namespace": ns},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "app", "namespace": ns, "labels": {"team": ns}},
            "spec": {"selector": {"app": "app"}, "ports": [{"name": "http", "port": 80}]},
        },
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "HTTPRouteGroup",
            "metadata": {"name": "routes", "namespace": ns},
            "spec": {"matches": [{"name": "api", "pathRegex": "/api/.*", "methods": ["GET"]}]},
        },
        {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "app", "namespace": ns},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "app", "namespace": ns},
                "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["api"]}],
                "sources": [{"kind": "ServiceAccount", "name": "app", "namespace": ns}],
            },
        },
    ]
    for j in range(CONFIG_MAPS_PER_NAMESPACE):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"settings-{j:02d}",
                    "namespace": ns,
                    "labels": {"team": ns, "part": f"settings-{j:02d}"},
                },
                "data": {
                    "LOG_LEVEL": "info",
                    "FEATURE_FLAGS": "search,checkout,recommendations,reviews",
                    "UPSTREAM_URL": f"http://app.{ns}.svc.cluster.local/api/v1/items",
                    "CACHE_TTL_SECONDS": str(60 + j),
                    "DESCRIPTION": f"settings {j} of {ns}: " + "x" * 60,
                },
            }
        )
    return objects


def write_big_manifest(path: Path, namespaces: int = NAMESPACES) -> int:
    """Write the benchmark's manifest to ``path``; returns the number of objects."""
    demo = [
        doc
        for f in sorted([DEMO / "mesh-config.yml", *(DEMO / "simple" / "app").glob("*.yml")])
        for doc in yaml.safe_load_all(f.read_text())
        if doc
    ]
    count = len(demo)
    with open(path, "w") as out:
        out.write(yaml.dump_all(demo, Dumper=yaml.CSafeDumper, sort_keys=False))
        for i in range(namespaces):
            objects = _namespace_objects(i)
            count += len(objects)
            out.write("---\n")
            out.write(yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False))
    return count


def _c_loader_parse(path: Path) -> float:
    started = time.perf_counter()
    assert list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
    return time.perf_counter() - started


def _pure_python_parse(path: Path) -> float:
    started = time.perf_counter()
    assert list(yaml.safe_load_all(path.read_text()))
    return time.perf_counter() - started


def _ready(path: Path, work: Path) -> float:
    from osm_mesh.local.runtime import LocalMesh

    started = time.perf_counter()
    mesh = LocalMesh([path], work_dir=work)
    try:
        mesh.start(timeout=120)
        seconds = time.perf_counter() - started
        assert len(mesh.pods) == 2 and mesh.traffic_policy.mode == "smi"
    finally:
        mesh.stop()
    return seconds


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-local-big-") as tmp:
        path = Path(tmp) / "big.yaml"
        objects = write_big_manifest(path)
        megabytes = path.stat().st_size / 1e6
        ready: list[float] = []
        parse: list[float] = []
        for i in range(RUNS):
            parse.append(_c_loader_parse(path))
            ready.append(_ready(path, Path(tmp) / f"work-{i}"))
        pure = _pure_python_parse(path)
    value, baseline = statistics.median(ready), statistics.median(parse)
    what = f"{objects:,} objects, {megabytes:.1f} MB"
    load = os.getloadavg()[0]
    return [
        Result(
            name=f"osm local run of {what}: ready (median of {RUNS}, load {load:.1f})",
            value=value,
            unit="s",
            baseline="PyYAML's C loader parsing the same file",
            baseline_value=baseline,
            # 3 s when the C loader takes ~1 s (the machine): a ratio, so a loaded
            # machine does not decide it; the absolute figure is printed beside it.
            target=f"<= {TARGET_SECONDS:.0f} s at ~1 s of C-loader parse (ratio <= {RATIO:.0f})",
            met=value <= RATIO * baseline,
        ),
        Result(
            name="  the pure-Python YAML loader alone (what local run used before)",
            value=pure,
            unit="s",
            baseline="PyYAML's C loader parsing the same file",
            baseline_value=baseline,
        ),
    ]
