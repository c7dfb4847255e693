"""`osm demo --scenario all -o json`: wall time of the whole walkthrough (issue 6: ≤ 30 s).

The command runs as a user runs it (a new `osm` process): two local meshes one after the
other (access: 2 pods, canary: 3 pods), each with its control plane, apps and real Envoy
sidecars, the policy change, and 100 canary requests.

Baseline, same run, interleaved: starting and stopping the same number of bare Envoys (5)
one after the other, each with a minimal static bootstrap (admin only), until its admin
answers: the floor any local mesh built on real Envoy pays. Each figure is the median of
RUNS runs. Also reported: the canary split observed in the last run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks import Result

RUNS = int(os.environ.get("OSM_BENCH_RUNS", "3"))
PODS = 5
TARGET_SECONDS = 30.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _demo_once() -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "osm_cli", "demo", "--scenario", "all", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"osm demo failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def _bare_envoys_once(workdir: Path) -> float:
    from osm_mesh.local.sidecar import envoy_binary

    binary = envoy_binary()
    started = time.perf_counter()
    for i in range(PODS):
        admin_file = workdir / f"admin-{i}"
        admin_file.unlink(missing_ok=True)
        config = {
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
        }
        bootstrap = workdir / f"envoy-{i}.json"
        bootstrap.write_text(json.dumps(config))
        proc = subprocess.Popen(
            [
                binary,
                "-c",
                str(bootstrap),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warning",
                "--admin-address-path",
                str(admin_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                address = admin_file.read_text().strip() if admin_file.exists() else ""
                if address:
                    try:
                        _DIRECT.open(f"http://{address}/ready", timeout=1).read()
                        break
                    except OSError:
                        pass
                time.sleep(0.005)
        finally:
            proc.terminate()
            proc.wait(10)
    return time.perf_counter() - started


def run() -> list[Result]:
    demo_times: list[float] = []
    envoy_times: list[float] = []
    last: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        for _ in range(RUNS):
            envoy_times.append(_bare_envoys_once(Path(tmp)))
            seconds, last = _demo_once()
            demo_times.append(seconds)
    demo = statistics.median(demo_times)
    baseline = statistics.median(envoy_times)
    canary = last["results"][1]
    total = max(1, canary["requests"])
    return [
        Result(
            name="osm demo --scenario all (wall time)",
            value=demo,
            unit="s",
            baseline=f"start+stop {PODS} bare Envoys",
            baseline_value=baseline,
            target=f"<= {TARGET_SECONDS:.0f} s",
            met=demo <= TARGET_SECONDS and last.get("ok") is True,
        ),
        Result(
            name="canary share of api-v2 (weight 10/100)",
            value=100 * canary["backends"]["api-v2"] / total,
            unit="%",
            target=f"~10% of {total} requests, no errors",
            met=canary["errors"] == 0 and canary["backends"]["api-v2"] > 0,
        ),
    ]
