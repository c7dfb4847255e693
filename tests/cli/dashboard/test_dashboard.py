"""`osm dashboard`: Service → Running pod → port-forward → wait → browser (or URL)."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from osm_mesh.dashboard import default_browser_opener, find_target, run_dashboard
from osm_mesh.kube.client import connect
from osm_mesh.kube.portforward import http_get
from tests.mesh.kube.portforward_helpers import http_server, seed_namespace, seed_pod

NS = "osm-system"
PASSWORD = "s3cr3t-Grafana-pw"


def seed_grafana(emu, server_port: int | None, phase: str = "Running") -> None:
    seed_namespace(emu, NS)
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "osm-grafana", "namespace": NS},
            "data": {"admin-password": base64.b64encode(PASSWORD.encode()).decode()},
        }
    )
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "osm-grafana", "namespace": NS},
            "spec": {
                "selector": {"app": "osm-grafana"},
                "ports": [{"name": "http", "port": 3000, "targetPort": 3000}],
            },
        }
    )
    env = [
        {
            "name": "GF_SECURITY_ADMIN_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "osm-grafana", "key": "admin-password"}},
        }
    ]
    seed_pod(
        emu,
        NS,
        "osm-grafana-7d9f",
        labels={"app": "osm-grafana"},
        phase=phase,
        containers=[{"name": "grafana", "image": "grafana/grafana", "env": env}],
    )
    if server_port is not None:
        emu.serve_port_forward(NS, "osm-grafana-7d9f", 3000, "127.0.0.1", server_port)


@pytest.fixture
def kube(kubeconfig):
    return connect(str(kubeconfig))


def run_in_thread(kube, **kwargs):
    """Start run_dashboard in a thread; return (lines, run-holder, stop, ready, thread)."""
    lines: list[str] = []
    ready = threading.Event()
    stop = threading.Event()
    holder: dict = {}

    def on_ready(run):
        holder["run"] = run
        ready.set()

    def target():
        try:
            holder["result"] = run_dashboard(
                kube, NS, local_port=0, report=lines.append, stop=stop, on_ready=on_ready, **kwargs
            )
        except BaseException as exc:  # surfaced by the test
            holder["error"] = exc
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert ready.wait(20), lines
    assert "error" not in holder, holder.get("error")
    return lines, holder, stop, thread


def test_waits_for_grafana_then_opens_browser_and_forwards_until_stopped(kube, kube_emulator):
    opened: list[tuple[str, bytes]] = []
    with http_server() as grafana:
        seed_grafana(kube_emulator, grafana.server_address[1])

        def browser(url: str) -> bool:
            # By the time the browser opens, the page must load through the forward.
            with urllib.request.urlopen(url + "/login", timeout=10) as page:
                opened.append((url, page.read()))
            return True

        lines, holder, stop, thread = run_in_thread(kube, browser=browser)
        port = holder["run"].local_port
        # Still forwarding after the browser opened: new connections work.
        assert http_get("127.0.0.1", port, "/d/osm-mesh").body == b"grafana /d/osm-mesh"
        assert thread.is_alive()
        stop.set()
        thread.join(10)
        assert not thread.is_alive()
        hits = list(grafana.hits)

    url = f"http://localhost:{port}"
    assert opened == [(url, b"grafana /login")]
    assert hits[0] == "/api/health"  # readiness probe came before the browser
    assert lines[0] == "[+] Starting Dashboard forwarding"
    assert f"[+] Issuing open browser {url}" in lines
    assert (
        "[+] Grafana user 'admin'; password: kubectl get secret osm-grafana -n osm-system "
        "-o jsonpath='{.data.admin-password}' | base64 -d"
    ) in lines
    assert not any(PASSWORD in line for line in lines)
    assert holder["result"].connections >= 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_headless_prints_the_url_and_keeps_forwarding(kube, kube_emulator):
    with http_server() as grafana:
        seed_grafana(kube_emulator, grafana.server_address[1])
        lines, holder, stop, thread = run_in_thread(kube, browser=None)
        port = holder["run"].local_port
        assert http_get("127.0.0.1", port, "/").status == 200
        stop.set()
        thread.join(10)
    assert f"[+] Grafana is available at http://localhost:{port}" in lines
    assert not any("Issuing open browser" in line for line in lines)
    assert holder["run"].browser_opened is False


def test_forward_follows_the_pod_that_replaced_a_deleted_one(kube, kube_emulator):
    with http_server() as old, http_server(b"grafana-new") as new:
        seed_grafana(kube_emulator, old.server_address[1])
        lines, holder, stop, thread = run_in_thread(kube, browser=None)
        port = holder["run"].local_port
        assert http_get("127.0.0.1", port, "/a").body == b"grafana /a"
        kube_emulator.delete("v1", "Pod", "osm-grafana-7d9f", NS)
        seed_pod(kube_emulator, NS, "osm-grafana-8e0a", labels={"app": "osm-grafana"})
        kube_emulator.serve_port_forward(
            NS, "osm-grafana-8e0a", 3000, "127.0.0.1", new.server_address[1]
        )
        assert http_get("127.0.0.1", port, "/b").body == b"grafana-new /b"
        assert http_get("127.0.0.1", port, "/c").body == b"grafana-new /c"
        stop.set()
        thread.join(10)
    moves = [line for line in lines if "is gone" in line]
    assert moves == ["[+] Pod osm-system/osm-grafana-7d9f is gone; forwarding to osm-grafana-8e0a"]


def test_browser_that_fails_falls_back_to_the_url(kube, kube_emulator):
    with http_server() as grafana:
        seed_grafana(kube_emulator, grafana.server_address[1])
        lines, holder, stop, thread = run_in_thread(kube, browser=lambda url: False)
        stop.set()
        thread.join(10)
    url = holder["run"].url
    assert f"[!] Could not open a browser; open {url} yourself" in lines


def test_prometheus_named_target_port_and_jaeger_ui_port(kube, kube_emulator):
    seed_namespace(kube_emulator, NS)
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "osm-prometheus", "namespace": NS},
            "spec": {
                "selector": {"app": "osm-prometheus"},
                "ports": [{"port": 7070, "targetPort": "web"}],
            },
        }
    )
    seed_pod(
        kube_emulator,
        NS,
        "osm-prometheus-1",
        labels={"app": "osm-prometheus"},
        containers=[
            {"name": "p", "image": "prom", "ports": [{"name": "web", "containerPort": 9090}]}
        ],
    )
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "jaeger", "namespace": NS},
            "spec": {"selector": {"app": "jaeger"}, "ports": [{"port": 9411}]},
        }
    )
    seed_pod(kube_emulator, NS, "jaeger-1", labels={"app": "jaeger"})
    prometheus = find_target(kube, NS, "prometheus")
    assert (prometheus.pod, prometheus.remote_port) == ("osm-prometheus-1", 9090)
    assert prometheus.password_secret is None
    jaeger = find_target(kube, NS, "jaeger")
    assert (jaeger.pod, jaeger.remote_port) == ("jaeger-1", 16686)
    assert find_target(kube, NS, "jaeger", remote_port=1234).remote_port == 1234


def test_grafana_not_deployed_says_how_to_deploy(osm, kubeconfig, kube_emulator):
    seed_namespace(kube_emulator, NS)
    result = osm(["dashboard", "-b=false"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[1] == (
        "Error: Failed to get OSM Grafana service data: service osm-grafana not found in "
        "namespace osm-system"
    )
    assert "osm mesh upgrade --set osm.deployGrafana=true" in lines[2]
    assert "osm install --enable-grafana" in lines[2]
    assert "--osm-namespace" in lines[2]
    assert "Traceback" not in result.stderr


def test_no_running_grafana_pod(osm, kubeconfig, kube_emulator):
    seed_grafana(kube_emulator, None, phase="Pending")
    result = osm(["dashboard", "--service", "grafana"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert (
        "Error: No running Grafana pod available in namespace osm-system "
        "(found: osm-grafana-7d9f (Pending))"
    ) in result.stderr


def test_local_port_taken(osm, kubeconfig, kube_emulator):
    seed_grafana(kube_emulator, None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = osm(["dashboard", "-p", str(port)], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert f"Error: Local port {port} on 127.0.0.1 is already in use\n" in result.stderr
    assert "Choose another local port with -p/--local-port (e.g. " in result.stderr


@pytest.mark.parametrize(("args", "code"), [(["-b=maybe"], 2), (["--service", "kiali"], 2)])
def test_usage_errors(osm, args, code):
    result = osm(["dashboard", *args])
    assert result.exit_code == code
    assert "Traceback" not in result.stderr


def test_browser_opener_is_none_without_a_display(monkeypatch):
    import osm_mesh.dashboard as dashboard

    monkeypatch.setattr(dashboard, "_kernel_release", lambda: "6.1.0-generic")
    assert default_browser_opener({}, platform="linux") is None
    assert default_browser_opener({"DISPLAY": ":0"}, platform="linux") is not None
    assert default_browser_opener({"BROWSER": "firefox"}, platform="linux") is not None
    assert default_browser_opener({}, platform="darwin") is not None
    monkeypatch.setattr(dashboard, "_kernel_release", lambda: "5.15.90.1-microsoft-standard-WSL2")
    assert default_browser_opener({}, platform="linux") is not None


def test_ctrl_c_stops_forwarding_with_exit_0(kubeconfig, kube_emulator, tmp_path):
    """The real command in its own process: headless URL, then SIGINT → clean exit 0."""
    with http_server() as grafana:
        seed_grafana(kube_emulator, grafana.server_address[1])
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "KUBECONFIG": str(kubeconfig),
        }
        proc = subprocess.Popen(
            # -b=false: never a real browser, whatever the machine has.
            [sys.executable, "-m", "osm_cli", "dashboard", "-p", "0", "-b=false"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            seen = []
            assert proc.stderr is not None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line:
                    break
                seen.append(line)
                if "Forwarding until interrupted" in line:
                    break
            text = "".join(seen)
            match = re.search(r"available at (http://localhost:\d+)", text)
            assert match, text
            with urllib.request.urlopen(match.group(1) + "/", timeout=10) as page:
                assert page.read() == b"grafana /"
            proc.send_signal(signal.SIGINT)
            _, rest = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, text + rest
    assert "[+] Interrupted, closing" in rest
    assert "Traceback" not in text + rest


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("127.0.0.1", "http://localhost:3000"),
        ("0.0.0.0", "http://localhost:3000"),
        ("::", "http://localhost:3000"),
        ("192.168.49.1", "http://192.168.49.1:3000"),
        ("fd00::5", "http://[fd00::5]:3000"),
    ],
)
def test_dashboard_url_for_each_address(address, url):
    from osm_mesh.dashboard import dashboard_url

    assert dashboard_url(address, 3000) == url
