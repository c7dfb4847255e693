"""Idle memory of a demo sidecar Envoy, against a bare Envoy with an empty bootstrap.

Issue 13 asks for a sidecar at <= 30 MiB RSS idle in the demo. Measured here, in one run:

- a bare Envoy (the same binary and flags, a bootstrap with only an admin listener): the floor
  any Envoy sidecar of this binary starts from;
- the sidecars of `osm demo`'s canary mesh (frontend, api-v1, api-v2: mTLS, RBAC, a 90/10
  split), after 50 requests through the frontend and 2 s of quiet;
- the cost of one more upstream cluster: a sidecar reaching 200 services (permissive mode)
  with the shipped bootstrap, against the same without deferred stats creation.

Each process is read from ``/proc/<pid>/smaps_rollup``: ``Rss`` (what ``ps`` and the issue
call RSS), ``Anonymous`` (the process's own heap, stacks and relocated data: what another
sidecar really adds), the rest of RSS being clean pages of the 107 MB Envoy binary mapped from
the page cache (shared by every Envoy started from the same file, dropped first under memory
pressure), and ``Pss`` (RSS with shared pages divided among the processes mapping them).

``python -m benchmarks.bench_sidecar_memory --knobs`` also measures each configuration knob
on the demo mesh, one mesh per knob (the table in docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks import Result

MiB = 1024
TARGET_MIB = 30
SERVICES = 200
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def smaps_rollup(pid: int) -> dict[str, int]:
    """KiB figures of /proc/<pid>/smaps_rollup (Rss, Pss, Anonymous, ...)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def bare_envoy() -> dict[str, int]:
    from osm_mesh.envoy.process import EnvoyProcess
    from osm_mesh.local.sidecar import envoy_binary

    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EnvoyProcess({"admin": admin}, tmp, name="bare", envoy_binary=envoy_binary()) as e,
    ):
        time.sleep(2)
        assert e.pid is not None
        return smaps_rollup(e.pid)


def demo_sidecars() -> list[dict[str, int]]:
    """smaps_rollup of each sidecar of the demo's canary mesh, idle after some traffic."""
    from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG
    from osm_mesh.local.runtime import LocalMesh

    paths = [MESH_CONFIG, MANIFESTS / "canary" / "app", MANIFESTS / "canary" / "smi"]
    with LocalMesh(paths) as mesh:
        frontend = next(p for p in mesh.pods if p.pod.deployment == "frontend")
        for _ in range(50):
            with _DIRECT.open(frontend.url + "/", timeout=10) as resp:
                assert resp.status == 200
        time.sleep(2)
        out = []
        for running in mesh.pods:
            assert running.envoy.pid is not None
            out.append(smaps_rollup(running.envoy.pid))
        return out


def many_clusters(services: int, bootstrap_change: Callable[[dict[str, Any]], None]) -> int:
    """Anonymous KiB of a sidecar that reaches ``services`` services (permissive mode)."""
    from osm_mesh.certs import CertificateAuthority
    from osm_mesh.envoy.process import EnvoyProcess
    from tests.e2e_envoy.harness import EnvoyMesh, deployment, service, service_account

    objects = [service_account("mem", "client"), deployment("mem", "client", "client")]
    for i in range(services):
        name = f"svc{i}"
        objects += [
            service_account("mem", name),
            deployment("mem", name, name),
            service("mem", name),
        ]
    with tempfile.TemporaryDirectory() as tmp:
        mesh = EnvoyMesh(Path(tmp), CertificateAuthority.create(), objects, permissive=True)
        try:
            config = mesh.cp.bootstrap_for(mesh.pod("client"))
            bootstrap_change(config)
            envoy = EnvoyProcess(config, Path(tmp), name="client")
            mesh.envoys["client"] = envoy.start()
            mesh.wait_ready(60)
            clusters = envoy.dynamic_names("clusters")
            assert len(clusters) >= services, len(clusters)
            time.sleep(2)
            assert envoy.pid is not None
            return smaps_rollup(envoy.pid)["Anonymous"]
        finally:
            mesh.close()


def _no_deferred_stats(config: dict[str, Any]) -> None:
    config.pop("deferred_stat_options", None)


def _unchanged(config: dict[str, Any]) -> None:
    pass


