"""`osm demo`: the article's walkthrough on a local mesh, with its own manifests.

Scenarios (manifests in ``osm_mesh/local/manifests``, SMI versions as the article wrote them):

- ``access`` (namespace ``osm-simple-app``), SMI mode (``mesh-config.yml``):
  1. ``no-policy``: no TrafficTarget: frontend → ``GET /api/values`` is denied;
  2. ``traffic-target``: TrafficTarget + HTTPRouteGroup (``simple/smi``) applied: allowed;
  3. ``other-route``: the same policy does not allow ``GET /healthz`` on the api
     (not in the HTTPRouteGroup): denied.
- ``canary`` (namespace ``osm-canary-deployment-sample-app``): both TrafficTargets and
  the 90/10 TrafficSplit applied; ``requests`` calls to the frontend, each making one
  call to ``api.<ns>.svc.cluster.local``, are counted per backend by the answer
  (``Value 1-3`` = api-v1, ``Value 4-6`` = api-v2).

The article's root-Service flaw: Service ``api`` selects ``app: api``, a label no canary
pod carries, so the root has no endpoints of its own. This mesh routes a call to a
TrafficSplit's root service to the split's backends regardless of the root's own
endpoints (the root only names the traffic, as the SMI spec says), so the article's
manifests work unmodified.

The frontend is reached directly on its pod address, as ``kubectl port-forward`` did in
the article; everything after that goes through the sidecars.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from osm_mesh.errors import InvalidInput, is_interruption
from osm_mesh.local.inputs import load_objects
from osm_mesh.local.runtime import LocalMesh, RunningPod
from osm_mesh.local.stats import UpstreamStats, cluster_for_service, upstream_stats

MANIFESTS = Path(__file__).resolve().parent / "manifests"
MESH_CONFIG = MANIFESTS / "mesh-config.yml"
SIMPLE_NS = "osm-simple-app"
CANARY_NS = "osm-canary-deployment-sample-app"
SCENARIOS = ("access", "canary")
VALUES_TO_BACKEND = {
    ("Value 1", "Value 2", "Value 3"): "api-v1",
    ("Value 4", "Value 5", "Value 6"): "api-v2",
}
CANARY_WEIGHTS = {"api-v1": 90, "api-v2": 10}

# Only the upstream clusters' figures (the filter is a regex, URL-encoded).
STATS_PATH = "/stats?format=json&filter=" + urllib.parse.quote(r"^cluster\.")
# Straight to the pod address, never through a proxy the user's shell may set.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Observer(Protocol):
    """What the CLI shows while the demo runs (the live view, or plain progress lines)."""

    def phase(self, text: str) -> None: ...

    def step(self, step: Step) -> None: ...

    def canary(self, live: CanaryLive) -> None: ...


class QuietObserver:
    def phase(self, text: str) -> None:
        pass

    def step(self, step: Step) -> None:
        pass

    def canary(self, live: CanaryLive) -> None:
        pass


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    allowed: bool
    status: int
    expected_allowed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "allowed": self.allowed,
            "status": self.status,
            "expected": "allowed" if self.expected_allowed else "denied",
        }


@dataclass
class AccessResult:
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.allowed == s.expected_allowed for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": "access",
            "namespace": SIMPLE_NS,
            "steps": [s.as_dict() for s in self.steps],
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class CanaryLive:
    """Progress of the canary run: answers seen by the frontend and Envoy's own figures."""

    total: int
    sent: int = 0
    backends: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CANARY_WEIGHTS, 0))
    errors: int = 0
    upstreams: dict[str, UpstreamStats] = field(default_factory=dict)


@dataclass
class CanaryResult:
    requests: int
    backends: dict[str, int]
    errors: int
    upstreams: dict[str, UpstreamStats]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        # Every weighted backend must show up once the sample is big enough to expect it
        # (P(no api-v2 in 50 calls at 10%) is 0.5%).
        if self.errors:
            return False
        if self.requests >= 50:
            return all(self.backends.get(b, 0) > 0 for b, w in CANARY_WEIGHTS.items() if w)
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": "canary",
            "namespace": CANARY_NS,
            "requests": self.requests,
            "backends": dict(self.backends),
            "errors": self.errors,
            "weights": dict(CANARY_WEIGHTS),
            "envoy": {
                backend: {
                    "cluster": s.cluster,
                    "requests": s.requests,
                    "success_rate": s.success_rate,
                    "p50_ms": s.p50_ms,
                    "p90_ms": s.p90_ms,
                }
                for backend, s in self.upstreams.items()
            },
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class DemoRun:
    results: list[AccessResult | CanaryResult]
    meshes: list[LocalMesh]
    # Work directories (logs) of scenarios that did not behave as expected, kept for a look.
    kept: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def frontend_urls(self) -> list[str]:
        """Where to browse the running meshes' frontends, as `kubectl port-forward` gave in the
        article: the pod's address and the port its app really listens on (8080 when the
        manifest's port 80 could not be bound)."""
        return [
            f"{running.url}/"
            for mesh in self.meshes
            for running in mesh.pods
            if running.pod.deployment == "frontend"
        ]

    def as_dict(self) -> dict[str, Any]:
        if len(self.results) == 1:
            return self.results[0].as_dict()
        return {
            "scenario": "all",
            "results": [r.as_dict() for r in self.results],
            "ok": self.ok,
        }


def call_frontend(frontend: RunningPod, path: str | None = None) -> dict[str, Any]:
    """One page view: the frontend calls the API through its sidecar; its JSON answer."""
    url = f"{frontend.url}/data" + (f"?path={path}" if path else "")
    with _DIRECT.open(url, timeout=10) as response:
        return dict(json.loads(response.read()))


