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


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[object]:
    """A real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler
    built from source by `make kube`) for the whole session; see tests/realkube/README.md.
    ``OSM_REAL_CLUSTER=DIR`` uses a cluster started by `make cluster-up` instead."""
    yield from _session_cluster(node=False, reuse=os.environ.get("OSM_REAL_CLUSTER"))


@pytest.fixture(scope="session")
def real_node_cluster() -> Iterator[object]:
    """The same with a real node (kubelet, containerd, CNI, kube-proxy, CoreDNS; images from
    `make images`). ``OSM_REAL_NODE_CLUSTER=DIR`` reuses `make cluster-up NODE=1`."""
    yield from _session_cluster(node=True, reuse=os.environ.get("OSM_REAL_NODE_CLUSTER"))


def _session_cluster(*, node: bool, reuse: str | None) -> Iterator[object]:
    import shutil
    import tempfile

    from tests.realkube import cluster

    if reuse:
        yield cluster.attach(Path(reuse).resolve())
        return
    # Short path: the kubelet's sockets live under it and must stay < 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="osmk-", dir="/tmp"))
    try:
        with cluster.running(root, node=node) as running:
            yield running
    finally:
        shutil.rmtree(root, ignore_errors=True)