def run() -> list[Result]:
    bare = bare_envoy()
    sidecars = demo_sidecars()
    worst = max(sidecars, key=lambda s: s["Rss"])
    rss = worst["Rss"] / MiB
    anon = max(s["Anonymous"] for s in sidecars) / MiB
    pss = statistics.median(s["Pss"] for s in sidecars) / MiB
    one = many_clusters(1, _unchanged)
    shipped = many_clusters(SERVICES + 1, _unchanged)
    eager = many_clusters(SERVICES + 1, _no_deferred_stats)
    return [
        Result(
            f"demo sidecar idle RSS (largest of {len(sidecars)})",
            rss,
            "MiB",
            baseline="bare Envoy, empty bootstrap",
            baseline_value=bare["Rss"] / MiB,
            target=f"<= {TARGET_MIB} MiB",
            met=rss <= TARGET_MIB,
        ),
        Result(
            "demo sidecar anonymous memory (own heap, stacks, relocated data)",
            anon,
            "MiB",
            baseline="bare Envoy",
            baseline_value=bare["Anonymous"] / MiB,
        ),
        Result(
            "demo sidecar file-backed RSS (Envoy binary pages, shared)",
            (worst["Rss"] - worst["Anonymous"]) / MiB,
            "MiB",
            baseline="bare Envoy",
            baseline_value=(bare["Rss"] - bare["Anonymous"]) / MiB,
        ),
        Result(
            f"demo sidecar PSS (median of {len(sidecars)})",
            pss,
            "MiB",
            baseline="bare Envoy alone",
            baseline_value=bare["Pss"] / MiB,
        ),
        Result(
            "anonymous memory per upstream cluster (mTLS, EDS), shipped bootstrap",
            (shipped - one) / SERVICES,
            "KiB",
            baseline="without deferred stats creation",
            baseline_value=(eager - one) / SERVICES,
        ),
    ]


# -- knobs: one demo mesh per configuration change (docs/performance.md) ------------------------
Change = Callable[[dict[str, Any]], None]


@contextmanager
def sidecar_variant(
    bootstrap_change: Change = _unchanged, argv_change: Callable[[list[str]], list[str]] = list
) -> Iterator[None]:
    """Start the local mesh's sidecars with a changed bootstrap and/or command line."""
    from osm_mesh.local.sidecar import SidecarEnvoy

    original_argv = SidecarEnvoy.base_argv
    original_start = SidecarEnvoy.start

    def base_argv(self: SidecarEnvoy) -> list[str]:
        return argv_change(original_argv(self))

    def start(self: SidecarEnvoy, timeout: float = 15.0) -> SidecarEnvoy:
        bootstrap_change(self.bootstrap)
        return original_start(self, timeout)

    with (
        mock.patch.object(SidecarEnvoy, "base_argv", base_argv),
        mock.patch.object(SidecarEnvoy, "start", start),
    ):
        yield


