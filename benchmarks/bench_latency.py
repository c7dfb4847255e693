"""Latency added by two sidecars with mTLS + RBAC, measured by a real load generator.

Three paths to the same app (a `fortio server`, 1 KiB answers), each driven by `fortio load`
at 1,000 requests/s over 16 keep-alive connections for 10 s (Istio's published sidecar
figures use the same generator and rate):

- direct:  fortio ──HTTP──▶ app
- floor:   fortio ──▶ Envoy ──HTTP──▶ Envoy ──▶ app    (static config, no mTLS, no RBAC)
- mesh:    fortio ──▶ client sidecar (outbound 15001) ──mTLS──▶ server sidecar (inbound
           15003, RBAC from a TrafficTarget) ──▶ app    (configured by our control plane)

Both Envoy pairs are the same binary with the same flags (`--concurrency 1`). The three paths
run one after the other, ROUNDS times, in rotation; each figure is the median over the rounds
and the load average is recorded with each round. Added = mesh - direct (the target, as Istio
reports it); floor - direct is what two Envoys cost anyway, mesh - floor what mTLS, RBAC and
our configuration add on top.

fortio paces requests per connection and measures each from its actual send (no correction
for coordinated omission, unlike wrk2); its histogram resolution is set to 10 µs. The
generator, the app and four Envoys share the machine's 2 cores. fortio is installed by
`scripts/install-fortio.sh` (Go module, on demand).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import Result

QPS = 1000
CONNECTIONS = 16
SECONDS = int(os.environ.get("OSM_BENCH_LATENCY_SECONDS", "10"))
ROUNDS = int(os.environ.get("OSM_BENCH_LATENCY_ROUNDS", "3"))
PAYLOAD = 1024
TARGET_ADDED_P99_MS = 0.3
NS = "lat"
REPO = Path(__file__).resolve().parent.parent
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# e.g. -10 (root only): run generator, app and Envoys ahead of the machine's other jobs, to
# see what the paths cost when a CPU is free (off by default: the machine is shared).
NICE = os.environ.get("OSM_BENCH_LATENCY_NICE")


def fortio_binary() -> str:
    """fortio next to this interpreter or on PATH; else build it into the venv's bin."""
    local = Path(sys.executable).parent / "fortio"
    if local.exists():
        return str(local)
    found = shutil.which("fortio")
    if found:
        return found
    subprocess.run(
        ["bash", str(REPO / "scripts" / "install-fortio.sh"), str(local.parent)], check=True
    )
    return str(local)


def fortio_server(fortio: str, ip: str, port: int) -> subprocess.Popen[bytes]:
    """The app: fortio's HTTP echo server on ip:port only (its other listeners disabled)."""
    proc = subprocess.Popen(
        [
            fortio,
            "server",
            "-http-port",
            f"{ip}:{port}",
            *("-grpc-port", "disabled", "-redirect-port", "disabled"),
            *("-tcp-port", "disabled", "-udp-port", "disabled"),
            *("-loglevel", "error", "-data-dir", tempfile.gettempdir()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((ip, port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"fortio server did not listen on {ip}:{port}")


def schedstat(pids: list[int]) -> tuple[int, int]:
    """(ns on a CPU, ns waiting in a run queue) summed over every thread of ``pids``."""
    on_cpu = waiting = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                fields = (task / "schedstat").read_text().split()
            except OSError:  # the thread ended meanwhile
                continue
            on_cpu, waiting = on_cpu + int(fields[0]), waiting + int(fields[1])
    return on_cpu, waiting


def load(
    fortio: str, url: str, host: str, envoys: list[int], seconds: int = SECONDS
) -> dict[str, Any]:
    """One fortio run: percentiles in ms, achieved rate, non-200 count, load average, and
    the CPU time and run-queue wait of the path's Envoys per request (µs)."""
    load_avg = os.getloadavg()[0]
    cpu_before, wait_before = schedstat(envoys)
    done = subprocess.run(
        [
            fortio,
            "load",
            *("-qps", str(QPS), "-c", str(CONNECTIONS), "-t", f"{seconds}s"),
            *("-r", "0.00001", "-p", ",".join(f"{p:g}" for p in PERCENTILES)),
            *("-H", f"Host: {host}", "-uniform", "-quiet", "-json", "-"),
            f"{url}?size={PAYLOAD}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fortio load {url} failed: {done.stderr[-500:]}")
    cpu_after, wait_after = schedstat(envoys)
    report = json.loads(done.stdout)
    codes = report.get("RetCodes", {})
    hist = report["DurationHistogram"]
    count = max(hist["Count"], 1)
    return {
        "ms": {p["Percentile"]: p["Value"] * 1000 for p in hist["Percentiles"]},
        "qps": report["ActualQPS"],
        "count": hist["Count"],
        "errors": sum(n for code, n in codes.items() if str(code) != "200"),
        "load": load_avg,
        "cpu_us": (cpu_after - cpu_before) / 1000 / count,
        "wait_us": (wait_after - wait_before) / 1000 / count,
    }


def _http_listener(name: str, ip: str, port: int, cluster: str) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": name,
                            "route_config": {
                                "virtual_hosts": [
                                    {
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": "/"},
                                                "route": {"cluster": cluster},
                                            }
                                        ],
                                    }
                                ]
                            },
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/"
                                        "envoy.extensions.filters.http.router.v3.Router"
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }


def static_envoy(listen: tuple[str, int], upstream: tuple[str, int]) -> dict[str, Any]:
    """A bootstrap forwarding every HTTP request on ``listen`` to ``upstream`` (no TLS)."""
    from osm_mesh.envoy.bootstrap import loopback_cluster

    cluster = loopback_cluster("upstream", upstream[1])
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    address["socket_address"]["address"] = upstream[0]
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [_http_listener("floor", listen[0], listen[1], "upstream")],
            "clusters": [cluster],
        },
    }


