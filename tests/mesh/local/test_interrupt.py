"""Stopping and failing cleanly (issue 12, items 6-8): signals at any moment, fast and named
failures, one mesh per work directory. Real processes: `osm local run` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from osm_mesh.errors import InvalidInput, MeshError
from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG
from osm_mesh.local.runtime import LocalMesh

pytestmark = pytest.mark.envoy
REPO = Path(__file__).resolve().parents[3]
APP = MANIFESTS / "simple" / "app"


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line names ``text`` (apps and Envoys of a work dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _start_local_run(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    stderr_path = tmp_path / "stderr"
    command = [sys.executable, "-m", "osm_cli", "local", "run", "-f", str(MESH_CONFIG)]
    command += ["-f", str(APP), *args]
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=REPO,
            env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"},
        )
    return process, stderr_path, tmpdir


def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text() and time.monotonic() < deadline:
        assert process.poll() is None, path.read_text()
        time.sleep(0.005)
    assert text in path.read_text(), path.read_text()


@pytest.mark.parametrize(
    "moment", ["starting", "running"], ids=["during-start-up", "while-running"]
)
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT], ids=lambda s: s.name
)
def test_a_stop_signal_stops_everything_removes_the_keys_and_says_one_line(tmp_path, sig, moment):
    process, stderr_path, tmpdir = _start_local_run(tmp_path)
    try:
        marker = "Starting the local mesh" if moment == "starting" else "press Ctrl-C"
        _wait_for(stderr_path, marker, process, 30)
        if moment == "starting":
            # Let the start-up get going: processes and keys exist by now or soon.
            time.sleep(0.15)
        process.send_signal(sig)
        code = process.wait(20)
    finally:
        process.kill()
        process.wait(5)
    stderr = stderr_path.read_text()
    assert code == 128 + sig, stderr
    assert stderr.splitlines()[-1] == f"Interrupted ({sig.name}).", stderr
    assert "Traceback" not in stderr
    # The temporary work directory held the sidecars' private keys: gone; and the mesh no
    # longer announces itself (the per-user registry of running meshes may stay, empty).
    assert [p.name for p in tmpdir.glob("osm-local-*")] == []
    assert [p.name for p in tmpdir.glob("osm-running-*/*")] == []
    deadline = time.monotonic() + 5
    while _processes_mentioning(str(tmpdir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_mentioning(str(tmpdir)) == []


def _catches(pid: int, sig: signal.Signals) -> bool:
    """The process has a handler for ``sig`` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(mask & (1 << (sig - 1)))


def test_ctrl_c_in_the_first_milliseconds_is_one_line(tmp_path):
    """The moment `osm` installs its handlers (visible as SIGQUIT caught: Python itself does
    not catch it) comes before the ~0.1 s of imports where a Ctrl-C used to print a
    KeyboardInterrupt traceback; a Ctrl-C right then is one line and exit 130."""
    osm = Path(sys.executable).with_name("osm")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [str(osm), "local", "run", "-f", str(APP)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        deadline = time.monotonic() + 10
        while not _catches(process.pid, signal.SIGQUIT) and time.monotonic() < deadline:
            assert process.poll() is None
            time.sleep(0.001)
        process.send_signal(signal.SIGINT)
        code = process.wait(20)
    finally:
        process.kill()
        process.wait(5)
    stderr = stderr_path.read_text()
    assert "Traceback" not in stderr and code == 130, stderr
    assert stderr.splitlines()[-1] == "Interrupted (SIGINT).", stderr
    # It really was early: nothing of the mesh had been printed yet.
    assert "Traffic policy" not in stderr, stderr


def test_an_explicit_work_dir_is_kept_on_interruption(tmp_path):
    work = tmp_path / "work"
    process, stderr_path, _ = _start_local_run(tmp_path, "--work-dir", str(work))
    try:
        _wait_for(stderr_path, "press Ctrl-C", process, 30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 143
    finally:
        process.kill()
        process.wait(5)
    assert (work / "state.json").exists()  # the user's directory: theirs to remove


def test_a_second_mesh_on_the_same_work_dir_is_refused(osm, tmp_path):
    work = tmp_path / "work"
    with LocalMesh([MESH_CONFIG, APP], work_dir=work):
        started = time.monotonic()
        with pytest.raises(MeshError) as refused:
            LocalMesh([MESH_CONFIG, APP], work_dir=work).start()
        assert time.monotonic() - started < 5
        assert refused.value.message == (
            f"the work directory {work} is in use by another local mesh (pid {os.getpid()})"
        )
        # The running one is untouched.
        assert (work / "state.json").exists()
        result = osm(
            ["local", "run", "-f", str(MESH_CONFIG), "-f", str(APP), "--work-dir", str(work)]
        )
        assert result.exit_code == 1 and "is in use by another local mesh" in result.stderr
    # Released with the mesh: the next one may use the directory.
    with LocalMesh([MESH_CONFIG, APP], work_dir=work):
        pass


def _deployment(name: str, command: str, port: int) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {"local.openservicemesh.io/command": command},
        },
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "ports": [{"containerPort": port}]}]},
            },
        },
    }


def test_a_sidecar_port_collision_is_refused_at_once_with_the_reason(tmp_path):
    (tmp_path / "web.yaml").write_text(
        yaml.safe_dump(_deployment("web", "sh -c 'exec sleep 30'", 15001))
    )
    started = time.monotonic()
    with pytest.raises(InvalidInput) as refused:
        LocalMesh([tmp_path / "web.yaml"], work_dir=tmp_path / "work")
    assert time.monotonic() - started < 3
    assert (
        "Deployment shop/web: containerPort 15001 is the sidecar's outbound port on the pod's "
        "address; apps cannot use 15000, 15001, 15003" in refused.value.message
    )
    assert not (tmp_path / "work").exists()


def test_an_app_that_never_listens_fails_within_the_timeout_with_progress(osm, tmp_path):
    (tmp_path / "web.yaml").write_text(
        yaml.safe_dump(_deployment("web", "sh -c 'echo starting; exec sleep 60'", 8080))
    )
    started = time.monotonic()
    result = osm(
        [
            "local",
            "run",
            "-f",
            str(tmp_path),
            "--work-dir",
            str(tmp_path / "w"),
            "--ready-timeout",
            "3.5",
        ]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 10, elapsed
    assert "waiting for shop/web-" in result.stderr and "to listen on 127." in result.stderr
    assert "did not listen on 127." in result.stderr and "within 4s" in result.stderr
    assert "Apps must listen on $POD_IP:$PORT" in result.stderr
    assert "starting" in result.stderr  # the tail of its log
    assert "Traceback" not in result.stderr
