"""The local mesh end to end: real control plane, real Envoy sidecars, real apps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG, SIMPLE_NS, call_frontend
from osm_mesh.local.inputs import load_objects
from osm_mesh.local.runtime import LocalMesh

pytestmark = pytest.mark.envoy
REPO = Path(__file__).resolve().parents[3]
SIMPLE = [MESH_CONFIG, MANIFESTS / "simple" / "app", MANIFESTS / "simple" / "smi"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_policy_applies_live_and_teardown_leaves_nothing(tmp_path: Path):
    mesh = LocalMesh([MESH_CONFIG, MANIFESTS / "simple" / "app"], work_dir=tmp_path)
    with mesh:
        frontend = mesh.pod(SIMPLE_NS, "frontend")
        api = mesh.pod(SIMPLE_NS, "api")
        assert frontend.ip != api.ip and frontend.ip.startswith("127.")
        denied = call_frontend(frontend)
        assert denied["status"] != 200 and denied["values"] is None
        mesh.apply(load_objects([MANIFESTS / "simple" / "smi"]))
        allowed = call_frontend(frontend)
        assert allowed["status"] == 200
        assert allowed["values"] == ["Value 1", "Value 2", "Value 3"]
        # The api's sidecar saw the call on its inbound (mTLS) listener: it went through both.
        inbound = api.envoy.stats(r"^http\.inbound\.downstream_rq_2xx$")
        assert inbound["http.inbound.downstream_rq_2xx"] >= 1
        state = json.loads((tmp_path / "state.json").read_text())
        pids = [p["appPid"] for p in state["pods"]] + [p["envoyPid"] for p in state["pods"]]
        assert all(_alive(pid) for pid in pids)
        assert (tmp_path / "logs" / f"{frontend.pod.name}.envoy.log").exists()
    assert _wait(lambda: not any(_alive(pid) for pid in pids), 5)
    # Bootstraps hold the sidecars' ADS client keys: owner-only.
    bootstrap = tmp_path / "envoy" / f"{api.pod.name}.envoy.bootstrap.json"
    assert bootstrap.stat().st_mode & 0o077 == 0


def test_two_instances_at_once_do_not_collide():
    meshes: list[LocalMesh] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            meshes.append(LocalMesh(SIMPLE).start())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        first, second = meshes
        assert first.state()["addresses"] != second.state()["addresses"]
        for mesh in meshes:
            answer = call_frontend(mesh.pod(SIMPLE_NS, "frontend"))
            assert answer["status"] == 200, answer
    finally:
        for mesh in meshes:
            mesh.stop()


def test_no_orphans_when_the_runtime_is_sigkilled(tmp_path: Path):
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    runtime = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "osm_cli",
            "local",
            "run",
            "-f",
            str(MANIFESTS / "simple"),
            "--work-dir",
            str(work),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        state_file = work / "state.json"
        assert _wait(state_file.exists, 30), (
            runtime.stderr.read().decode() if runtime.poll() else ""
        )
        state = json.loads(state_file.read_text())
        pids = [p["appPid"] for p in state["pods"]] + [p["envoyPid"] for p in state["pods"]]
        assert len(pids) == 4 and all(_alive(pid) for pid in pids)
        runtime.send_signal(signal.SIGKILL)
        runtime.wait(5)
        assert _wait(lambda: not any(_alive(pid) for pid in pids), 5), [
            pid for pid in pids if _alive(pid)
        ]
    finally:
        runtime.kill()
        runtime.wait(5)


def test_sigterm_stops_local_run_cleanly(tmp_path: Path):
    work = tmp_path / "work"
    runtime = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "osm_cli",
            "local",
            "run",
            "-f",
            str(MANIFESTS / "simple"),
            "--work-dir",
            str(work),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    printed: list[bytes] = []
    reader = threading.Thread(
        target=lambda: printed.extend(iter(runtime.stdout.readline, b"")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        assert _wait((work / "state.json").exists, 30)
        state = json.loads((work / "state.json").read_text())
        # The table is printed after state.json is written: signal once it is out.
        urls = [pod["url"] for pod in state["pods"]]
        assert _wait(lambda: all(u in b"".join(printed).decode() for u in urls), 30)
        runtime.send_signal(signal.SIGTERM)
        _, err = runtime.communicate(timeout=15)
        reader.join(5)
        out = b"".join(printed)
        # Stopped by a signal: 128 + SIGTERM, one line (issue 12.6).
        assert runtime.returncode == 143, err
        assert err.decode().splitlines()[-1] == "Interrupted (SIGTERM)."
        text = out.decode()
        # The pods table: every pod with its address.
        for pod in state["pods"]:
            assert pod["url"] in text
        pids = [p["appPid"] for p in state["pods"]] + [p["envoyPid"] for p in state["pods"]]
        assert not any(_alive(pid) for pid in pids)
    finally:
        runtime.kill()
        runtime.wait(5)


def test_a_crashing_app_fails_fast_and_tears_down(tmp_path: Path, osm):
    crash = (
        'python -c "import os, socket, time; '
        "s = socket.create_server((os.environ['POD_IP'], int(os.environ['PORT']))); "
        "print('up', flush=True); time.sleep(1.5); raise SystemExit(3)\""
    )
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "flaky",
            "namespace": "demo",
            "annotations": {"local.openservicemesh.io/command": crash},
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "flaky"}},
                "spec": {"containers": [{"name": "flaky", "ports": [{"containerPort": 8080}]}]},
            }
        },
    }
    unused_routes = {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "unused", "namespace": "demo"},
        "spec": {"matches": [{"name": "all", "pathRegex": ".*"}]},
    }
    (tmp_path / "flaky.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [manifest, unused_routes]})
    )
    work = tmp_path / "work"
    started = time.monotonic()
    result = osm(["local", "run", "-f", str(tmp_path / "flaky.json"), "--work-dir", str(work)])
    assert result.exit_code == 1
    assert "Error: flaky-" in result.stderr and "exited with code 3" in result.stderr
    assert "up" in result.stderr  # the hint shows the tail of the app's log
    # Lint's findings are said before the mesh runs, as lint says them.
    assert (
        f"{tmp_path / 'flaky.json'}:1: info[OSM0307]: HTTPRouteGroup/demo/unused metadata.name: "
        "not referenced by any TrafficTarget or TrafficSplit"
    ) in result.stderr
    assert time.monotonic() - started < 15
    state = json.loads((work / "state.json").read_text())
    pids = [p["appPid"] for p in state["pods"]] + [p["envoyPid"] for p in state["pods"]]
    assert not any(_alive(pid) for pid in pids)


def test_an_app_reaches_a_service_by_its_cluster_names(tmp_path: Path):
    with LocalMesh(SIMPLE) as mesh:
        frontend = mesh.pod(SIMPLE_NS, "frontend")
        proxy = urllib.request.ProxyHandler({"http": f"http://{frontend.ip}:15001"})
        opener = urllib.request.build_opener(proxy)
        for host in ("api", "api.osm-simple-app", "api.osm-simple-app.svc.cluster.local:80"):
            with opener.open(f"http://{host}/api/values", timeout=5) as response:
                assert json.loads(response.read()) == ["Value 1", "Value 2", "Value 3"]


def test_permissive_mode_makes_the_access_walkthrough_fail_its_expectations():
    from osm_mesh.local.demo import QuietObserver, run_access

    permissive = {
        "apiVersion": "config.openservicemesh.io/v1alpha2",
        "kind": "MeshConfig",
        "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
        "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": True}},
    }
    with LocalMesh([MANIFESTS / "simple" / "app"], [permissive]) as mesh:
        result = run_access(mesh, QuietObserver())
    steps = {s.name: s for s in result.steps}
    # Permissive: every meshed client reaches every service, TrafficTargets are ignored.
    assert steps["no-policy"].allowed is True and steps["no-policy"].status == 200
    assert steps["other-route"].allowed is True
    assert result.ok is False and result.as_dict()["ok"] is False
