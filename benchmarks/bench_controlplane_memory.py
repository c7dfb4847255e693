"""Control-plane memory with many connected proxies (issue 13 item 3, control-plane half).

The control plane runs in a process of its own (this module with ``--serve``), the proxies are
simulated Envoys (``benchmarks/adsload``: one mutual-TLS connection and client certificate each,
in 4 other processes). Its RSS is read once every proxy has ACKed its configuration.

- **mesh**: the control plane over ``bench_catalog.mesh_objects`` sized to the proxies (N pods,
  N/2 services and TrafficTargets): catalog, index, snapshots, ADS streams.
- **baseline, same run**: the same control plane, same proxies, over the same pods without any
  Service or policy (each proxy gets an almost empty configuration): what the gRPC/TLS
  connections and the per-stream ADS state cost by themselves.

25,000 connections need 25,000 file descriptors in one process; where the hard limit is lower
(20,000 on the machines this was built on, not raisable without CAP_SYS_RESOURCE), the largest
N that fits is measured, together with N/3, and the RSS at 25,000 is extrapolated along the
per-proxy slope between them (the result says so).

``python -m benchmarks.bench_controlplane_memory [--proxies N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import Result

TARGET_PROXIES = 25000
PROCESSES = 4


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def serve(mode: str, proxies: int, workdir: Path) -> int:
    """The control-plane process: build, print the spec path, answer "measure" on stdin."""
    import gc

    from benchmarks.adsload import proxies_for_pods, write_spec
    from benchmarks.bench_catalog import mesh_objects
    from osm_mesh.catalog import FileSource
    from osm_mesh.certs import CertificateAuthority
    from osm_mesh.controlplane import ControlPlane

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mesh = mesh_objects(proxies // 2, proxies, proxies // 2)
    # The baseline keeps the pods (ADS serves only proxies of live pods) and drops every
    # Service and policy: each proxy gets an almost empty configuration.
    bare = [o for o in mesh if o["kind"] in ("MeshConfig", "Namespace", "ServiceAccount", "Pod")]
    source = FileSource(objects=mesh if mode == "mesh" else bare)
    ca = CertificateAuthority.create()
    cp = ControlPlane(source, ca).start()
    pods = FileSource(objects=mesh).snapshot().pods  # the same pods connect in both modes
    spec = write_spec(
        workdir / f"spec-{mode}.json",
        address=f"127.0.0.1:{cp.port}",
        server_name=cp.options.controller_name,
        ca_pem=ca.cert_pem,
        proxies=proxies_for_pods(ca, pods, cp.trust_domain),
    )
    del mesh
    gc.collect()
    print(json.dumps({"spec": str(spec), "rss": _rss(), "proxies": len(pods)}), flush=True)
    for line in sys.stdin:
        if line.strip() == "measure":
            converged = cp.wait_converged(timeout=600)
            gc.collect()
            print(json.dumps({"rss": _rss(), "connected": len(cp.connected()),
                              "converged": converged}), flush=True)  # fmt: skip
        else:
            break
    cp.stop()
    return 0


def measure(mode: str, proxies: int, workdir: Path) -> dict[str, Any]:
    from benchmarks.adsload import LoadClients

    argv = [sys.executable, "-m", "benchmarks.bench_controlplane_memory", "--serve", mode]
    argv += ["--proxies", str(proxies), "--workdir", str(workdir)]
    server = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        started = json.loads(server.stdout.readline())
        with LoadClients(Path(started["spec"]), processes=PROCESSES) as clients:
            running = clients.wait_running(timeout=1800)
            assert sum(r["failures"] for r in running) == 0, running
            time.sleep(2)
            server.stdin.write("measure\n")
            server.stdin.flush()
            measured = json.loads(server.stdout.readline())
        assert measured["converged"] and measured["connected"] == started["proxies"], measured
        return {"idle": started["rss"], **measured, "load": os.getloadavg()[0]}
    finally:
        if server.stdin and not server.stdin.closed:
            server.stdin.close()
        try:  # closing ~20,000 streams takes minutes on a loaded machine
            server.wait(600)
        except subprocess.TimeoutExpired:
            server.kill()  # the figures are taken; only the teardown is cut short
            server.wait()


def run(proxies: int = TARGET_PROXIES) -> list[Result]:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    largest = min(proxies, limit - 1000) // 2 * 2  # descriptors for everything else; pairs
    points = sorted({largest // 6 * 2, largest}) if largest < proxies else [largest]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        at = {n: measure("mesh", n, Path(tmp)) for n in points}
        empty = measure("empty", largest, Path(tmp))
    top = at[largest]
    estimate, how = top["rss"], f"measured at {largest:,}"
    per_proxy = top["rss"] / largest
    if len(points) == 2:
        low, high = points
        per_proxy = (at[high]["rss"] - at[low]["rss"]) / (high - low)
        estimate = top["rss"] + per_proxy * (proxies - high)
        how = (
            f"extrapolated from {low:,} and {high:,} (the hard limit of {limit:,} open files "
            f"allows no more connections in one process)"
        )
    empty_per_proxy = (empty["rss"] - empty["idle"]) / largest
    results.append(
        Result(
            f"control-plane RSS at {proxies:,} simulated proxies ({how}; load {top['load']:.1f})",
            estimate / 2**20,
            "MiB",
            baseline=f"same control plane, empty mesh, {largest:,} proxies (measured)",
            baseline_value=empty["rss"] / 2**20,
            target="<= 1024 MiB",
            met=estimate <= 2**30,
        )
    )
    for n in points:
        results.append(
            Result(
                f"control-plane RSS measured at {n:,} proxies (load {at[n]['load']:.1f})",
                at[n]["rss"] / 2**20,
                "MiB",
                baseline="the same process before the proxies connected",
                baseline_value=at[n]["idle"] / 2**20,
            )
        )
    results.append(
        Result(
            "control-plane memory per connected proxy",
            per_proxy / 1024,
            "KiB",
            baseline="empty mesh: connection + ADS stream alone",
            baseline_value=empty_per_proxy / 1024,
        )
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["mesh", "empty"])
    parser.add_argument("--proxies", type=int, default=TARGET_PROXIES)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.serve:
        raise SystemExit(serve(args.serve, args.proxies, args.workdir))
    from benchmarks.__main__ import format_result

    for result in run(args.proxies):
        print(format_result(result), flush=True)
