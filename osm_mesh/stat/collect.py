"""Readings of every meshed pod's sidecar, from a cluster or from a running local mesh.

Cluster: each Running pod labelled ``osm-proxy-uuid`` is asked for ``/stats/prometheus`` on
its metrics port 15010 through the API server's pod proxy (no port-forward per pod), a few
pods at a time, each with a short timeout; a pod that does not answer is reported, not fatal.
Local: each pod's Envoy admin (``<pod ip>:15000``), read twice because the local sidecars
flush their histograms on each admin read and answer with the previous flush.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from osm_mesh import labels
from osm_mesh.envoy.names import INBOUND_PORT
from osm_mesh.errors import MeshError
from osm_mesh.stat.compute import Workload
from osm_mesh.stat.samples import MAX_BYTES, Reading, parse_reading

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

POD_TIMEOUT_S = (2.0, 5.0)
MAX_PARALLEL = 8


@dataclass
class Scope:
    """Which workloads to show: one namespace (None: all) and optionally one workload name."""

    namespace: str | None
    name: str | None = None


@dataclass
class Collection:
    readings: dict[str, Reading] = field(default_factory=dict)  # pod key "ns/name"
    pods_of: dict[Workload, tuple[int, int]] = field(default_factory=dict)
    workload_of_pod: dict[str, Workload] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # pod key -> why it was not read


Collector = Callable[[], Collection]


def _each(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
        return list(pool.map(fn, items))


# -- cluster ------------------------------------------------------------------------------


def workload_of(pod: Any) -> Workload:
    """A pod's owning Deployment (through its ReplicaSet), else the pod itself."""
    meta = pod.metadata
    for ref in meta.owner_references or []:
        if ref.kind == "ReplicaSet" and ref.controller:
            return Workload(meta.namespace, "Deployment", ref.name.rsplit("-", 1)[0])
    return Workload(meta.namespace, "Pod", meta.name)


def cluster_collector(kube: Kube, scope: Scope) -> Collector:
    def collect() -> Collection:
        from kubernetes.client.exceptions import ApiException

        if scope.namespace is None:
            pods = kube.core.list_pod_for_all_namespaces().items or []
        else:
            pods = kube.core.list_namespaced_pod(scope.namespace).items or []
        out = Collection()
        counts: dict[Workload, list[int]] = {}
        targets = []
        pod: Any
        for pod in pods:
            phase = pod.status.phase if pod.status else None
            if phase in ("Succeeded", "Failed"):
                continue
            workload = workload_of(pod)
            if scope.name is not None and workload.name != scope.name:
                continue
            meshed = labels.PROXY_UUID_LABEL in (pod.metadata.labels or {})
            count = counts.setdefault(workload, [0, 0])
            count[0] += int(meshed)
            count[1] += 1
            key = f"{pod.metadata.namespace}/{pod.metadata.name}"
            out.workload_of_pod[key] = workload
            if meshed and phase == "Running":
                targets.append((key, pod.metadata.namespace, pod.metadata.name))
        out.pods_of = {w: (c[0], c[1]) for w, c in counts.items()}

        def read(target: tuple[str, str, str]) -> tuple[str, Reading | None, str | None]:
            key, namespace, name = target
            response: Any
            try:
                response = kube.core.connect_get_namespaced_pod_proxy_with_path(
                    f"{name}:{labels.ENVOY_PROMETHEUS_PORT}",
                    namespace,
                    labels.ENVOY_PROMETHEUS_PATH.lstrip("/"),
                    _preload_content=False,
                    _request_timeout=POD_TIMEOUT_S,
                )
                try:
                    body = bytes(response.read(MAX_BYTES + 1))
                finally:
                    response.release_conn()
            except ApiException as exc:
                return key, None, f"HTTP {exc.status} from the pod proxy"
            except Exception as exc:  # one slow or broken pod must not stop the others
                return key, None, f"{type(exc).__name__}: {exc}"
            if len(body) > MAX_BYTES:
                return key, None, f"metrics larger than {MAX_BYTES} bytes"
            text = body.decode(errors="replace")
            return key, parse_reading(text, time.monotonic(), INBOUND_PORT), None

        for key, reading, error in _each(read, targets):
            if reading is not None:
                out.readings[key] = reading
            else:
                out.errors[key] = error or "no answer"
        return out

    return collect


# -- local mesh ---------------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _admin_get(url: str) -> str:
    with _OPENER.open(url, timeout=5) as response:
        body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise MeshError(f"{url}: metrics larger than {MAX_BYTES} bytes")
    return bytes(body).decode(errors="replace")


def local_collector(state: dict[str, Any], scope: Scope) -> Collector:
    pods: list[dict[str, Any]] = [
        p
        for p in state.get("pods") or []
        if isinstance(p, dict)
        and (scope.namespace is None or p.get("namespace") == scope.namespace)
        and (scope.name is None or p.get("deployment") == scope.name)
    ]

    def collect() -> Collection:
        out = Collection()
        counts: dict[Workload, int] = {}
        for p in pods:
            workload = Workload(str(p["namespace"]), "Deployment", str(p["deployment"]))
            counts[workload] = counts.get(workload, 0) + 1
            out.workload_of_pod[f"{p['namespace']}/{p['name']}"] = workload
        out.pods_of = {w: (n, n) for w, n in counts.items()}

        def read(p: dict[str, Any]) -> tuple[str, Reading | None, str | None]:
            key = f"{p['namespace']}/{p['name']}"
            url = f"{p['envoyAdmin']}{labels.ENVOY_PROMETHEUS_PATH}"
            try:
                _admin_get(url)  # flushes the histograms...
                text = _admin_get(url)  # ...which this read then reports
            except (OSError, MeshError) as exc:
                return key, None, str(exc)
            return key, parse_reading(text, time.monotonic(), INBOUND_PORT), None

        for key, reading, error in _each(read, pods):
            if reading is not None:
                out.readings[key] = reading
            else:
                out.errors[key] = error or "no answer"
        return out

    return collect


def readings_window(
    collect: Collector, window: float, sleep: Callable[[float], None] = time.sleep
) -> tuple[Collection, Collection]:
    """Two collections ``window`` seconds apart."""
    first = collect()
    sleep(window)
    return first, collect()


def known(workloads: Iterable[Workload]) -> list[str]:
    return sorted({str(w) for w in workloads})
