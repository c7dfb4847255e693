"""What both control-plane processes share: logging, the Kubernetes connection, SIGTERM.

``run(build, argv)`` is the whole life of a process: connect, start, wait for SIGTERM or
SIGINT, stop, exit 0. A failure to start is one log line and exit 1 (the pod restarts);
tracebacks only at debug level.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from osm_mesh.errors import MeshError

# Upstream log levels (values.yaml controllerLogLevel) -> logging levels.
LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
    "critical": logging.CRITICAL,
    "disabled": logging.CRITICAL + 10,
}


class Service(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


def common_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--mesh-name", default=env("OSM_MESH_NAME", "osm"))
    parser.add_argument("--osm-namespace", default=env("POD_NAMESPACE", "osm-system"))
    parser.add_argument("--mesh-config-name", default="osm-mesh-config")
    parser.add_argument("--ca-bundle-secret-name", default="osm-ca-bundle")
    parser.add_argument("--trust-domain", default="cluster.local")
    parser.add_argument("--log-level", default="info", choices=sorted(LOG_LEVELS))
    parser.add_argument("--http-port", type=int, default=9091)
    parser.add_argument(
        "--kubeconfig",
        default=env("KUBECONFIG"),
        help="outside a cluster only; in a pod the service account is used",
    )


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=LOG_LEVELS.get(level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The Kubernetes client logs every retry at WARNING; ours say it once, better.
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def connect(kubeconfig: str | None) -> Any:
    """In-cluster config in a pod (service account token), else the kubeconfig."""
    from osm_mesh.kube.client import Kube, TimeoutApiClient, connect

    if not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
        from kubernetes import client as k8s
        from kubernetes import config as k8s_config

        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        configuration.retries = 0
        return Kube(TimeoutApiClient(configuration, (3.0, 20.0)))
    return connect(kubeconfig)


def run(build: Callable[[], Service], name: str, stop_event: threading.Event | None = None) -> int:
    """Start ``build()``, serve until SIGTERM/SIGINT (or ``stop_event``), stop; exit code."""
    log = logging.getLogger(f"osm_mesh.{name}")
    stop = stop_event or threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("%s received; shutting down", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    service: Service | None = None
    try:
        service = build()
        service.start()
    except MeshError as exc:
        log.error(
            "%s could not start: %s%s", name, exc.message, f" ({exc.hint})" if exc.hint else ""
        )
        _stop_quietly(service, log)
        return 1
    except Exception as exc:
        log.error("%s could not start: %s", name, _describe(exc))
        log.debug("start failure", exc_info=True)
        _stop_quietly(service, log)
        return 1
    stop.wait()
    service.stop()
    log.info("%s stopped", name)
    return 0


def _describe(exc: Exception) -> str:
    """Kubernetes API and transport errors as one line (RBAC denials name the permission)."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    from osm_mesh.kube.errors import translate

    if isinstance(exc, ApiException | urllib3.exceptions.HTTPError):
        return translate(exc).message
    return f"{type(exc).__name__}: {exc}"


def _stop_quietly(service: Service | None, log: logging.Logger) -> None:
    if service is None:
        return
    try:
        service.stop()
    except Exception:
        log.debug("stop after a failed start failed too", exc_info=True)
