"""`osm dashboard` against what the project's chart really deploys (helm template).

Keeps the command and the chart in agreement: the Grafana Service, its selector, a
non-default port, and where the admin password lives (read from the rendered Deployment).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from osm_mesh.dashboard import run_dashboard
from osm_mesh.kube.client import connect
from osm_mesh.kube.portforward import http_get
from tests.mesh.kube.portforward_helpers import http_server, seed_namespace

pytestmark = pytest.mark.helm

CHART = Path(__file__).resolve().parents[3] / "templates" / "osm"
NS = "osm-system"


def render_grafana(port: int) -> list[dict]:
    helm = shutil.which("helm") or str(Path(__file__).resolve().parents[3] / ".venv/bin/helm")
    values = ["--set", "osm.deployGrafana=true", "--set", f"osm.grafana.port={port}"]
    rendered = subprocess.run(
        [helm, "template", "osm", str(CHART), "--namespace", NS, *values],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    return [
        d
        for d in docs
        if (d["metadata"].get("labels") or {}).get("app") == "osm-grafana"
        and d["kind"] in ("Secret", "Service", "Deployment")
    ]


def test_dashboard_finds_the_charts_grafana(kubeconfig, kube_emulator):
    objects = render_grafana(3300)
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Secret", "Service"]
    secret = next(o for o in objects if o["kind"] == "Secret")
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    seed_namespace(kube_emulator, NS)
    for obj in objects:
        kube_emulator.create(obj)
    pods = [p["metadata"]["name"] for p in kube_emulator.list("v1", "Pod", NS)]
    assert len(pods) == 1  # from the Deployment, by the emulator's controller

    lines: list[str] = []
    stop = threading.Event()
    ready = threading.Event()
    holder: dict = {}

    def on_ready(run):
        holder["run"] = run
        ready.set()

    with http_server() as grafana:
        kube_emulator.serve_port_forward(NS, pods[0], 3300, "127.0.0.1", grafana.server_address[1])
        thread = threading.Thread(
            target=run_dashboard,
            args=(connect(str(kubeconfig)), NS),
            kwargs={"local_port": 0, "report": lines.append, "stop": stop, "on_ready": on_ready},
            daemon=True,
        )
        thread.start()
        assert ready.wait(20), lines
        run = holder["run"]
        assert http_get("127.0.0.1", run.local_port, "/").body == b"grafana /"
        stop.set()
        thread.join(10)

    assert run.target.remote_port == 3300
    assert run.target.password_secret == ("osm-grafana", "admin-password")
    assert any("kubectl get secret osm-grafana -n osm-system" in line for line in lines)
    assert not any(password in line for line in lines)
