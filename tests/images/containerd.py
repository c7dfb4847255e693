"""A private containerd (Debian's 1.6) for tests: own root, state, socket and mount namespace.

It runs in a mount namespace of its own (`unshare --mount`), so the snapshot mounts of the
containers it starts are invisible to the host and end with it. `stop()` kills every task,
then containerd, then any shim still serving this socket, and deletes the folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

NAMESPACE = "k8s.io"
PRIVATE_MOUNTS = ("unshare", "--mount", "--propagation", "private", "--")

# restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so without it the CRI plugin's
# sandboxes fail (see shared/facts/real-kubernetes.md). The CRI plugin is loaded as the
# node's containerd loads it; the ctr calls below do not need it.
CONFIG = """\
version = 2
root = "{root}/root"
state = "{root}/state"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "{sandbox_image}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{root}/cni/bin"
    conf_dir = "{root}/cni/conf"
"""


class Containerd:
    def __init__(self, folder: Path, sandbox_image: str) -> None:
        self.folder = folder
        self.socket = folder / "containerd.sock"
        (folder / "config.toml").write_text(
            CONFIG.format(root=folder, socket=self.socket, sandbox_image=sandbox_image)
        )
        self.log = (folder / "containerd.log").open("wb")
        self.process = subprocess.Popen(
            [*PRIVATE_MOUNTS, "containerd", "--config", str(folder / "config.toml")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while self.ctr("version", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"containerd did not start: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        return (self.folder / "containerd.log").read_text(errors="replace")[-2000:]

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def run(
        self, image: str, argv: Sequence[str], *options: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`ctr run --rm`: the process's output (stdout and stderr) and exit code."""
        name = f"t{time.monotonic_ns()}"
        return self.ctr("run", "--rm", *options, image, name, *argv, check=False, timeout=timeout)

    def remove(self, name: str) -> None:
        """Kill a container's task (SIGKILL) and delete task and container."""
        self.ctr("tasks", "kill", "--signal", "SIGKILL", name, check=False)
        for _ in range(50):
            if self.ctr("tasks", "delete", name, check=False).returncode == 0:
                break
            if "not found" in self.ctr("tasks", "ps", name, check=False).stderr:
                break
            time.sleep(0.1)
        self.ctr("containers", "delete", name, check=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
            for task in tasks:
                self.ctr("tasks", "delete", "--force", task, check=False)
            for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("containers", "delete", container, check=False)
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in shims_of(self.socket):
            os.kill(pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def shims_of(socket: Path) -> list[int]:
    """PIDs of containerd shims started by the containerd serving `socket`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            pids.append(int(proc.name))
    return pids
