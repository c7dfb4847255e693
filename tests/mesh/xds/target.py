"""A control plane in a process of its own, for attacks whose effect is the server's memory.

``python -m tests.mesh.xds.target --services 300 --permissive`` builds a mesh (one pod per
Service, each with an ``osm-proxy-uuid``), starts a ControlPlane on 127.0.0.1:0 and answers
one JSON command per stdin line with one JSON line on stdout:

- ``{"op": "hello"}`` → port, CA PEM, the pods' proxy UUIDs;
- ``{"op": "bootstrap", "uuid": U}`` → that pod's node id and ADS client cert/key/CA;
- ``{"op": "add_pod", "uuid": U}`` / ``{"op": "remove_pod", "uuid": U}`` → pod churn;
- ``{"op": "rss"}`` → VmRSS and VmHWM in bytes (after a garbage collection);
- ``{"op": "state"}`` → the size of every per-proxy map (``ControlPlane.state_sizes``);
- ``{"op": "quit"}``.

:class:`Target` drives it from the test or benchmark process, so the attacker's own buffers
never count in the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
NS = "churn"


def mesh_objects(services: int, permissive: bool) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": permissive}},
        }
    ]
    for i in range(services):
        app = f"app{i}"
        objects += [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": app, "namespace": NS},
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": app, "namespace": NS},
                "spec": {
                    "selector": {"app": app},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                },
            },
            pod(app, f"00000000-0000-4000-8000-{i:012d}", i),
        ]
    return objects


def pod(app: str, proxy_uuid: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-{proxy_uuid[-12:]}",
            "namespace": NS,
            "labels": {"app": app, "osm-proxy-uuid": proxy_uuid},
        },
        "spec": {
            "serviceAccountName": app,
            "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}],
        },
        "status": {"podIP": f"10.{index // 250 % 250}.{index % 250}.{index // 62500 + 1}"},
    }


def _memory() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def serve(services: int, permissive: bool) -> None:
    from osm_mesh.catalog import FileSource
    from osm_mesh.certs import CertificateAuthority
    from osm_mesh.controlplane import ControlPlane
    from tests.mesh.xds.ads_client import tls_from_bootstrap

    source = FileSource(objects=mesh_objects(services, permissive), monitored="all")
    ca = CertificateAuthority.create()
    plane = ControlPlane(source, ca).start()
    extra: dict[str, int] = {}

    def answer(cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd.get("op")
        if op == "hello":
            uuids = [p.proxy_uuid for p in source.snapshot().pods]
            return {"port": plane.port, "ca": ca.cert_pem.decode(), "uuids": uuids}
        if op == "bootstrap":
            catalog_pod = source.snapshot().pod_by_uuid(cmd["uuid"])
            assert catalog_pod is not None, cmd
            boot = plane.bootstrap_for(catalog_pod)
            cert, key, ca_pem = tls_from_bootstrap(boot)
            return {
                "node_id": boot["node"]["id"],
                "cert": cert.decode(),
                "key": key.decode(),
                "ca": ca_pem.decode(),
            }
        if op == "add_pod":
            index = services + len(extra)
            extra[cmd["uuid"]] = index
            source.apply([pod(f"app{index % services}", cmd["uuid"], index)])
            return {}
        if op == "remove_pod":
            index = extra.pop(cmd["uuid"])
            source.delete("Pod", f"app{index % services}-{cmd['uuid'][-12:]}", NS)
            return {}
        if op == "rss":
            gc.collect()
            if cmd.get("trim"):
                import ctypes

                ctypes.CDLL("libc.so.6").malloc_trim(0)
            return _memory()
        if op == "state":
            return plane.state_sizes()  # type: ignore[attr-defined]
        raise ValueError(f"unknown op {op!r}")

    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                break
            try:
                reply = answer(cmd)
            except Exception as exc:  # reported to the driver, which fails the test
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
    finally:
        plane.stop()


class Target:
    """The target process: ``with Target(services=300) as t: t.call("rss")``."""

    def __init__(self, services: int = 20, permissive: bool = True) -> None:
        args = [sys.executable, "-m", "tests.mesh.xds.target", "--services", str(services)]
        if permissive:
            args.append("--permissive")
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready:
            self.close()
            raise RuntimeError("the target control plane did not start")
        self.hello = self.call("hello")
        self.port: int = self.hello["port"]

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the target control plane exited (code {self.proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--permissive", action="store_true")
    ns = parser.parse_args()
    serve(ns.services, ns.permissive)
