"""The init container's script applied for real: two network namespaces joined by a veth pair
(a pod and its node), the pod's nat table set up by ``init_script`` exactly as the injected
container runs it, and connections in both directions checked against where they land.

Needs root, ``ip`` and ``iptables`` (skipped otherwise, e.g. on CI machines without them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from osm_mesh.injector.iptables import init_script, redirect_rules

PEER = str(Path(__file__).with_name("netns_peer.py"))
POD_IP, NODE_IP = "10.77.0.2", "10.77.0.1"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables-restore"),
    reason="needs root, ip and iptables to build network namespaces",
)


def run(*args: str, ns: str | None = None, **kw) -> subprocess.CompletedProcess:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, **kw)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:6]
    pod, node = f"osmpod-{suffix}", f"osmnode-{suffix}"
    created: list[str] = []
    try:
        for ns in (pod, node):
            run("ip", "netns", "add", ns)
            created.append(ns)
        run("ip", "link", "add", f"vp{suffix}", "type", "veth", "peer", "name", f"vn{suffix}")
        run("ip", "link", "set", f"vp{suffix}", "netns", pod)
        run("ip", "link", "set", f"vn{suffix}", "netns", node)
        for ns, dev, ip in ((pod, f"vp{suffix}", POD_IP), (node, f"vn{suffix}", NODE_IP)):
            run("ip", "addr", "add", f"{ip}/24", "dev", dev, ns=ns)
            run("ip", "link", "set", dev, "up", ns=ns)
            run("ip", "link", "set", "lo", "up", ns=ns)
        yield pod, node
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], check=False)


def serve(ns: str, tag: str, ports: list[int]) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, PEER, "serve", tag, *map(str, ports)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def connect(ns: str, host: str, port: int, uid: int | None = None) -> str:
    extra = [str(uid)] if uid is not None else []
    return run(
        sys.executable, PEER, "connect", host, str(port), *extra, ns=ns, timeout=30
    ).stdout.strip()


def test_the_init_script_redirects_pod_traffic_to_envoy(netns):
    pod, node = netns
    rules = redirect_rules(
        probe_ports=[15901],
        outbound_port_exclusions=[6379],
        inbound_port_exclusions=[9999],
    )
    run("sh", "-c", init_script(rules), ns=pod)  # what the osm-init container runs

    # In the pod: "Envoy" (15001 outbound, 15003 inbound, 15010 metrics, 15901 probe) and the
    # app (8080, 9999). On the node: servers the pod calls.
    servers = [
        serve(pod, "pod", [15001, 15003, 15010, 15901, 8080, 9999]),
        serve(node, "node", [80, 6379]),
    ]
    try:
        # The app calling out lands on Envoy's outbound listener, which can still tell where
        # the app meant to go.
        assert connect(pod, NODE_IP, 80) == f"pod 15001 {NODE_IP}:80"
        # Envoy itself (UID 1500) goes out unredirected, or it would loop into itself.
        assert connect(pod, NODE_IP, 80, uid=1500) == "node 80 -"
        # MeshConfig outbound port exclusions go out directly.
        assert connect(pod, NODE_IP, 6379) == "node 6379 -"
        # Loopback stays loopback (app to its sidecar, app to itself).
        assert connect(pod, "127.0.0.1", 8080) == "pod 8080 -"

        # Traffic arriving at the pod lands on Envoy's inbound listener...
        assert connect(node, POD_IP, 8080) == f"pod 15003 {POD_IP}:8080"
        # ...except Prometheus scrapes, kubelet probes and excluded ports.
        assert connect(node, POD_IP, 15010) == "pod 15010 -"
        assert connect(node, POD_IP, 15901) == "pod 15901 -"
        assert connect(node, POD_IP, 9999) == "pod 9999 -"
    finally:
        for server in servers:
            server.kill()
            server.wait()
