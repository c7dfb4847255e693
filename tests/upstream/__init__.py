"""Upstream OSM v1.2.4 beside ours: its binaries (built by `make upstream-osm` from its Go
module, upstream/) and a way to run its pods as local processes on the real local cluster.
See docs/upstream-comparison.md."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_VERSION = "v1.2.4"
UPSTREAM_COMMIT = "82651008921837b2f21113e4604a807c3f68a97c"


class MissingUpstream(RuntimeError):
    pass


def bin_dir() -> Path:
    """``$OSM_UPSTREAM_BIN`` or the repository's ``.upstream/bin`` (what `make upstream-osm`
    fills)."""
    return Path(os.environ.get("OSM_UPSTREAM_BIN") or REPO / ".upstream" / "bin")


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        raise MissingUpstream(f"{path} is missing: run `make upstream-osm` first")
    return path


def source_dir() -> Path:
    """Upstream's module source as the build used it (chart, CRDs)."""
    path = REPO / ".upstream" / "src" / "osm"
    if not (path / ".complete").exists():
        raise MissingUpstream(f"{path} is missing: run `make upstream-osm` first")
    return path


def offline_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for upstream's CLI with the internet cut off at the process: `osm version` asks
    api.github.com for the latest release; a proxy on a closed local port makes that fail at
    once, without a DNS query, while the API server on 127.0.0.1 is reached directly."""
    return {
        **env,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def cluster_access(real_cluster):  # type: ignore[no-untyped-def]
    """processpod.Cluster for a tests.realkube RealCluster."""
    from tests.realkube.layout import API_PORT, NODE_IP
    from tests.upstream.processpod import Cluster

    return Cluster(
        kubectl=lambda *args: real_cluster.kubectl(*args).stdout,
        netns=real_cluster.state["netns"],
        api_host=NODE_IP,
        api_port=API_PORT,
        api_ca=real_cluster.ca,
    )
