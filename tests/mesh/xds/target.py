"""A control plane in a process of its own, for attacks whose effect is the server's memory.

``python tests/mesh/xds/target.py --services 300 --permissive`` builds a mesh (one pod per
Service, each with an ``osm-proxy-uuid``), starts a ControlPlane on 127.0.0.1:0 and answers
one JSON command per stdin line with one JSON line on stdout:

- ``{"op": "hello"}`` → port, CA PEM, the pods' proxy UUIDs;
- ``{"op": "bootstrap", "uuid": U}`` → that pod's node id and ADS client cert/key/CA;
- ``{"op": "add_pods", "uuids": [U...]}`` / ``{"op": "remove_pods", "uuids": [U...]}`` → pod
  churn, each a single catalog change;
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


def tls_from_bootstrap(boot: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """(client cert, client key, CA) PEM from a bootstrap's ADS cluster, as Envoy would use."""
    ads = boot["static_resources"]["clusters"][0]
    ctx = ads["transport_socket"]["typed_config"]["common_tls_context"]
    cert = ctx["tls_certificates"][0]
    ca = ctx["validation_context"]["trusted_ca"]["inline_string"]
    return (
        cert["certificate_chain"]["inline_string"].encode(),
        cert["private_key"]["inline_string"].encode(),
        ca.encode(),
    )


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

    base = mesh_objects(services, permissive)
    source = FileSource(objects=base, monitored="all")
    ca = CertificateAuthority.create()
    plane = ControlPlane(source, ca).start()
    extra: dict[str, dict[str, Any]] = {}  # proxy UUID → the added pod
    counter = [0]

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
        if op == "add_pods":
            for proxy_uuid in cmd["uuids"]:
                counter[0] += 1
                index = services + counter[0]
                extra[proxy_uuid] = pod(f"app{index % services}", proxy_uuid, index)
            source.replace_objects([*base, *extra.values()])
            return {}
        if op == "remove_pods":
            for proxy_uuid in cmd["uuids"]:
                del extra[proxy_uuid]
            source.replace_objects([*base, *extra.values()])
            return {}
        if op == "rss":
            gc.collect()
            if cmd.get("trim"):
                import ctypes

                ctypes.CDLL("libc.so.6").malloc_trim(0)
            return _memory()
        if op == "objects":
            from collections import Counter

            gc.collect()
            return dict(Counter(type(o).__name__ for o in gc.get_objects()).most_common(25))
        if op == "state":
            # Checkouts from before the per-proxy state had a lifetime have no sizes.
            sizes = getattr(plane, "state_sizes", None)
            return sizes() if sizes is not None else {}
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
    """The target process: ``with Target(services=300) as t: t.call("rss")``.

    ``OSM_ATTACK_CHECKOUT=/some/checkout`` runs the control plane from another checkout's
    ``osm_mesh`` (to measure the code before a fix); this file is run from here either way.
    """

    def __init__(self, services: int = 20, permissive: bool = True) -> None:
        code = os.environ.get("OSM_ATTACK_CHECKOUT") or str(REPO)
        args = [sys.executable, str(Path(__file__)), "--services", str(services)]
        if permissive:
            args.append("--permissive")
        self.proc = subprocess.Popen(
            args,
            cwd=code,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": code},
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