def backend_of(answer: dict[str, Any]) -> str | None:
    values = answer.get("values")
    if answer.get("status") != 200 or not isinstance(values, list):
        return None
    return VALUES_TO_BACKEND.get(tuple(values))


def run_access(mesh: LocalMesh, observer: Observer) -> AccessResult:
    started = time.monotonic()
    result = AccessResult()
    frontend = mesh.pod(SIMPLE_NS, "frontend")

    def probe(name: str, description: str, expected: bool, path: str | None = None) -> None:
        answer = call_frontend(frontend, path)
        step = Step(name, description, answer.get("status") == 200, answer["status"], expected)
        result.steps.append(step)
        observer.step(step)

    probe("no-policy", "SMI mode, no TrafficTarget: frontend -> GET /api/values", False)
    observer.phase("applying TrafficTarget api + HTTPRouteGroup api-service-routes")
    mesh.apply(load_objects([MANIFESTS / "simple" / "smi"]))
    probe("traffic-target", "TrafficTarget applied: frontend -> GET /api/values", True)
    probe(
        "other-route",
        "TrafficTarget applied: frontend -> GET /healthz (not in the HTTPRouteGroup)",
        False,
        path="/healthz",
    )
    result.seconds = time.monotonic() - started
    return result


def find_backend_clusters(body: str, clusters: dict[str, str]) -> None:
    """Add to ``clusters`` (backend → Envoy cluster) the backends now seen in the stats.

    A cluster's traffic stats appear with its first request (deferred creation,
    docs/performance.md), so a backend not called yet is looked for again on the next read.
    """
    missing = [b for b in CANARY_WEIGHTS if b not in clusters]
    if not missing:
        return
    names = sorted(upstream_stats(body).keys())
    for backend in missing:
        found = cluster_for_service(names, CANARY_NS, backend)
        if found:
            clusters[backend] = found


def run_canary(
    mesh: LocalMesh, observer: Observer, requests: int, concurrency: int = 4
) -> CanaryResult:
    started = time.monotonic()
    frontend = mesh.pod(CANARY_NS, "frontend")
    live = CanaryLive(total=requests)
    lock = threading.Lock()
    clusters: dict[str, str] = {}

    def one(_: int) -> None:
        try:
            backend = backend_of(call_frontend(frontend))
        except (OSError, ValueError):
            backend = None
        with lock:
            live.sent += 1
            if backend is None:
                live.errors += 1
            else:
                live.backends[backend] = live.backends.get(backend, 0) + 1

    def refresh() -> None:
        try:
            _, body = frontend.envoy.admin_get(STATS_PATH)
        except OSError:
            return
        find_backend_clusters(body, clusters)
        figures = upstream_stats(body, list(clusters.values()))
        live.upstreams = {b: figures[c] for b, c in clusters.items()}
        observer.canary(live)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="demo-client") as pool:
        pending = [pool.submit(one, i) for i in range(requests)]
        while not all(f.done() for f in pending):
            mesh.check()
            refresh()
            time.sleep(0.2)
        for f in pending:
            f.result()
    # An admin read flushes the stats, but answers with the previous flush: read twice.
    refresh()
    time.sleep(0.05)
    refresh()
    return CanaryResult(
        requests=requests,
        backends=dict(live.backends),
        errors=live.errors,
        upstreams=dict(live.upstreams),
        seconds=time.monotonic() - started,
    )


def export_manifests(dest: Path) -> list[Path]:
    """Copy the demo's manifests (the article's, plus the MeshConfig) under ``dest``; nothing
    is written when any of the files already exists there."""
    sources = sorted(p for p in MANIFESTS.rglob("*") if p.is_file() and p.suffix == ".yml")
    targets = [dest / p.relative_to(MANIFESTS) for p in sources]
    existing = [t for t in targets if t.exists()]
    if existing:
        raise InvalidInput(
            f"{existing[0]} already exists: nothing was written",
            hint="Export into an empty or new directory.",
        )
    for source, target in zip(sources, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    return targets


def start_scenario_mesh(scenario: str, progress: Callable[[str], None]) -> LocalMesh:
    if scenario == "access":
        paths = [MESH_CONFIG, MANIFESTS / "simple" / "app"]
    else:
        paths = [MESH_CONFIG, MANIFESTS / "canary" / "app", MANIFESTS / "canary" / "smi"]
    mesh = LocalMesh(paths, progress=progress)
    progress(mesh.traffic_policy.describe())
    return mesh.start()


def run_demo(
    scenarios: Sequence[str],
    *,
    requests: int = 100,
    observer: Observer | None = None,
    keep_running: bool = False,
) -> DemoRun:
    """Run the scenarios in order. With ``keep_running`` the meshes are left running in the
    returned ``DemoRun`` (the caller stops them); otherwise each stops when done."""
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise InvalidInput(f"unknown scenario {unknown[0]!r}", hint="Use access, canary or all.")
    if requests < 1:
        raise InvalidInput("--requests must be at least 1")
    observer = observer or QuietObserver()
    run = DemoRun([], [])
    try:
        for scenario in scenarios:
            observer.phase(f"{scenario}: starting the local mesh")
            mesh = start_scenario_mesh(scenario, observer.phase)
            run.meshes.append(mesh)
            if scenario == "access":
                run.results.append(run_access(mesh, observer))
            else:
                observer.phase(f"canary: {requests} requests through the 90/10 TrafficSplit")
                run.results.append(run_canary(mesh, observer, requests))
            if not run.results[-1].ok:
                run.kept.append(str(mesh.work_dir))
            if not keep_running:
                run.meshes.remove(mesh)
                mesh.stop(failed=not run.results[-1].ok)
    except BaseException as exc:
        for mesh in run.meshes:
            mesh.stop(failed=not is_interruption(exc))
        raise
    return run
