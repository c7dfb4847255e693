"""Where the Kubernetes binaries built by `make kube` (cluster/) are, and which release."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "v1.37.2"
COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)


class MissingBinaries(RuntimeError):
    pass


def bin_dir() -> Path:
    """``$OSM_KUBE_BIN`` or the repository's ``.kube/bin`` (what `make kube` fills)."""
    return Path(os.environ.get("OSM_KUBE_BIN") or REPO / ".kube" / "bin")


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        raise MissingBinaries(f"{path} is missing: run `make kube` first")
    return path


def pinned_version() -> str:
    """The Kubernetes release cluster/go.mod pins (the single source of truth)."""
    text = (REPO / "cluster" / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", text, re.MULTILINE)
    if not match:
        raise MissingBinaries("cluster/go.mod pins no k8s.io/kubernetes version")
    return match.group(1)
