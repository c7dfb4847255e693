"""A thin wrapper over Debian's buildah (1.28): one throw-away storage per build run.

Every call uses its own ``--root``/``--runroot`` under the build's work folder, so nothing is
left in /var/lib/containers and a failed run leaves no half-built image behind: the storage is
deleted at the end (the build runs in a private mount namespace, see build.py, so the overlay
mounts buildah makes vanish with it). Images enter and leave only as OCI archives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RUNC = "/usr/sbin/runc"


class BuildError(Exception):
    """A build step failed; the message names the step and ends with the tool's output."""


@dataclass(frozen=True)
class ImageConfig:
    """The OCI config of an image (what `docker inspect` calls Config)."""

    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    ports: Sequence[int] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


def run(
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a tool; on failure raise BuildError with the last lines of its output."""
    try:
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except FileNotFoundError:
        raise BuildError(f"{what}: {argv[0]} is not installed") from None
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise BuildError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return output


class Buildah:
    """buildah with a private storage folder; `close()` removes containers and storage."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._base = [
            "buildah",
            "--root",
            str(workdir / "storage"),
            "--runroot",
            str(workdir / "run"),
            "--storage-driver",
            "overlay",
        ]

    def _call(self, *args: str, what: str) -> str:
        return run([*self._base, *args], what=what).strip()

    def new(self, parent_archive: Path | None) -> str:
        """A working container from scratch or from an OCI archive; returns its name."""
        source = "scratch" if parent_archive is None else f"oci-archive:{parent_archive}"
        return self._call("from", "--pull-never", "--quiet", source, what=f"buildah from {source}")

    def mount(self, container: str) -> Path:
        return Path(self._call("mount", container, what="buildah mount"))

    def sh(self, container: str, script: str, *, volumes: Sequence[str] = ()) -> None:
        """Run a shell script inside the container (chroot isolation, host network)."""
        args = ["run", "--isolation", "chroot", "--runtime", RUNC]
        for volume in volumes:
            args += ["--volume", volume]
        first_line = script.strip().splitlines()[0][:60]
        self._call(*args, container, "--", "/bin/sh", "-ec", script, what=f"run `{first_line}`")

    def configure(self, container: str, config: ImageConfig) -> None:
        args = ["config"]
        if config.entrypoint:
            args += ["--entrypoint", json.dumps(list(config.entrypoint))]
        if config.cmd:
            args += ["--cmd", json.dumps(list(config.cmd))]
        for name, value in config.env.items():
            args += ["--env", f"{name}={value}"]
        if config.user:
            args += ["--user", config.user]
        if config.workdir:
            args += ["--workingdir", config.workdir]
        for port in config.ports:
            args += ["--port", f"{port}/tcp"]
        for name, value in config.labels.items():
            args += ["--label", f"{name}={value}"]
        self._call(*args, container, what="buildah config")

    def commit(self, container: str, archive: Path, ref: str) -> None:
        """Write the container as a one-manifest OCI archive named `ref`."""
        self._call(
            "commit",
            "--quiet",
            "--format",
            "oci",
            # Created time and file times fixed: the same inputs give the same layers.
            "--timestamp",
            "0",
            container,
            f"oci-archive:{archive}:{ref}",
            what=f"buildah commit {ref}",
        )

    def close(self) -> None:
        """Remove every container and the storage folder (also after a failure)."""
        subprocess.run([*self._base, "rm", "--all"], capture_output=True)
        subprocess.run([*self._base, "rmi", "--all", "--force"], capture_output=True)
        unmount_below(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)


def unmount_below(folder: Path) -> None:
    """Unmount whatever is still mounted under `folder`, deepest first."""
    prefix = str(folder.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point == prefix or mount_point.startswith(prefix + "/"):
            mounts.append(mount_point)
    for mount_point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], capture_output=True)