def run() -> list[Result]:
    from benchmarks.bench_sidecar_memory import smaps_rollup
    from osm_mesh.certs import CertificateAuthority
    from osm_mesh.envoy.process import EnvoyProcess
    from tests.e2e_envoy.harness import (
        APP_PORT,
        EnvoyMesh,
        deployment,
        free_loopback_base,
        route_group,
        service,
        service_account,
        traffic_target,
    )

    fortio = fortio_binary()
    if NICE:
        # Inherited by every process started from here on (nice is per thread on Linux).
        os.setpriority(os.PRIO_PROCESS, 0, int(NICE))
    objects = [
        service_account(NS, "api"),
        service_account(NS, "load"),
        deployment(NS, "api", "api"),
        deployment(NS, "load", "load"),
        service(NS, "api"),
        route_group(NS, "r", [{"name": "echo", "pathRegex": "/echo", "methods": ["GET"]}]),
        traffic_target(NS, "t", "api", ["load"], "r"),
    ]
    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        mesh = EnvoyMesh(Path(tmp), CertificateAuthority.create(), objects)
        floor: list[EnvoyProcess] = []
        app = None
        try:
            api_ip, load_ip = mesh.pod("api").ip, mesh.pod("load").ip
            app = fortio_server(fortio, api_ip, APP_PORT)
            mesh.start_envoy("api")
            mesh.start_envoy("load")
            mesh.wait_ready()
            base = free_loopback_base()
            floor_client, floor_server = (f"{base}.1", 15001), (f"{base}.2", 15003)
            for name, listen, upstream in (
                ("floor-server", floor_server, (api_ip, APP_PORT)),
                ("floor-client", floor_client, floor_server),
            ):
                envoy = EnvoyProcess(static_envoy(listen, upstream), Path(tmp), name=name)
                floor.append(envoy.start())
            mesh_pids = [e.pid for e in mesh.envoys.values() if e.pid is not None]
            floor_pids = [e.pid for e in floor if e.pid is not None]
            paths = {
                "direct": (f"http://{api_ip}:{APP_PORT}/echo", f"{api_ip}:{APP_PORT}", []),
                "floor": (f"http://{floor_client[0]}:{floor_client[1]}/echo", "api", floor_pids),
                "mesh": (f"http://{load_ip}:15001/echo", f"api.{NS}", mesh_pids),
            }
            for url, host, pids in paths.values():  # warm up; every path must answer 200
                warm = load(fortio, url, host, pids, seconds=1)
                if warm["errors"] or not warm["count"]:
                    raise RuntimeError(f"{url} (Host {host}) does not answer 200: {warm}")
            idle = [smaps_rollup(pid)["Anonymous"] for pid in mesh_pids]
            for _ in range(ROUNDS):
                rounds.append(
                    {key: load(fortio, url, host, pids) for key, (url, host, pids) in paths.items()}
                )
            # What 16 connections at 1,000 req/s leave in the sidecars' own memory.
            rounds[-1]["mesh"]["anon_kib"] = max(
                smaps_rollup(pid)["Anonymous"] for pid in mesh_pids
            )
            rounds[-1]["mesh"]["idle_anon_kib"] = max(idle)
        finally:
            for envoy in floor:
                envoy.stop()
            if app is not None:
                app.terminate()
                app.wait(5)
            mesh.close()
    return results(rounds)