def _set(key: str, value: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        config[key] = value

    return change


def _concurrency(n: int) -> Callable[[list[str]], list[str]]:
    def change(argv: list[str]) -> list[str]:
        argv = list(argv)
        argv[argv.index("--concurrency") + 1] = str(n)
        return argv

    return change


def _hot_restart(argv: list[str]) -> list[str]:
    return [a for a in argv if a != "--disable-hot-restart"] + ["--use-dynamic-base-id"]


_STATS_FOR_VIEWS = [  # what osm demo's live view, the Grafana dashboards and the tests read
    {
        "safe_regex": {
            "regex": r"^cluster\.[^.]+\.upstream_rq_(total|[2-5]xx|time|retry|pending_overflow)$"
        }
    },
    {"prefix": "server."},
    {"prefix": "control_plane."},
    {"prefix": "http.inbound."},
]

KNOBS: dict[str, tuple[Change, Callable[[list[str]], list[str]]]] = {
    "shipped (deferred stats, 1 worker, no hot restart)": (_unchanged, list),
    "stats created eagerly": (_no_deferred_stats, list),
    "--concurrency 2": (_unchanged, _concurrency(2)),
    "hot restart enabled": (_unchanged, _hot_restart),
    "tcmalloc release 1 GiB/0.5 s (memory_allocator_manager)": (
        _set(
            "memory_allocator_manager",
            {"bytes_to_release": 1 << 30, "memory_release_interval": "0.5s"},
        ),
        list,
    ),
    "stats inclusion list (only what views read)": (
        _set("stats_config", {"stats_matcher": {"inclusion_list": {"patterns": _STATS_FOR_VIEWS}}}),
        list,
    ),
    "no tag extraction (use_all_default_tags: false)": (
        _set("stats_config", {"use_all_default_tags": False}),
        list,
    ),
    "no stats at all (reject_all; loses features)": (
        _set("stats_config", {"stats_matcher": {"reject_all": True}}),
        list,
    ),
    "histograms not flushed on admin reads": (lambda c: c.pop("stats_flush_on_admin", None), list),
    # The V8 engine loaded only to register the `wasmcustom` stat namespace, so that the
    # request metrics come out as osm_request_total (envoy/telemetry.py); without it they
    # are still counted, as envoy_wasmcustom_osm_request_total.
    "no Wasm stat namespace (no V8; loses the osm_request_* names)": (
        lambda c: c.pop("bootstrap_extensions", None),
        list,
    ),
}


# What our sidecars use (osm_mesh/envoy): every other HTTP/network filter, access logger,
# tracer, stats sink, compressor and Wasm runtime can be disabled (names and their aliases).
_USED = {
    "envoy.filters.http/envoy.filters.http.router",
    "envoy.filters.http/envoy.router",
    "envoy.filters.http/envoy.filters.http.rbac",
    "envoy.filters.http/envoy.filters.http.fault",
    "envoy.filters.http/envoy.fault",
    "envoy.filters.http/envoy.filters.http.lua",
    "envoy.filters.http/envoy.lua",
    "envoy.filters.network/envoy.filters.network.http_connection_manager",
    "envoy.filters.network/envoy.http_connection_manager",
    "envoy.filters.network/envoy.filters.network.tcp_proxy",
    "envoy.filters.network/envoy.tcp_proxy",
    "envoy.filters.network/envoy.filters.network.rbac",
    # the request metrics (envoy/telemetry.py): stats access logger, V8 for the stat namespace
    "envoy.access_loggers/envoy.access_loggers.stats",
    "envoy.wasm.runtime/envoy.wasm.runtime.v8",
}
_UNUSED_CATEGORIES = (
    "envoy.filters.http",
    "envoy.filters.network",
    "envoy.access_loggers",
    "envoy.tracers",
    "envoy.stats_sinks",
    "envoy.compression.compressor",
    "envoy.compression.decompressor",
    "envoy.wasm.runtime",
)


def unused_extensions() -> list[str]:
    """category/name of the extensions of this Envoy binary our sidecars never use."""
    import json

    from osm_mesh.envoy.process import EnvoyProcess
    from osm_mesh.local.sidecar import envoy_binary

    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EnvoyProcess({"admin": admin}, tmp, name="info", envoy_binary=envoy_binary()) as e,
    ):
        _, body = e.admin_get("/server_info")
    names = [f"{x['category']}/{x['name']}" for x in json.loads(body)["node"]["extensions"]]
    return [n for n in names if n.split("/")[0] in _UNUSED_CATEGORIES and n not in _USED]


def knobs() -> None:
    unused = unused_extensions()
    KNOBS[f"--disable-extensions (the {len(unused)} unused filters, loggers, tracers...)"] = (
        _unchanged,
        lambda argv: [*argv, "--disable-extensions", ",".join(unused)],
    )
    bare = bare_envoy()
    print(f"{'variant':58s} {'RSS':>8s} {'anon':>8s} {'file':>8s} {'PSS':>8s}  (KiB, mean)")
    print(
        f"{'bare Envoy, empty bootstrap':58s} {bare['Rss']:8d} {bare['Anonymous']:8d} "
        f"{bare['Rss'] - bare['Anonymous']:8d} {bare['Pss']:8d}"
    )
    for name, (bootstrap_change, argv_change) in KNOBS.items():
        with sidecar_variant(bootstrap_change, argv_change):
            sidecars = demo_sidecars()

        def mean(key: str, of: list[dict[str, int]] = sidecars) -> float:
            return statistics.fmean(s[key] for s in of)

        rss, anon = mean("Rss"), mean("Anonymous")
        print(f"{name:58s} {rss:8.0f} {anon:8.0f} {rss - anon:8.0f} {mean('Pss'):8.0f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sidecar_memory")
    parser.add_argument("--knobs", action="store_true", help="measure each knob (slow)")
    if parser.parse_args().knobs:
        knobs()
    else:
        from benchmarks.__main__ import format_result

        for result in run():
            print(format_result(result))
