"""Peak RSS of the injector and the controller under the HTTP attacks of issue 11 item 1.

The real processes (``python -m osm_mesh.injector`` / ``osm_mesh.controller``) run against the
API emulator; each attack comes from this process over loopback. Baseline: the same
process's idle RSS, measured in the same run after it served a few ordinary reviews. Target:
every peak <= idle + 50 MiB. Peaks are the kernel's high-water mark (VmHWM), reset before
each attack.

``OSM_ATTACK_CHECKOUT=/some/checkout`` runs the processes from another checkout (to measure
the code before a fix).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks import Result

STREAM = 600 * 1024 * 1024
MARGIN_MIB = 50.0


def _seed(emu, kubeconfig: Path) -> None:
    from osm_mesh.controller.ca import ensure_ca
    from osm_mesh.kube.client import connect
    from tests.mesh.controller.conftest import seed_mesh

    seed_mesh(emu)
    ensure_ca(connect(str(kubeconfig)), "osm-system", mesh_name="osm")


def _warm_up(webhook_port: int) -> None:
    """A few ordinary reviews so the idle figure includes what serving costs."""
    from tests.mesh.controller.http_attacks import post_bodies_at_once, review_body

    for _ in range(5):
        post_bodies_at_once("127.0.0.1", webhook_port, [review_body(2000)] * 4)
    time.sleep(0.5)


def _result(name: str, peak: int, idle: int) -> Result:
    peak_mib, idle_mib = peak / 2**20, idle / 2**20
    return Result(
        name,
        peak_mib,
        "MiB",
        "idle RSS",
        idle_mib,
        f"<= idle + {MARGIN_MIB:g} MiB",
        peak_mib - idle_mib <= MARGIN_MIB,
    )


def run() -> list[Result]:
    from tests.emulator import KubeEmulator
    from tests.mesh.controller import http_attacks as attack

    results: list[Result] = []
    emu = KubeEmulator(simulate_workloads=False).start()
    tmp = tempfile.TemporaryDirectory()
    host = "127.0.0.1"
    try:
        workdir = Path(tmp.name)
        kubeconfig = emu.write_kubeconfig(workdir / "kubeconfig")
        _seed(emu, kubeconfig)
        with attack.injector_process(kubeconfig, workdir) as injector:
            _warm_up(injector.webhook_port)
            idle = attack.rss_bytes(injector.pid)
            cases = [
                (
                    "injector webhook: Content-Length -1, 600 MiB streamed",
                    lambda: attack.stream_with_length(
                        host,
                        injector.webhook_port,
                        method="POST",
                        path=attack.WEBHOOK_PATH,
                        length_header="-1",
                        total=STREAM,
                        tls=True,
                    ),
                ),
                (
                    "injector GET /health/alive: Content-Length -1, 600 MiB streamed",
                    lambda: attack.stream_with_length(
                        host,
                        injector.http_port,
                        method="GET",
                        path="/health/alive",
                        length_header="-1",
                        total=STREAM,
                    ),
                ),
                (
                    "injector webhook: six 8 MiB reviews at once",
                    lambda: attack.post_bodies_at_once(
                        host, injector.webhook_port, [attack.review_body(8 * attack.MiB)] * 6
                    ),
                ),
                (
                    "injector webhook: six 4 MiB reviews at once (largest accepted size)",
                    lambda: attack.post_bodies_at_once(
                        host, injector.webhook_port, [attack.review_body(4 * attack.MiB - 64)] * 6
                    ),
                ),
                (
                    "injector webhook: six 4 MiB parse bombs ([{},{},...]) at once",
                    lambda: attack.post_bodies_at_once(
                        host,
                        injector.webhook_port,
                        [attack.review_body(4 * attack.MiB - 64, filler="dicts")] * 6,
                    ),
                ),
                (
                    "injector :9091: 200 connections held open (slowloris)",
                    lambda: _hold(host, injector.http_port, 200),
                ),
            ]
            for name, run_attack in cases:
                peak, _ = attack.peak_rss_during(injector.pid, run_attack)
                results.append(_result(name, peak, idle))
                time.sleep(0.5)
        with attack.controller_process(kubeconfig, workdir) as controller:
            time.sleep(0.5)
            idle = attack.rss_bytes(controller.pid)
            peak, _ = attack.peak_rss_during(
                controller.pid,
                lambda: attack.stream_with_length(
                    host,
                    controller.http_port,
                    method="GET",
                    path="/health/alive",
                    length_header="-1",
                    total=STREAM,
                ),
            )
            results.append(
                _result("controller GET /health/alive: Content-Length -1, 600 MiB", peak, idle)
            )
    finally:
        emu.stop()
        tmp.cleanup()
    return results


def _hold(host: str, port: int, count: int) -> int:
    from tests.mesh.controller.http_attacks import hold_connections

    held = hold_connections(host, port, count)
    time.sleep(1.0)
    for sock in held:
        sock.close()
    return len(held)
