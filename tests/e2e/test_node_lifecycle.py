"""A node cluster leaves nothing behind: after a pod ran and the cluster stopped, no process,
network namespace, pod network namespace file, cgroup or socket folder of it remains."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from tests.realkube import __main__ as realkube_cli
from tests.realkube import cluster, netns
from tests.realkube.node import NodeFiles

IMAGE = "docker.io/thorstenhans/osm-sample-api-v1:0.0.4"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pids_in_cgroups(cgroup_root: str) -> list[int]:
    pids = []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        root = hierarchy / cgroup_root.lstrip("/")
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                pids += [int(p) for p in procs.read_text().split()]
    return pids


def _run_a_pod(node: cluster.RealCluster) -> tuple[dict, NodeFiles, list[int]]:
    """Run one pod to Ready; the cluster's state, the node's files, and every pid that must
    die with the cluster (the pod's, found in the node's cgroups, and the components')."""
    node.kubectl("run", "web", f"--image={IMAGE}")
    node.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=120s")
    state = node.state
    files = NodeFiles(node.layout, state["netns"])
    in_cgroups = _pids_in_cgroups(files.cgroup_root)
    assert in_cgroups, "the pod's processes were not in the node's cgroups"
    return state, files, in_cgroups + [c["pid"] for c in state["components"].values()]


def _assert_all_exit(pids: list[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(map(_alive, pids)):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]


def test_a_stopped_node_leaves_nothing_behind():
    root = Path(tempfile.mkdtemp(prefix="osmk-", dir="/tmp"))
    pod_netns_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    try:
        node = cluster.start(root, node=True)
        try:
            state, files, pids = _run_a_pod(node)
        finally:
            node.stop()
        _assert_all_exit(pids)
        assert state["netns"] not in netns.stale_namespaces()
        assert not any(
            (h / files.cgroup_root.lstrip("/")).exists() for h in Path("/sys/fs/cgroup").iterdir()
        )
        assert not files.run.exists()
        pod_netns_after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        assert not {n for n in pod_netns_after - pod_netns_before if n.startswith("cni-")}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    lines = Path("/proc/self/mounts").read_text().splitlines()
    return [line.split()[1] for line in lines if line.split()[1].startswith(prefix)]


def test_down_cleans_up_after_a_killed_supervisor():
    """SIGKILL gives the supervisor no chance to clean up (a CI job killed, an OOM kill): its
    components die with it (parent-death signals), and `python -m tests.realkube down` then
    removes what it left — the network namespace, the node's cgroups, socket folder and pod
    network namespace mounts."""
    root = Path(tempfile.mkdtemp(prefix="osmk-", dir="/tmp"))
    try:
        node = cluster.start(root, node=True)
        try:
            state, files, pids = _run_a_pod(node)
            assert node.process is not None
            node.process.kill()
            node.process.wait()
        finally:
            node.stop()
        _assert_all_exit(pids)
        # What the kill left behind, so that the test shows `down` removing it.
        assert state["netns"] in netns.stale_namespaces()
        left_cgroups = [h / files.cgroup_root.lstrip("/") for h in Path("/sys/fs/cgroup").iterdir()]
        assert any(c.exists() for c in left_cgroups)
        assert files.run.exists()

        assert realkube_cli.main(["down", str(root)]) == 0
        assert state["netns"] not in netns.stale_namespaces()
        assert not any(c.exists() for c in left_cgroups)
        assert not files.run.exists()
        assert not _mounts_under(root)
        assert not root.exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