def results(rounds: list[dict[str, dict[str, Any]]]) -> list[Result]:
    def median(path: str, pct: float) -> float:
        return statistics.median(r[path]["ms"][pct] for r in rounds)

    loads = ", ".join(f"{r['mesh']['load']:.1f}" for r in rounds)
    errors = sum(r[path]["errors"] for r in rounds for path in r)
    qps = statistics.median(r["mesh"]["qps"] for r in rounds)
    setup = (
        (f"nice {NICE}, " if NICE else "")
        + f"{QPS} req/s, {CONNECTIONS} keep-alive connections, {SECONDS} s, median of "
        f"{len(rounds)} rounds (load {loads}; mesh achieved {qps:.0f} req/s; non-200: {errors})"
    )
    out = []
    for pct in (50.0, 90.0, 99.0):
        label = f"p{pct:g}"
        direct, floor, meshed = median("direct", pct), median("floor", pct), median("mesh", pct)
        target = pct == 99.0
        out.append(
            Result(
                f"latency added by 2 sidecars + mTLS + RBAC, {label} ({setup})"
                if target
                else f"latency added by 2 sidecars + mTLS + RBAC, {label}",
                meshed - direct,
                "ms",
                baseline=f"direct {label}",
                baseline_value=direct,
                target=f"<= {TARGET_ADDED_P99_MS} ms added (Istio 1.20: +0.298)" if target else "",
                met=(meshed - direct) <= TARGET_ADDED_P99_MS if target else None,
            )
        )
        out.append(
            Result(
                f"latency added by 2 Envoys, static config, no mTLS/RBAC (floor), {label}",
                floor - direct,
                "ms",
                baseline=f"direct {label}",
                baseline_value=direct,
            )
        )

    def per_request(path: str, key: str) -> float:
        return statistics.median(r[path][key] for r in rounds)

    # Load-independent beside the latencies: CPU time both Envoys spent per request (and the
    # time their threads waited for a CPU, which is what the machine's other jobs add).
    out.append(
        Result(
            "Envoy CPU per request, 2 sidecars + mTLS + RBAC (run-queue wait "
            f"{per_request('mesh', 'wait_us'):.0f} µs/request)",
            per_request("mesh", "cpu_us"),
            "µs",
            baseline=f"floor (run-queue wait {per_request('floor', 'wait_us'):.0f} µs/request)",
            baseline_value=per_request("floor", "cpu_us"),
        )
    )
    last = rounds[-1]["mesh"]
    if "anon_kib" in last:
        out.append(
            Result(
                "sidecar anonymous memory after the load (larger of the 2)",
                last["anon_kib"] / 1024,
                "MiB",
                baseline="the same sidecars before the rounds (after a 1 s warm-up)",
                baseline_value=last["idle_anon_kib"] / 1024,
            )
        )
    out.append(
        Result("non-200 answers over all runs", errors, "answers", target="0", met=not errors)
    )
    for i, r in enumerate(rounds, 1):
        print(
            f"round {i}: "
            + "; ".join(
                f"{path} p50/p90/p99 {v['ms'][50.0]:.3f}/{v['ms'][90.0]:.3f}/{v['ms'][99.0]:.3f} ms"
                f" (load {v['load']:.1f}, cpu {v.get('cpu_us', 0):.0f} µs, wait "
                f"{v.get('wait_us', 0):.0f} µs)"
                for path, v in r.items()
            ),
            file=sys.stderr,
        )
    return out


if __name__ == "__main__":
    from benchmarks.__main__ import format_result

    for result in run():
        print(format_result(result))
