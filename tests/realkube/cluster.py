"""A running local cluster as tests see it: start/stop through the supervisor, kubeconfigs,
kubectl, component restarts, and ServiceAccount tokens for least-privilege clients."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.realkube import binaries, probe
from tests.realkube.layout import Layout, write_kubeconfig


class ClusterError(RuntimeError):
    pass


def unique(prefix: str) -> str:
    """A DNS-1123 name no other test (or earlier run on a kept cluster) uses."""
    return f"{prefix}-{secrets.token_hex(3)}"


@dataclass
class RealCluster:
    layout: Layout
    process: subprocess.Popen | None = None  # None: a cluster someone else started

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    @property
    def state(self) -> dict:
        return self.layout.read_state()

    @property
    def api_port(self) -> int:
        return int(self.state["api_port"])

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca(self) -> Path:
        return self.layout.pki / "ca.crt"

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ with KUBECONFIG and PATH pointing at this cluster and its kubectl."""
        path = f"{binaries.bin_dir()}:{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path, **extra}

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(binaries.binary("kubectl")), *args],
            env=self.env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def token_kubeconfig(self, path: Path, namespace: str, service_account: str) -> Path:
        """A kubeconfig authenticating as a ServiceAccount with a TokenRequest token — the
        identity a pod of that ServiceAccount would have."""
        token = self.kubectl(
            "create", "token", service_account, "-n", namespace, "--duration=2h"
        ).stdout.strip()
        write_kubeconfig(path, server=self.server, ca=self.ca, user=service_account, token=token)
        return path

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (what the API server does every
        5 minutes): watches resumed from an older resourceVersion then get 410 Gone.
        Returns the revision."""
        port = int(self.state["etcd_port"])

        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        revision = int(post("/v3/kv/range", {"key": "AA=="})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def component_pid(self, name: str) -> int:
        return int(self.state["components"][name]["pid"])

    def restart(self, name: str, *, timeout: float = 60, graceful: bool = False) -> float:
        """Kill a component as a crash would (SIGKILL), or stop it as an upgrade would
        (``graceful``: SIGTERM, it closes its watches cleanly); the supervisor starts it again.
        Returns the seconds until the API server answers /readyz again."""
        old = self.component_pid(name)
        began = time.monotonic()
        os.kill(old, signal.SIGTERM if graceful else signal.SIGKILL)
        if not probe.wait_until(
            lambda: self.state.get("components", {}).get(name, {}).get("pid") not in (None, old),
            timeout=timeout,
        ):
            raise ClusterError(f"{name} was not restarted")
        if not probe.wait_until(self.ready, timeout=timeout):
            raise ClusterError(f"the API server is not ready after restarting {name}")
        return time.monotonic() - began

    def ready(self) -> bool:
        context = probe.client_context(
            self.ca, self.layout.pki / "admin.crt", self.layout.pki / "admin.key"
        )
        return probe.get("127.0.0.1", self.api_port, "/readyz", context=context)[0] == 200

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(root: Path, *, node: bool = False, timeout: float = 180) -> RealCluster:
    """Start a cluster whose supervisor dies with this process (parent-death signal)."""
    binaries.binary("kube-apiserver")
    binaries.binary("etcd")
    layout = Layout(root)
    root.mkdir(parents=True, exist_ok=True)
    argv = ["setpriv", "--pdeathsig", "TERM", "--", sys.executable, "-m", "tests.realkube"]
    argv += ["serve", str(root)] + ["--node"] * node
    log = open(root / "supervisor.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        argv, cwd=binaries.REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    cluster = RealCluster(layout, process)
    deadline = time.monotonic() + timeout
    while True:
        status = layout.read_state().get("status")
        if status == "ready":
            return cluster
        if status in ("failed", "stopped") or process.poll() is not None:
            error = layout.read_state().get("error", "see " + str(layout.logs))
            cluster.stop()
            raise ClusterError(f"the local cluster did not start: {error}")
        if time.monotonic() > deadline:
            cluster.stop()
            raise ClusterError(f"the local cluster was not ready within {timeout:.0f} s")
        time.sleep(0.2)


def attach(root: Path) -> RealCluster:
    """A cluster started by `make cluster-up` (left running after the tests)."""
    layout = Layout(root)
    if layout.read_state().get("status") != "ready":
        raise ClusterError(f"no ready cluster in {root}: run `make cluster-up`")
    return RealCluster(layout)


@contextlib.contextmanager
def running(root: Path, *, node: bool = False):
    cluster = start(root, node=node)
    try:
        yield cluster
    finally:
        cluster.stop()
