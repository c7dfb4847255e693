"""`python -m osm_mesh.controller` as the pod runs it: flags, readiness, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.mesh.controller.conftest import http_get, seed_mesh
from tests.mesh.controller.test_injected_envoy import free_port


def test_serves_until_sigterm_then_exits_zero(kube_emulator, kubeconfig, tmp_path):
    seed_mesh(kube_emulator)
    http_port, ads_port = free_port(), free_port()
    log = tmp_path / "controller.log"
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env.update(POD_NAME="osm-controller-0", POD_NAMESPACE="osm-system")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "osm_mesh.controller",
                "--mesh-name=osm",
                "--osm-namespace=osm-system",
                "--mesh-config-name=osm-mesh-config",
                "--ca-bundle-secret-name=osm-ca-bundle",
                "--ca-bundle-dir=/nonexistent",
                "--trust-domain=cluster.local",
                "--log-level=info",
                f"--ads-port={ads_port}",
                f"--http-port={http_port}",
                "--debug-port=0",
                f"--kubeconfig={kubeconfig}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = http_get(http_port, "/health/ready")[0] == 200
            except OSError:
                ready = False
            if ready:
                break
            time.sleep(0.1)
        assert ready, log.read_text()
        assert kube_emulator.get("v1", "Secret", "osm-ca-bundle", "osm-system") is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
        text = log.read_text()
        assert "SIGTERM received; shutting down" in text
        assert "controller stopped" in text
        assert "Traceback" not in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_kubeconfig_is_one_line_and_exit_1(tmp_path):
    missing = tmp_path / "nope"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "osm_mesh.controller",
            f"--kubeconfig={missing}",
            "--http-port=0",
            "--debug-port=0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "controller could not start: Could not load kubeconfig" in result.stderr
    assert "Traceback" not in result.stderr


def test_injector_process_registers_its_webhook_and_stops_on_sigterm(
    kube_emulator, kubeconfig, tmp_path
):
    from osm_mesh.controller.ca import ensure_ca
    from osm_mesh.kube.client import connect

    seed_mesh(kube_emulator)
    ensure_ca(connect(str(kubeconfig)), "osm-system")  # the controller's part
    http_port, webhook_port = free_port(), free_port()
    log = tmp_path / "injector.log"
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "osm_mesh.injector",
                "--mesh-name=osm",
                "--osm-namespace=osm-system",
                "--webhook-config-name=osm-webhook-osm",
                f"--webhook-port={webhook_port}",
                "--webhook-timeout-seconds=7",
                "--ads-address=osm-controller.osm-system.svc:15128",
                "--init-image=registry.local/osm:1",
                f"--http-port={http_port}",
                f"--kubeconfig={kubeconfig}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                ready = http_get(http_port, "/health/ready")[0] == 200
            except OSError:
                time.sleep(0.1)
        assert ready, log.read_text()
        config = kube_emulator.get(
            "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "osm-webhook-osm"
        )
        assert config["webhooks"][0]["timeoutSeconds"] == 7
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
