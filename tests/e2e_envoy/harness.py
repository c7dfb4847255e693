"""A small mesh of real Envoys on loopback addresses, driven by our ControlPlane.

Each "pod" (one Deployment replica) gets its own 127.x.y.z address; its app is a threaded
HTTP server on that address answering with its own name, and (when asked) an Envoy sidecar
in local mode: inbound 15003 (mTLS), outbound 15001 used as an HTTP proxy.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from osm_mesh.catalog import FileSource
from osm_mesh.certs import CertificateAuthority
from osm_mesh.controlplane import ControlPlane, ControlPlaneOptions
from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.envoy.translate import TranslateOptions

APP_PORT = 8080


# -- manifests -----------------------------------------------------------------------------
def deployment(ns: str, name: str, sa: str, app: str | None = None) -> dict[str, Any]:
    labels = {"app": app or name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": sa,
                    "containers": [{"name": name, "ports": [{"containerPort": APP_PORT}]}],
                },
            },
        },
    }


def service(ns: str, name: str, app: str | None = None, port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"app": app or name},
            "ports": [{"name": "http", "port": port, "targetPort": APP_PORT}],
        },
    }


def service_account(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns},
    }


def traffic_target(
    ns: str, name: str, dest_sa: str, source_sas: Iterable[str], group: str, matches=None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"kind": "HTTPRouteGroup", "name": group}
    if matches is not None:
        rule["matches"] = list(matches)
    return {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": dest_sa, "namespace": ns},
            "sources": [{"kind": "ServiceAccount", "name": s, "namespace": ns} for s in source_sas],
            "rules": [rule],
        },
    }


def route_group(ns: str, name: str, matches: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"matches": matches},
    }


def traffic_split(ns: str, name: str, root: str, backends: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "service": root,
            "backends": [{"service": s, "weight": w} for s, w in backends.items()],
        },
    }


def mesh_config(permissive: bool) -> dict[str, Any]:
    return {
        "apiVersion": "config.openservicemesh.io/v1alpha2",
        "kind": "MeshConfig",
        "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
        "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": permissive}},
    }


# -- apps ---------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for a delayed ACK.
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {
                "name": self.server.app_name,  # type: ignore[attr-defined]
                "method": self.command,
                "path": self.path,
                "xfcc": self.headers.get("x-forwarded-client-cert", ""),
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


class App:
    """A threaded HTTP server on ``ip:port`` answering with its name, method, path, caller."""

    def __init__(self, name: str, ip: str, port: int = APP_PORT) -> None:
        self.server = ThreadingHTTPServer((ip, port), _Handler)
        self.server.daemon_threads = True
        self.server.app_name = name  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_loopback_base() -> str:
    """A 127.a.b prefix nobody else uses right now (probe-bind .1 on the app port)."""
    rng = random.Random()
    for _ in range(50):
        base = f"127.{rng.randint(20, 250)}.{rng.randint(0, 255)}"
        try:
            with socket.socket() as s:
                s.bind((f"{base}.1", 15001))
            return base
        except OSError:
            continue
    raise RuntimeError("no free loopback prefix")


class EnvoyMesh:
    """FileSource + ControlPlane (local mode) + apps + Envoys; everything stopped by close()."""

    def __init__(
        self,
        workdir: Path,
        ca: CertificateAuthority,
        objects: list[dict[str, Any]],
        *,
        permissive: bool = False,
        cert_validity: dt.timedelta = dt.timedelta(hours=24),
        rotate_at: float = 0.7,
        cp_port: int = 0,
    ) -> None:
        self.workdir = workdir
        self.ca = ca
        self.base = free_loopback_base()
        self._ips: dict[tuple[str, str], str] = {}
        self.source = FileSource(
            objects=[*objects, mesh_config(permissive)],
            monitored="all",
            pod_ip=self._pod_ip,
        )
        self.options = ControlPlaneOptions(
            translate=TranslateOptions(mode="local"),
            port=cp_port,
            cert_validity=cert_validity,
            rotate_at=rotate_at,
        )
        self.cp = ControlPlane(self.source, ca, self.options).start()
        self.apps: dict[str, App] = {}
        self.envoys: dict[str, EnvoyProcess] = {}

    def _pod_ip(self, ns: str, deployment: str, index: int, pod_name: str) -> str:
        key = (ns, pod_name)
        if key not in self._ips:
            self._ips[key] = f"{self.base}.{len(self._ips) + 1}"
        return self._ips[key]

    def pod(self, deployment: str):
        for pod in self.source.snapshot().pods:
            if pod.deployment == deployment:
                return pod
        raise KeyError(deployment)

    def start_app(self, deployment: str) -> None:
        self.apps[deployment] = App(deployment, self.pod(deployment).ip)

    def start_envoy(self, deployment: str) -> EnvoyProcess:
        pod = self.pod(deployment)
        envoy = EnvoyProcess(self.cp.bootstrap_for(pod), self.workdir, name=deployment)
        self.envoys[deployment] = envoy.start()
        return envoy

    def wait_ready(self, timeout: float = 20.0) -> None:
        for envoy in self.envoys.values():
            envoy.wait_ready(timeout)
        assert self.cp.wait_converged(timeout=timeout), self.cp.statuses()

    def change(self, objects: list[dict[str, Any]], timeout: float = 10.0) -> None:
        """Apply objects and wait until every Envoy ACKed the result."""
        before = self.cp.version
        self.source.apply(objects)
        assert self.cp.wait_converged(before + 1, timeout), self.cp.statuses()

    def connection(self, client: str) -> http.client.HTTPConnection:
        """A keep-alive connection to ``client``'s outbound listener (its HTTP proxy)."""
        return http.client.HTTPConnection(self.pod(client).ip, 15001, timeout=10)

    def request(
        self,
        client: str,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, str]:
        """``method url`` sent by ``client``'s app through its sidecar (absolute-form URI)."""
        own = conn is None
        conn = conn or self.connection(client)
        host = url.split("/", 3)[2]
        conn.request(method, url, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        body = resp.read().decode()
        if own:
            conn.close()
        return resp.status, body

    def close(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        for app in self.apps.values():
            app.stop()
        self.cp.stop()
