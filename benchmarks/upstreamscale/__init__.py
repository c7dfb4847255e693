"""Upstream OSM v1.2.4's controller and ours on the same real API server, the same SMI objects,
the same simulated proxies (issue 13 item 5); bench_upstream_scale.py runs it.

- ``objects.py``: the application (services, ServiceAccounts, pods with proxy UUIDs, SMI);
- ``certs.py``: each proxy's client certificate from the mesh's own CA, in its node id format;
- ``client.py``: benchmarks/adsload's simulated Envoys plus client-side timing (when did a
  given piece of configuration reach each proxy), the one measure both control planes allow;
- ``ProxyFleet`` below: client processes inside the cluster's network namespace (where the
  controllers' Pod addresses are routed), driven through their stdin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class ProxyFleet:
    """``processes`` client processes, each running a contiguous slice of the spec's proxies
    inside network namespace ``netns``."""

    def __init__(self, spec: Path, netns: str, *, processes: int = 2, ramp: int = 100) -> None:
        self.spec = spec
        self.total = len(json.loads(spec.read_text())["proxies"])
        self.netns = netns
        self.processes = max(1, min(processes, self.total))
        self.ramp = ramp
        self._procs: list[subprocess.Popen[str]] = []
        self._lines: list[list[dict[str, Any]]] = []
        self._threads: list[threading.Thread] = []
        self.started = 0.0

    def start(self) -> ProxyFleet:
        per = -(-self.total // self.processes)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.started = time.time()
        for i in range(self.processes):
            first, count = i * per, min(per, self.total - i * per)
            if count <= 0:
                break
            argv = ["setpriv", "--pdeathsig", "KILL", "--", "ip", "netns", "exec", self.netns]
            argv += [sys.executable, "-m", "benchmarks.upstreamscale.client", str(self.spec)]
            argv += ["--first", str(first), "--count", str(count), "--ramp", str(self.ramp)]
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
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

    def _wait_for(self, event: str, count: int, timeout: float) -> list[dict[str, Any]]:
        """The ``count``-th line ``event`` of every process."""
        deadline = time.monotonic() + timeout
        while True:
            found = [[e for e in lines if e["event"] == event] for lines in self._lines]
            if all(len(f) >= count for f in found):
                return [f[count - 1] for f in found]
            dead = [p.args for p in self._procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"proxy client exited early: {dead[0]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event!r} from every proxy client within {timeout:g}s")
            time.sleep(0.05)

    def wait_running(self, timeout: float = 600) -> dict[str, Any]:
        """Every stream answered and every proxy synced: totals over the processes."""
        lines = self._wait_for("running", 1, timeout)
        return {
            "proxies": sum(line["proxies"] for line in lines),
            "synced": sum(line["synced"] for line in lines),
            "failures": sum(line["failures"] for line in lines),
            "errors": [e for line in lines for e in line["errors"]][:5],
            "synced_seconds": max(line["synced_seconds"] for line in lines),
        }

    def _send(self, command: str) -> None:
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()

    def watch(self, marker: str) -> None:
        self._send(f"watch {marker}")

    def report(self, marker: str, timeout: float = 30) -> dict[str, Any]:
        """What every proxy saw of ``marker``: {node: epoch seconds}, proxies pushed to."""
        done = sum(1 for e in self._lines[0] if e["event"] == "report")
        self._send(f"report {marker}")
        lines = self._wait_for("report", done + 1, timeout)
        seen: dict[str, float] = {}
        for line in lines:
            seen.update(line["seen"])
        return {
            "seen": seen,
            "pushed": sum(line["pushed"] for line in lines),
            "responses": sum(line["responses"] for line in lines),
        }

    def unwatch(self, marker: str) -> None:
        self._send(f"unwatch {marker}")

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def stop(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for thread in self._threads:
            thread.join(5)
        summaries = [e for lines in self._lines for e in lines if e["event"] == "stopped"]
        self._procs.clear()
        return summaries

    def __enter__(self) -> ProxyFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
