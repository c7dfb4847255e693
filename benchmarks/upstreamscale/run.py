"""One comparison run: both meshes installed by their own CLIs on one real cluster, the same
application grown to each size, each controller in turn given the namespace and the same
simulated proxies.

Per size and controller:

- ``synced``: start of the proxy fleet → every proxy holds a response for every type it
  subscribes to (connection, TLS, first full configuration; the fleet ramps 100 streams a wave);
- ``settled``: … until no proxy has received anything for ``QUIET_SECONDS`` (the initial pushes
  are over); changes are measured from then on;
- ``change``: ``ROUNDS`` times, one HTTPRouteGroup's path changes (a new marker); from the
  moment the API call is made until the last Pod of that service has received a route table with
  the new path (its inbound RDS). Also counted: how many proxies got any response from the
  change until the control plane was quiet again (``pushed``);
- ``rss``/``hwm``: the controller process's resident memory after the rounds, and its peak.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.upstreamscale import ProxyFleet, certs, objects

PER_SERVICE = 4
ROUNDS = 5
QUIET_SECONDS = 3.0  # no response to any proxy for this long: the control plane is done
QUIET_TIMEOUT = 180.0
CHANGE_TIMEOUT = 120.0
SIDES = ("upstream", "ours")


@dataclass
class Measurement:
    side: str
    pods: int
    synced_seconds: float
    failures: int
    settled_seconds: float = 0.0
    changes_ms: list[float] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)
    timeouts: int = 0
    rss_kib: int = 0
    hwm_kib: int = 0
    load: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def change_p50(self) -> float | None:
        return statistics.median(self.changes_ms) if self.changes_ms else None

    @property
    def change_max(self) -> float | None:
        return max(self.changes_ms) if self.changes_ms else None


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Comparison:
    """Holds the cluster, both meshes and the application between sizes."""

    def __init__(self, real_cluster: Any, work: Path, rounds: int = ROUNDS) -> None:
        from tests.upstream import cluster_access

        self.cluster = real_cluster
        self.access = cluster_access(real_cluster)
        self.work = work
        # This venv's bin first: our `osm` and the `helm` both CLIs use.
        path = f"{Path(sys.executable).parent}:{real_cluster.env()['PATH']}"
        self.env = real_cluster.env(HOME=str(work), PATH=path)
        token = secrets.token_hex(3)
        self.meshes = {"upstream": (f"up-{token}", f"osm-up-{token}"),
                       "ours": (f"ours-{token}", f"osm-ours-{token}")}  # fmt: skip
        self.app = f"scale-{token}"
        self.services = 0
        self.proxies: list[objects.PodProxy] = []
        self.stack = ExitStack()
        self.crds_before: set[str] = set()
        self.rounds = rounds
        self._api: Any = None

    # -- setup ----------------------------------------------------------------------------
    def install(self) -> None:
        from tests.upstream import mesh

        self.crds_before = self._crds()
        up_mesh, up_ns = self.meshes["upstream"]
        smi_mode = "osm.enablePermissiveTrafficPolicy=false"
        result, _ = mesh.install(
            self.access, self.env, up_ns, up_mesh, "--enforce-single-mesh=false", "--set",
            smi_mode, workdir=self.work,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"upstream install: {result.stderr.strip()}")
        self.stack.callback(self._uninstall)
        bootstrap = mesh.start_bootstrap(self.access, up_ns, workdir=self.work)
        self.stack.callback(bootstrap.stop)
        our_mesh, our_ns = self.meshes["ours"]
        osm = Path(sys.executable).parent / "osm"
        result = subprocess.run(
            [str(osm), "install", "--mesh-name", our_mesh, "--osm-namespace", our_ns,
             "--no-enforce-single-mesh", "--set", smi_mode, "--timeout", "3m"],
            env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"our install: {result.stderr.strip()}")
        self.cluster.kubectl("create", "namespace", self.app)

    def _uninstall(self) -> None:
        """Both releases, the namespaces, and the CRDs the two installs brought."""
        for name, namespace in self.meshes.values():
            subprocess.run(["helm", "uninstall", name, "-n", namespace, "--no-hooks"],
                           env=self.env, capture_output=True, timeout=120)  # fmt: skip
        for namespace in (*[ns for _, ns in self.meshes.values()], self.app):
            self.cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found",
                                 "--wait=false", check=False)  # fmt: skip
        added = sorted(self._crds() - self.crds_before)
        if added:
            self.cluster.kubectl("delete", *added, "--ignore-not-found", check=False, timeout=120)

    def _crds(self) -> set[str]:
        return set(self.cluster.kubectl("get", "crd", "-o", "name").stdout.split())

    def api(self) -> Any:
        if self._api is None:
            from kubernetes import client, config

            self._api = client.CustomObjectsApi(
                config.new_client_from_config(str(self.cluster.kubeconfig))
            )
        return self._api

    def grow(self, pods: int) -> None:
        """Add services (and their pods) until ``pods`` pods exist; wait until all run."""
        wanted = pods // PER_SERVICE
        docs: list[dict] = []
        for i in range(self.services, wanted):
            docs += objects.service_objects(self.app, i, "start")
            new = objects.pods_for(self.app, i, PER_SERVICE)
            self.proxies += new
            docs += [objects.pod_object(p) for p in new]
        self.services = wanted
        if docs:
            self.cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1",
                                 "kind": "List", "items": docs}), timeout=600)  # fmt: skip
        deadline = time.monotonic() + 300
        while True:
            running = self.cluster.kubectl(
                "get", "pods", "-n", self.app, "--field-selector=status.phase=Running",
                "-o", "name", timeout=120,
            ).stdout.split()  # fmt: skip
            if len(running) >= len(self.proxies):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(running)}/{len(self.proxies)} pods running after 300 s")
            time.sleep(1)

    # -- one controller -------------------------------------------------------------------
    def measure(self, side: str, pods: int) -> Measurement:
        from tests.upstream import mesh, ours

        name, namespace = self.meshes[side]
        self.cluster.kubectl("label", "namespace", self.app, "--overwrite",
                             f"openservicemesh.io/monitored-by={name}")  # fmt: skip
        start = mesh.start_controller if side == "upstream" else ours.start_controller
        controller = start(self.access, namespace, workdir=self.work)
        try:
            return self._measure_with(side, pods, controller)
        finally:
            controller.stop()

    def _measure_with(self, side: str, pods: int, controller: Any) -> Measurement:
        _name, namespace = self.meshes[side]
        secret = self.cluster.kubectl_json("get", "secret", "osm-ca-bundle", "-n", namespace)
        issue = certs.upstream_proxies if side == "upstream" else certs.our_proxies
        server = "ads.cluster.local" if side == "upstream" else f"osm-controller.{namespace}.svc"
        spec = self.work / f"spec-{side}-{pods}.json"
        ca_file = spec.with_suffix(".ca.pem")
        ca_file.write_bytes(certs.ca_pem(secret["data"]))
        spec.write_text(json.dumps({
            "address": f"{controller.pod_ip}:15128", "server_name": server,
            "ca_file": str(ca_file), "proxies": issue(secret["data"], self.proxies),
        }))  # fmt: skip
        fleet = ProxyFleet(spec, self.access.netns, processes=2)
        with fleet:
            running = fleet.wait_running(timeout=900)
            result = Measurement(side, pods, running["synced_seconds"], running["failures"],
                                 errors=running["errors"])  # fmt: skip
            # Changes are measured on a quiet control plane, not during its initial pushes.
            fleet.watch("settle")
            result.settled_seconds = running["synced_seconds"] + self._quiet(fleet, "settle")[0]
            fleet.unwatch("settle")
            for round_ in range(self.rounds):
                self._change(fleet, result, (round_ * 7 + 1) % self.services)
            result.rss_kib = controller.rss_kib()
            result.hwm_kib = _hwm_kib(controller.pid)
            result.load = os.getloadavg()[0]
        return result

    def _change(self, fleet: ProxyFleet, result: Measurement, service: int) -> None:
        marker = f"c{secrets.token_hex(6)}"
        affected = {certs.node_id(p) for p in self.proxies if p.service == f"s{service}"}
        fleet.watch(marker)
        time.sleep(0.2)  # the watch reaches every client process before the change
        body = objects.route_group(self.app, service, marker)
        began = time.time()
        self.api().patch_namespaced_custom_object(
            "specs.smi-spec.io", "v1alpha4", self.app, "httproutegroups", f"r{service}", body
        )
        deadline = time.monotonic() + CHANGE_TIMEOUT
        while True:
            seen = {n: t for n, t in fleet.report(marker)["seen"].items() if n in affected}
            if len(seen) == len(affected):
                result.changes_ms.append((max(seen.values()) - began) * 1000)
                break
            if time.monotonic() > deadline:
                result.timeouts += 1
                break
            time.sleep(0.1)
        # Every push the change caused, to any proxy, until the control plane is quiet.
        result.pushed.append(self._quiet(fleet, marker)[1])
        fleet.unwatch(marker)

    def _quiet(self, fleet: ProxyFleet, watch: str) -> tuple[float, int]:
        """Waits until no proxy got a response for QUIET_SECONDS; returns the seconds until
        the last response arrived and how many proxies got one since ``watch`` began."""
        began = time.monotonic()
        last, last_change, pushed = -1, began, 0
        while time.monotonic() - began < QUIET_TIMEOUT:
            report = fleet.report(watch)
            if report["responses"] != last:
                last, last_change, pushed = report["responses"], time.monotonic(), report["pushed"]
            elif time.monotonic() - last_change >= QUIET_SECONDS:
                break
            time.sleep(0.25)
        return last_change - began, pushed

    def close(self) -> None:
        self.stack.close()


def compare(
    sizes: tuple[int, ...], real_cluster: Any = None, rounds: int = ROUNDS
) -> list[Measurement]:
    """Run the whole comparison on ``real_cluster`` (or a private one)."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="osm-upscale-")))
        if real_cluster is None:
            from tests.realkube import cluster

            root = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="osmk-", dir="/tmp"))
            )
            real_cluster = stack.enter_context(cluster.running(root))
        run = Comparison(real_cluster, work, rounds)
        stack.callback(run.close)
        run.install()
        out = []
        for pods in sizes:
            run.grow(pods)
            for side in SIDES:
                out.append(run.measure(side, pods))
        return out
