"""Where running local meshes announce themselves, so `osm stat --local` and
`osm proxy status --local` find them without being told the work directory.

Each running ``LocalMesh`` writes ``<pid>-<address block>.json`` (its ``state()``: addresses,
pods, the control plane's debug URL; ``osm demo`` runs two meshes in one process) into a
per-user directory: ``$XDG_RUNTIME_DIR/osm-running``, else
``<tmp>/osm-running-<uid>``. The directory must belong to the user and be closed to others —
one planted in the shared temp directory by another user is refused, never followed. Entries
whose process is gone are ignored and removed.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from osm_mesh.errors import MeshError

# A state file is a few KB per pod; anything far larger is not ours.
MAX_ENTRY_BYTES = 4 * 1024 * 1024


def registry_dir(environ: Mapping[str, str] | None = None, create: bool = True) -> Path:
    environ = os.environ if environ is None else environ
    runtime = environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime) / "osm-running"
        if runtime
        else Path(tempfile.gettempdir()) / f"osm-running-{os.getuid()}"
    )
    if create:
        try:
            base.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise MeshError(f"cannot create {base}: {exc.strerror}") from None
    if base.exists():
        _check_private(base)
    return base


def _check_private(path: Path) -> None:
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise MeshError(
            f"{path} is not a directory of yours: refusing to use it for local-mesh state",
            hint="Remove it, or set XDG_RUNTIME_DIR to a private directory",
        )
    if info.st_mode & 0o022:
        raise MeshError(
            f"{path} is writable by other users: refusing to use it for local-mesh state",
            hint=f"chmod 700 {path}",
        )


def register(state: dict[str, Any], environ: Mapping[str, str] | None = None) -> Path:
    """Write ``state`` (with its ``pid``) as this process's entry, atomically."""
    directory = registry_dir(environ)
    path = directory / entry_name(state)
    tmp = directory / f".{path.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, path)
    return path


def entry_name(state: Mapping[str, Any]) -> str:
    block = str(state.get("addresses") or "none").split("/")[0].replace(":", "_")
    return f"{int(state['pid'])}-{block}.json"


def unregister(state: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    try:
        directory = registry_dir(environ, create=False)
    except MeshError:
        return
    (directory / entry_name(state)).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process reusing the pid
        return False
    return True


def running(environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The states of the local meshes running now, oldest pid first."""
    directory = registry_dir(environ, create=False)
    if not directory.exists():
        return []
    found = []
    for entry in sorted(directory.glob("*.json"), key=lambda p: p.stem):
        pid_text = entry.stem.split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if not _alive(pid):
            entry.unlink(missing_ok=True)
            continue
        try:
            if entry.stat().st_size > MAX_ENTRY_BYTES:
                continue
            state = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and state.get("pid") == pid:
            found.append(state)
    return found


def read_state(work_dir: str | Path) -> dict[str, Any]:
    """The ``state.json`` of a local mesh started with ``--work-dir``."""
    path = Path(work_dir) / "state.json"
    try:
        if path.stat().st_size > MAX_ENTRY_BYTES:
            raise MeshError(f"{path} is too large to be a local-mesh state file")
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise MeshError(
            f"no local mesh state in {work_dir} (no state.json)",
            hint="Pass the --work-dir that `osm local run` was started with",
        ) from None
    except (OSError, ValueError) as exc:
        raise MeshError(f"cannot read {path}: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("pods"), list):
        raise MeshError(f"{path} is not a local-mesh state file")
    pid = state.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        raise MeshError(
            f"the local mesh of {work_dir} is not running (process {pid} is gone)",
            hint="Start it with `osm local run -f DIR --work-dir DIR`",
        )
    return state


def pick(work_dir: str | Path | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The one local mesh meant: ``work_dir``'s, else the only one running."""
    if work_dir is not None:
        return read_state(work_dir)
    states = running(environ)
    if not states:
        raise MeshError(
            "no local mesh is running",
            hint="Start one with `osm local run -f DIR` or `osm demo --keep-running`",
        )
    if len(states) > 1:
        listing = ", ".join(f"{s.get('workDir')} (pid {s.get('pid')})" for s in states)
        raise MeshError(
            f"{len(states)} local meshes are running: {listing}",
            hint="Choose one with --work-dir DIR",
        )
    return states[0]
