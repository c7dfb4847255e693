"""Simulated Envoy proxies for ADS load tests: a spec file, client processes, their lifecycle.

Any ADS server over mutual TLS can be loaded (ours, upstream OSM's): each simulated proxy is a
real gRPC client in another process with its own TLS connection and client certificate, and
answers every response with an ACK the way Envoy does (``client.py`` says exactly what it
does). Control planes see them as Envoys that apply configuration instantly.

The spec (JSON)::

    {"address": "127.0.0.1:15128",                  # the ADS server
     "server_name": "osm-controller.osm-system.svc", # the name its certificate is checked for
     "ca_file": "/path/ca.pem",                      # the CA that signed the server certificate
     "proxies": [{"node": "<node id>", "cluster": "<sa>.<ns>",
                  "cert": "<PEM>", "key": "<PEM>"},  # or "cert_file" / "key_file"
                 ...]}

Start from a shell (Ctrl-C stops; the processes print a JSON line when running and one
when stopped)::

    python -m benchmarks.adsload SPEC.json --processes 4

or from Python::

    with LoadClients(spec_path, processes=4) as clients:
        clients.wait_running(timeout=300)   # every stream open and answered once
        ...                                 # change the mesh, watch the server's ACKs
    clients.summaries                       # responses/ACKs/failures/max RSS per process

``write_spec`` writes a spec; ``proxies_for_pods`` issues one client certificate per pod from
our CA (what the injector's bootstrap Secret holds), with our node id format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def write_spec(
    path: Path,
    *,
    address: str,
    server_name: str,
    ca_pem: bytes,
    proxies: Sequence[dict[str, str]],
) -> Path:
    ca_file = path.with_suffix(".ca.pem")
    ca_file.write_bytes(ca_pem)
    spec = {
        "address": address,
        "server_name": server_name,
        "ca_file": str(ca_file),
        "proxies": list(proxies),
    }
    path.write_text(json.dumps(spec))
    return path


def proxies_for_pods(ca: Any, pods: Iterable[Any], trust_domain: str) -> list[dict[str, str]]:
    """One spec entry per meshed pod: our node id and its bootstrap certificate (what the
    injector puts in the pod's Secret: the ADS server trusts nothing else)."""
    from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
    from osm_mesh.envoy.bootstrap import node_id

    bootstrap_ca = bootstrap_authority(ca)
    out = []
    for pod in pods:
        node = node_id(pod.proxy_uuid, pod.service_account, pod.namespace, trust_domain)
        cert = issue_bootstrap(bootstrap_ca, node)
        out.append(
            {
                "node": node,
                "cluster": f"{pod.service_account}.{pod.namespace}",
                "cert": cert.cert_pem.decode(),
                "key": cert.key_pem.decode(),
            }
        )
    return out


class LoadClients:
    """``processes`` client processes sharing the spec's proxies (contiguous slices)."""

    def __init__(
        self, spec: Path, *, processes: int = 2, ramp: int = 200, count: int | None = None
    ) -> None:
        self.spec = spec
        total = len(json.loads(spec.read_text())["proxies"]) if count is None else count
        self.total = total
        self.processes = max(1, min(processes, total))
        self.ramp = ramp
        self._procs: list[subprocess.Popen[str]] = []
        self._lines: list[list[dict[str, Any]]] = []
        self._threads: list[threading.Thread] = []
        self.summaries: list[dict[str, Any]] = []

    def start(self) -> LoadClients:
        per = -(-self.total // self.processes)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for i in range(self.processes):
            first, count = i * per, min(per, self.total - i * per)
            if count <= 0:
                break
            argv = [sys.executable, "-m", "benchmarks.adsload.client", str(self.spec)]
            argv += ["--first", str(first), "--count", str(count), "--ramp", str(self.ramp)]
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,  # closing it stops the process
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
                env=env,
            )
            lines: list[dict[str, Any]] = []
            thread = threading.Thread(target=self._read, args=(proc, lines), daemon=True)
            thread.start()
            self._procs.append(proc)
            self._lines.append(lines)
            self._threads.append(thread)
        return self

    @staticmethod
    def _read(proc: subprocess.Popen[str], lines: list[dict[str, Any]]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass

    def wait_running(self, timeout: float) -> list[dict[str, Any]]:
        """Each process's "running" line (every stream open and answered, or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = [
                next((e for e in lines if e["event"] == "running"), None) for lines in self._lines
            ]
            if all(running):
                return running  # type: ignore[return-value]
            dead = [p.args for p in self._procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"load client exited early: {dead[0]}")
            time.sleep(0.1)
        raise TimeoutError(f"load clients not running after {timeout:g}s")

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def stop(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for thread in self._threads:
            thread.join(5)
        self.summaries = [e for lines in self._lines for e in lines if e["event"] == "stopped"]
        self._procs.clear()
        return self.summaries

    def __enter__(self) -> LoadClients:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
