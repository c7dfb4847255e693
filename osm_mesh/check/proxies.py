"""Checks of the data plane (``--proxy``): sidecars ready, in sync, certificates valid."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from osm_mesh import labels
from osm_mesh.check.base import (
    CheckOptions,
    CheckResult,
    _safely,
)

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

# -- the data plane ----------------------------------------------------------------------------


def proxies(
    kube: Kube, options: CheckOptions, read_report: Callable[[], Any] | None = None
) -> list[CheckResult]:
    """Every meshed pod has a ready sidecar, connected and in sync, with a valid certificate.
    ``read_report``: the controller's proxy status (default: through a port-forward)."""
    cat = "data-plane"
    pods: list[Any] = []
    results = [
        _safely(
            cat, "meshed pods have a ready sidecar", lambda: _sidecars(kube, options, cat, pods)
        )
    ]
    if read_report is None:
        from osm_mesh.kube.controller_debug import read_proxy_status

        def read_report() -> Any:
            return read_proxy_status(kube, options.mesh_name)

    report: list[Any] = []

    def synced() -> CheckResult:
        report.append(read_report())
        return _synced(report[0], pods, cat)

    results.append(_safely(cat, "proxies are connected and in sync", synced))
    results.append(_safely(cat, "proxy certificates are valid", lambda: _certificates(report, cat)))
    return results


def _meshed_pods(kube: Kube, options: CheckOptions) -> list[Any]:
    from osm_mesh.kube.meshes import monitored_namespaces

    namespaces = set(monitored_namespaces(kube).get(options.mesh_name, []))
    listing = kube.core.list_pod_for_all_namespaces(label_selector=labels.PROXY_UUID_LABEL)
    pods: list[Any] = list(listing.items or [])
    return [
        p
        for p in pods
        if p.metadata.namespace in namespaces and p.status and p.status.phase == "Running"
    ]


def _sidecars(kube: Kube, options: CheckOptions, cat: str, found: list[Any]) -> CheckResult:
    name = "meshed pods have a ready sidecar"
    pods = _meshed_pods(kube, options)
    found.extend(pods)
    bad = []
    for pod in pods:
        statuses = {c.name: c for c in (pod.status.container_statuses or [])}
        envoy = statuses.get("envoy")
        if envoy is None or not envoy.ready:
            bad.append(f"{pod.metadata.namespace}/{pod.metadata.name}")
    if bad:
        return CheckResult(
            cat,
            name,
            "fail",
            f"{len(bad)} of {len(pods)} without a ready envoy container: {', '.join(bad[:5])}",
            "kubectl describe pod, and `osm proxy get ready POD -n NS`",
        )
    return CheckResult(cat, name, "ok", f"{len(pods)} meshed pod(s)")


def _synced(report: Any, pods: Iterable[Any], cat: str) -> CheckResult:
    name = "proxies are connected and in sync"
    rows = {r.get("proxyUUID"): r for r in report.proxies}
    missing, stale = [], []
    for pod in pods:
        uuid = (pod.metadata.labels or {}).get(labels.PROXY_UUID_LABEL)
        where = f"{pod.metadata.namespace}/{pod.metadata.name}"
        row = rows.get(uuid)
        if row is None:
            missing.append(where)
        elif not row.get("synced"):
            stale.append(where)
    if missing or stale:
        parts = []
        if missing:
            parts.append(f"not connected: {', '.join(missing[:5])}")
        if stale:
            parts.append(f"stale: {', '.join(stale[:5])}")
        return CheckResult(
            cat,
            name,
            "fail",
            "; ".join(parts),
            "see `osm proxy status` (LAST NACK) and the pods' envoy logs",
        )
    return CheckResult(cat, name, "ok", f"{len(rows)} proxies connected, all in sync")


def _certificates(report: list[Any], cat: str) -> CheckResult:
    name = "proxy certificates are valid"
    if not report:
        return CheckResult(cat, name, "fail", "no proxy status to read certificates from")
    expired = [
        f"{r.get('namespace')}/{r.get('pod')}"
        for r in report[0].proxies
        if (r.get("certificate") or {}).get("secondsLeft", 1) <= 0
    ]
    if expired:
        return CheckResult(
            cat, name, "fail", f"expired: {', '.join(expired[:5])}", "check the controller's logs"
        )
    lefts = [r["certificate"]["secondsLeft"] for r in report[0].proxies if r.get("certificate")]
    detail = f"shortest {min(lefts) // 60} min left" if lefts else "no certificate issued yet"
    return CheckResult(cat, name, "ok", detail)
