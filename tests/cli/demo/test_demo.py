"""`osm demo`: the article's walkthrough end to end (real Envoy), and its output shapes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.envoy


def test_all_scenarios_as_one_json_object(osm):
    started = time.monotonic()
    result = osm(["demo", "--requests", "100", "-o", "json"])
    # Issue 6: the whole walkthrough within 30 s (here ~2 s; benchmarks/bench_demo.py).
    assert time.monotonic() - started < 30
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # exactly one object: json.loads rejects trailing data
    assert data["scenario"] == "all" and data["ok"] is True
    access, canary = data["results"]

    assert access["scenario"] == "access"
    steps = {s["name"]: s for s in access["steps"]}
    assert list(steps) == ["no-policy", "traffic-target", "other-route"]
    assert steps["no-policy"]["allowed"] is False and steps["no-policy"]["status"] != 200
    assert steps["traffic-target"] == {
        "name": "traffic-target",
        "description": "TrafficTarget applied: frontend -> GET /api/values",
        "allowed": True,
        "status": 200,
        "expected": "allowed",
    }
    # Only /api/values is in the HTTPRouteGroup: the RBAC of the api's sidecar refuses the rest.
    assert steps["other-route"]["allowed"] is False and steps["other-route"]["status"] == 403

    assert canary["scenario"] == "canary" and canary["requests"] == 100
    backends = canary["backends"]
    assert set(backends) == {"api-v1", "api-v2"}
    assert backends["api-v1"] + backends["api-v2"] == 100 and canary["errors"] == 0
    # 90/10 with n=100: v2 outside 1..30 has probability < 1e-4.
    assert 1 <= backends["api-v2"] <= 30
    # Envoy's own per-cluster counters agree with the answers the frontend got.
    for backend, count in backends.items():
        envoy = canary["envoy"][backend]
        assert envoy["requests"] == count
        assert envoy["success_rate"] == 1.0
        assert envoy["cluster"].startswith(f"osm-canary-deployment-sample-app/{backend}|")


def test_access_scenario_table_output(osm):
    result = osm(["demo", "--scenario", "access"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["STEP", "EXPECTED", "RESULT", "HTTP", "WHAT"]
    assert lines[1].split()[:3] == ["no-policy", "denied", "denied"]
    assert lines[2].split()[:4] == ["traffic-target", "allowed", "allowed", "200"]
    assert lines[3].split()[:4] == ["other-route", "denied", "denied", "403"]
    # Progress goes to stderr, never into the data.
    assert "access: starting the local mesh" in result.stderr
    assert "starting" not in result.stdout


def test_canary_live_view_on_a_terminal(osm):
    result = osm(["demo", "--scenario", "canary", "-n", "40", "-o", "json"], tty=True)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"scenario", "requests", "backends", "errors"}
    assert data["scenario"] == "canary" and data["requests"] == 40
    assert sum(data["backends"].values()) + data["errors"] == 40
    # The live view (rich, on stderr) showed the final count and Envoy's figures.
    assert "canary: 40/40 requests" in result.stderr
    assert "api-v1" in result.stderr and "envoy rq" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--requests", "0"], "Invalid value for '--requests'"),
        (["--scenario", "mtls"], "Invalid value for '--scenario'"),
    ],
)
def test_bad_options_are_usage_errors(osm, args, message):
    result = osm(["demo", *args])
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_keep_running_serves_the_frontend_until_ctrl_c(tmp_path):
    repo = Path(__file__).resolve().parents[3]
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "wb") as stderr:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "osm_cli",
                "demo",
                "-s",
                "access",
                "--keep-running",
                "-o",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=repo,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 30
            while "press Ctrl-C" not in stderr_path.read_text() and time.monotonic() < deadline:
                assert demo.poll() is None, stderr_path.read_text()
                time.sleep(0.05)
            text = stderr_path.read_text()
            # The pods table names the frontend's address: the mesh still serves it, with the
            # policy the demo applied.
            url = re.search(r"osm-simple-app/frontend-\S+\s+\S+\s+(http://\S+)", text).group(1)
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with direct.open(url + "/", timeout=5) as page:
                assert b"Value 1" in page.read()
            demo.send_signal(signal.SIGINT)
            out, _ = demo.communicate(timeout=20)
        finally:
            demo.kill()
            demo.wait(5)
    assert demo.returncode == 130, stderr_path.read_text()  # 128 + SIGINT
    assert json.loads(out)["scenario"] == "access"
    assert stderr_path.read_text().splitlines()[-1] == "Interrupted (SIGINT)."
