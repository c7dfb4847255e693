"""Waiting for the control plane to become ready, and saying why it is not.

Upstream's install ended with "timed out waiting for the condition" (osm#3960): here a
timeout names each workload that is not ready and what its pods report — pod conditions,
container waiting/terminated reasons, and the namespace's Warning events about them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from osm_mesh.errors import Timeout

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube


@dataclass(frozen=True)
class WorkloadStatus:
    name: str
    desired: int
    ready: int
    found: bool = True

    @property
    def is_ready(self) -> bool:
        return self.found and self.ready >= self.desired

    def describe(self) -> str:
        if not self.found:
            return "not created yet"
        return f"{self.ready}/{self.desired} ready"


def deployment_status(kube: Kube, namespace: str, name: str) -> WorkloadStatus:
    from kubernetes.client.exceptions import ApiException

    try:
        deployment = kube.apps.read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return WorkloadStatus(name, 1, 0, found=False)
        raise
    spec_replicas = deployment.spec.replicas if deployment.spec else None
    desired = 1 if spec_replicas is None else int(spec_replicas)
    status = deployment.status
    generation = (deployment.metadata.generation if deployment.metadata else None) or 0
    observed = (status.observed_generation or 0) if status else 0
    if status is None or observed < generation:
        return WorkloadStatus(name, desired, 0)
    # Ready means the new template's pods are up and passing their readiness probes.
    ready = min(
        status.updated_replicas or 0, status.ready_replicas or 0, status.available_replicas or 0
    )
    return WorkloadStatus(name, desired, ready)


async def wait_for_deployments(
    kube: Kube,
    namespace: str,
    names: Sequence[str],
    timeout_s: float,
    on_progress: Callable[[list[WorkloadStatus]], None] = lambda _: None,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[WorkloadStatus]:
    """Poll until every Deployment is ready; on timeout raise Timeout with the reasons."""
    deadline = clock() + timeout_s
    while True:
        statuses = [deployment_status(kube, namespace, n) for n in names]
        on_progress(statuses)
        if all(s.is_ready for s in statuses):
            return statuses
        if clock() >= deadline:
            stuck = [s for s in statuses if not s.is_ready]
            summary = ", ".join(f"{s.name} ({s.describe()})" for s in stuck)
            details = diagnose(kube, namespace, [s.name for s in stuck])
            raise Timeout(
                f"timed out after {format_duration(timeout_s)}: not ready: {summary}",
                hint="\n".join(details) if details else None,
            )
        await asyncio.sleep(min(poll_s, max(0.05, deadline - clock())))


def diagnose(kube: Kube, namespace: str, names: Iterable[str]) -> list[str]:
    """Lines explaining why each named Deployment is not ready."""
    names = list(names)
    events = _warning_events(kube, namespace)
    lines: list[str] = []
    for name in names:
        lines.append(f"{name}:")
        body = _deployment_reasons(kube, namespace, name, events)
        lines.extend("  " + line for line in (body or ["no reason reported yet"]))
    return lines


def _deployment_reasons(kube: Kube, namespace: str, name: str, events: list[Any]) -> list[str]:
    from kubernetes.client.exceptions import ApiException

    try:
        deployment = kube.apps.read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return ["the Deployment does not exist"]
        raise
    out: list[str] = []
    for cond in (deployment.status.conditions if deployment.status else None) or []:
        if cond.status != "True":
            out.append(f"Deployment condition {cond.type}={cond.status}: {_why(cond)}")
    selector = (deployment.spec.selector.match_labels or {}) if deployment.spec else {}
    pods = []
    if selector:
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = kube.core.list_namespaced_pod(namespace, label_selector=label_selector).items or []
    if not pods:
        out.append("no pods exist (see the ReplicaSet's events: quota, admission, service account)")
    related = {name} | {str(p.metadata.name) for p in pods if p.metadata}
    for pod in pods:
        out.extend(_pod_reasons(pod))
    for event in events:
        involved = event.involved_object.name if event.involved_object else None
        if involved in related or (involved or "").startswith(name + "-"):
            out.append(f"event {event.reason} on {involved}: {(event.message or '').strip()}")
    return out


def _pod_reasons(pod: Any) -> list[str]:
    name = pod.metadata.name
    status = pod.status
    phase = (status.phase if status else None) or "Unknown"
    out = [f"pod {name}: {phase}"]
    for cond in (status.conditions if status else None) or []:
        if cond.status != "True":
            out.append(f"  condition {cond.type}={cond.status}: {_why(cond)}")
    container_statuses = list((status.init_container_statuses if status else None) or [])
    container_statuses += list((status.container_statuses if status else None) or [])
    for cs in container_statuses:
        state = cs.state
        if state and state.waiting:
            out.append(
                f"  container {cs.name} waiting: {state.waiting.reason or 'unknown'}"
                + (f" ({state.waiting.message})" if state.waiting.message else "")
            )
        elif state and state.terminated:
            out.append(
                f"  container {cs.name} terminated: {state.terminated.reason or 'unknown'}"
                f" (exit code {state.terminated.exit_code})"
            )
        elif cs.ready is False:
            out.append(f"  container {cs.name} running but not ready (readiness probe failing)")
        last = cs.last_state.terminated if cs.last_state else None
        if last is not None:
            out.append(
                f"  container {cs.name} restarted {cs.restart_count or 0} times, last exit "
                f"code {last.exit_code} ({last.reason or 'unknown'})"
            )
    return out


def _why(cond: Any) -> str:
    reason = cond.reason or "no reason"
    return f"{reason} ({cond.message})" if cond.message else reason


def _warning_events(kube: Kube, namespace: str) -> list[Any]:
    try:
        events = kube.core.list_namespaced_event(namespace).items or []
    except Exception:  # diagnostics must never hide the timeout itself
        return []
    warnings = [e for e in events if (e.type or "") == "Warning"]
    warnings.sort(
        key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp or "")
    )
    return warnings[-20:]


def format_duration(seconds: float) -> str:
    """Go's time.Duration spelling (5m0s), as the user typed it for --timeout."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
