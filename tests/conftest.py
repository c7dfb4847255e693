"""Shared fixtures: run `osm` in-process, and a Kubernetes API emulator over HTTP."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from osm_cli.app import main
from osm_cli.context import Environment

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@dataclass
class OsmResult:
    exit_code: int
    stdout: str
    stderr: str


def run_osm(
    args: Sequence[str],
    *,
    kubeconfig: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: str = "",
    tty: bool = False,
) -> OsmResult:
    """Run `osm ARGS` in this process with captured streams."""
    env_vars = {"HOME": os.environ.get("HOME", "/root"), "PATH": os.environ.get("PATH", "")}
    env_vars.update(environ or {})
    if kubeconfig is not None:
        env_vars["KUBECONFIG"] = str(kubeconfig)
    env = Environment(
        stdin=io.StringIO(stdin),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ=env_vars,
        tty=tty,
    )
    code = main(list(args), env=env)
    assert isinstance(env.stdout, io.StringIO) and isinstance(env.stderr, io.StringIO)
    return OsmResult(code, env.stdout.getvalue(), env.stderr.getvalue())


@pytest.fixture
def osm():
    """`osm(args, **kw)` → OsmResult; see run_osm."""
    return run_osm


@pytest.fixture
def kube_emulator() -> Iterator[object]:
    """A fresh, stateful Kubernetes API emulator on 127.0.0.1 (tests/emulator)."""
    from tests.emulator import KubeEmulator

    emulator = KubeEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def kubeconfig(kube_emulator, tmp_path) -> Path:
    """A kubeconfig file pointing at ``kube_emulator``."""
    path = tmp_path / "kubeconfig"
    kube_emulator.write_kubeconfig(path)
    return path


@pytest.fixture
def shared_dir() -> Path:
    """../shared (article, facts, external manifests); read-only."""
    return SHARED
