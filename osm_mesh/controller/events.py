"""Policy problems become Kubernetes Events on the objects they are about.

The catalog records what is wrong with each SMI object and the MeshConfig (a TrafficTarget
whose destination lives in another namespace, an unknown route kind, a bad field...). In a
cluster nobody reads the controller's log, so each new problem of a monitored namespace is
posted once as a ``Warning`` Event on the object: ``kubectl describe traffictarget x`` and
``kubectl get events`` show it with its hint. A problem is reported again only after the
controller restarts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from osm_mesh.controller.worker import CatalogWorker
from osm_mesh.smi.model import Problem

log = logging.getLogger("osm_mesh.controller.events")

COMPONENT = "osm-controller"
# Don't flood the API server when a whole namespace of broken objects arrives at once.
MAX_PER_PASS = 50


def problem_key(problem: Problem) -> str:
    ref = problem.ref
    text = f"{ref.kind}/{ref.namespace}/{ref.name}|{problem.field}|{problem.message}" if ref else ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def event_for(problem: Problem, *, instance: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A core/v1 Event about ``problem`` (its ref must name a namespaced object)."""
    assert problem.ref is not None and problem.ref.namespace
    ref = problem.ref
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = f"{problem.field}: " if problem.field else ""
    message = f"{where}{problem.message}" + (f" ({problem.hint})" if problem.hint else "")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{ref.name}.{problem_key(problem)}"[:253],
            "namespace": ref.namespace,
        },
        "involvedObject": {
            **({"apiVersion": ref.api_version} if ref.api_version else {}),
            "kind": ref.kind,
            "name": ref.name,
            "namespace": ref.namespace,
        },
        "type": "Warning",
        "reason": _reason(problem),
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": f"openservicemesh.io/{COMPONENT}",
        "reportingInstance": instance,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }


def _reason(problem: Problem) -> str:
    if problem.ref is not None and problem.ref.kind == "MeshConfig":
        return "InvalidMeshConfig" if problem.severity == "error" else "MeshConfigWarning"
    return "InvalidPolicy" if problem.severity == "error" else "PolicyWarning"


def _reportable(problem: Problem, catalog: Any) -> bool:
    """Problems of monitored namespaces, and always the MeshConfig's (it lives in the
    control plane's namespace, which is not meshed, and decides what the whole mesh allows)."""
    ref = problem.ref
    if ref is None or not ref.namespace:
        return False
    return ref.kind == "MeshConfig" or bool(catalog.is_monitored(ref.namespace))


class ProblemReporter(CatalogWorker):
    """``ProblemReporter(kube, source, instance).start()``; ``source``: a KubeSource."""

    thread_name = "problem-events"
    work = "reporting policy problems as Events"
    logger = log

    def __init__(self, kube: Any, source: Any, instance: str = COMPONENT) -> None:
        super().__init__(source)
        self.kube = kube
        self.instance = instance or COMPONENT
        self.reported = 0
        self._seen: set[str] = set()
        self._disabled = False

    def _halted(self) -> bool:
        return self._disabled

    def _run_pass(self) -> int:
        return self.report()

    def report(self) -> int:
        """Post an Event for each problem not reported yet; returns how many were posted."""
        from kubernetes.client.exceptions import ApiException

        catalog = self.source.snapshot()
        posted = 0
        for problem in catalog.problems:
            ref = problem.ref
            if ref is None or not _reportable(problem, catalog):
                continue
            key = problem_key(problem)
            if key in self._seen:
                continue
            if posted >= MAX_PER_PASS:
                self._wake.set()  # the rest on the next pass
                break
            event = event_for(problem, instance=self.instance)
            try:
                self.kube.core.create_namespaced_event(ref.namespace, event)
            except ApiException as exc:
                if exc.status == 403:
                    self._disabled = True
                    log.warning("cannot create Events (%s); problems only in this log", exc.reason)
                    return posted
                if exc.status != 409:  # 409: posted before a restart; fine
                    raise
            self._seen.add(key)
            posted += 1
            log.warning("%s", problem)
        self.reported += posted
        return posted
