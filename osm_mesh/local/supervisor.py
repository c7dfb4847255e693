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
  never by whatever short-lived thread happened to call ``start``.
  The prctl runs in a tiny launcher (``python -I -S -c``) that then execs the
  program, not in a ``preexec_fn``: Python code between fork and exec in a process
  running gRPC threads (the control plane) crashes the child with SIGSEGV, seen here;
  without ``preexec_fn`` the fork is a plain vfork/exec;
- ``stop()`` sends SIGTERM to each process group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from osm_mesh.errors import MeshError

# argv: [parent pid, program, args...]. Sets the parent-death signal, leaves at once if
# the parent is already gone (it died between fork and prctl), then becomes the program.
_LAUNCHER = (
    "import ctypes,os,sys\n"
    "ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)\n"  # PR_SET_PDEATHSIG, SIGKILL
    "os.getppid() == int(sys.argv[1]) or os._exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


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
        program = shutil.which(argv[0], path=env.get("PATH", os.defpath)) if argv else None
        if program is None:
            raise MeshError(
                f"cannot start {name}: {argv[0] if argv else '(empty command)'} not found",
                hint="Check the Deployment's local.openservicemesh.io/command annotation.",
            )
        launch = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), program]
        launch += list(argv[1:])

        def spawn() -> subprocess.Popen[bytes]:
            with open(log_path, "ab") as log:
                return subprocess.Popen(
                    launch,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env),
                    cwd=cwd,
                    start_new_session=True,
                )

        process = self._spawner.submit(spawn).result()
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
