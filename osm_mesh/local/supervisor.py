"""Start, watch and stop the local mesh's processes (apps and Envoy sidecars).

Policy: **fail fast**. A local mesh is a demo and a test bed; a process that dies
means something is wrong with the manifests or the machine, and restarting it
would hide that. ``Supervisor.check()`` raises ``ProcessExited`` (with the tail of
the process's log) as soon as any child has exited, and the runtime then tears
everything down.

No orphans, however the runtime ends:
- every child runs in its own process group (``start_new_session``), so a Ctrl-C
  on the terminal reaches only the runtime, which stops children in order;
- every child asks the kernel to SIGKILL it when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), which also covers the runtime being SIGKILLed.
  The death signal fires when the *thread* that forked the child exits, so all
  children are forked by one long-lived spawner thread owned by the supervisor,
  never by whatever short-lived thread happened to call ``start``;
- ``stop()`` sends SIGTERM to each process group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from osm_mesh.errors import MeshError

PR_SET_PDEATHSIG = 1

# Loaded before any fork: the pre-exec hook must not import or allocate much.
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class ProcessExited(MeshError):
    """A supervised process ended while the mesh was running."""

    def __init__(self, child: Child, code: int | None) -> None:
        tail = child.log_tail()
        how = (
            f"exited with code {code}" if code is None or code >= 0 else f"killed by signal {-code}"
        )
        message = f"{child.name} {how}"
        hint = f"Its log: {child.log_path}"
        if tail:
            hint = f"{hint}\n--- last lines ---\n{tail}"
        super().__init__(message, hint)
        self.child = child
        self.code = code


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def hook() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would
        # ever send the signal, so leave now.
        if os.getppid() != parent_pid:
            os._exit(1)

    return hook


@dataclass
class Child:
    name: str
    argv: tuple[str, ...]
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            data = self.log_path.read_bytes()[-8192:]
        except OSError:
            return ""
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


class Supervisor:
    """Children with one log file each under ``log_dir``; see the module docstring."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="osm-local-spawner")
        self._stopped = False

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | Path | None = None,
    ) -> Child:
        """Start ``argv`` with output to ``<log_dir>/<name>.log``."""
        if self._stopped:
            raise MeshError("the local mesh is stopping; not starting new processes")
        log_path = self.log_dir / f"{name}.log"
        parent = os.getpid()

        def spawn() -> subprocess.Popen[bytes]:
            with open(log_path, "ab") as log:
                return subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env),
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(parent),
                )

        try:
            process = self._spawner.submit(spawn).result()
        except FileNotFoundError as exc:
            raise MeshError(
                f"cannot start {name}: {argv[0]} not found",
                hint="Check the Deployment's local.openservicemesh.io/command annotation.",
            ) from exc
        child = Child(name, tuple(argv), log_path, process)
        with self._lock:
            self.children.append(child)
        return child

    def check(self) -> None:
        """Raise ``ProcessExited`` for the first child that is no longer running."""
        for child in list(self.children):
            code = child.process.poll()
            if code is not None:
                raise ProcessExited(child, code)

    def alive(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() is None]

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM every child's process group, wait ``grace`` seconds, SIGKILL the rest."""
        self._stopped = True
        with self._lock:
            children = list(self.children)
        for child in children:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                pass
        for child in children:
            # Also reaps what the app itself forked into its group.
            _signal_group(child, signal.SIGKILL)
            try:
                child.process.wait(2)
            except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
                pass
        self._spawner.shutdown(wait=True)


def _signal_group(child: Child, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
