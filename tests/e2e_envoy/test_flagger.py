"""Flagger's canary analysis replayed on the local mesh, in SMI mode, against a real Prometheus
scraping the real sidecars: the TrafficSplit weight changes Flagger's OSM router makes, and
the exact PromQL its OSM provider runs (tests/flagger.py). A healthy canary is promoted step
by step; one failing 20 % of its requests is rolled back at its first analysis."""

from __future__ import annotations

import threading
import time

import pytest

from osm_mesh.local.demo import call_frontend
from osm_mesh.local.runtime import LocalMesh
from tests import flagger
from tests.mesh.local.test_request_metrics import podinfo_objects
from tests.prometheus import PrometheusServer, Target

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(240)]
NAMESPACE, APEX = "test", "podinfo"
V1 = ["Value 1", "Value 2", "Value 3"]  # the primary's answer
V2 = ["Value 4", "Value 5", "Value 6"]  # the canary's
STEP_SECONDS = 3.0


def _targets(mesh: LocalMesh) -> list[Target]:
    return [
        Target(
            p["envoyAdmin"].removeprefix("http://"),
            labels=(("namespace", p["namespace"]), ("pod", p["name"])),
        )
        for p in mesh.state()["pods"]
    ]


class Run:
    """One canary analysis: the mesh, Prometheus, and a load tester calling the apex Service
    all along (as Flagger's loadtester does), recording which backend answered each call."""

    def __init__(self, mesh: LocalMesh, prom: PrometheusServer) -> None:
        self.mesh, self.prom = mesh, prom
        self.loadtester = mesh.pod(NAMESPACE, "loadtester")
        # (started, finished, outcome) per call; outcome "canary" | "primary" | "failed"
        self.calls: list[tuple[float, float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._load, daemon=True)

    def __enter__(self) -> Run:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _load(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            answer = call_frontend(self.loadtester)
            if answer["status"] != 200:
                outcome = "failed"
            else:
                outcome = "canary" if answer["values"] == V2 else "primary"
            self.calls.append((started, time.monotonic(), outcome))
            time.sleep(0.01)

    def seen(self, since: float, until: float) -> dict[str, int]:
        counts = {"canary": 0, "primary": 0, "failed": 0}
        for started, finished, outcome in list(self.calls):
            if started >= since and finished <= until:
                counts[outcome] += 1
        return counts

    def route(self, canary_weight: int) -> float:
        """Apply Flagger's TrafficSplit for this weight; when every sidecar had it."""
        self.mesh.apply([flagger.split(APEX, NAMESPACE, canary_weight)])
        return time.monotonic()

    def settle(self) -> None:
        """One step's worth of load, then until Prometheus has scraped every answer so far."""
        time.sleep(STEP_SECONDS)
        answered = sum(1 for _, finished, _ in list(self.calls) if finished <= time.monotonic())
        query = f'sum(osm_request_total{{destination_namespace="{NAMESPACE}"}})'
        deadline = time.monotonic() + 20
        while (self.prom.query(query) or 0) < answered:
            assert time.monotonic() < deadline, f"prometheus saw {self.prom.query(query)}"
            time.sleep(0.2)

    def check(self, analysis: flagger.Analysis) -> tuple[float | None, float | None]:
        args = {"namespace": NAMESPACE, "target": APEX, "interval": analysis.interval}
        success = self.prom.query(flagger.render(flagger.REQUEST_SUCCESS_RATE, **args))
        duration = self.prom.query(flagger.render(flagger.REQUEST_DURATION, **args))
        return success, duration

    def analyze(self, analysis: flagger.Analysis) -> str:
        """Flagger's loop: step the weight while checks pass; promote or roll back."""
        weight, failures = 0, 0
        while True:
            weight = min(weight + analysis.step_weight, analysis.max_weight)
            since = self.route(weight)
            self.settle()
            success, duration = self.check(analysis)
            passed = (
                success is not None
                and success >= analysis.min_success_rate
                and duration is not None
                and duration <= analysis.max_duration_ms
            )
            analysis.steps.append(
                {
                    "weight": weight,
                    "seen": self.seen(since, time.monotonic()),
                    "success": success,
                    "p99": duration,
                }
            )
            if not passed:
                failures += 1
                weight -= analysis.step_weight  # Flagger holds the weight on a failed check
                if failures >= analysis.threshold:
                    self.route(0)
                    return "rolled back"
            elif weight >= analysis.max_weight:
                # Promotion copies the canary's spec into the primary (a running local mesh
                # cannot change Deployments), then routes everything to the primary.
                self.route(0)
                return "promoted"

    def after(self, seconds: float = 2.0) -> dict[str, int]:
        since = time.monotonic()
        time.sleep(seconds)
        return self.seen(since, time.monotonic())


@pytest.fixture
def run(request, tmp_path):
    fail_percent = getattr(request, "param", 0)
    with LocalMesh(objects=podinfo_objects(fail_percent), work_dir=tmp_path / "mesh") as mesh:
        prom = PrometheusServer(tmp_path / "prometheus", _targets(mesh))
        with prom, Run(mesh, prom) as running:
            prom.wait_scraped()
            yield running


def _share_ok(seen: dict[str, int], weight: int) -> bool:
    # Binomial: the canary's share within 4 standard deviations of its weight.
    total = seen["canary"] + seen["primary"] + seen["failed"]
    p = weight / 100
    sd = (p * (1 - p) / total) ** 0.5
    return total >= 20 and abs(seen["canary"] / total - p) <= 4 * sd + 1e-9


def test_healthy_canary_is_promoted_step_by_step(run):
    analysis = flagger.Analysis()
    assert run.analyze(analysis) == "promoted", analysis.steps
    assert [s["weight"] for s in analysis.steps] == [10, 20, 30, 40, 50], analysis.steps
    for step in analysis.steps:
        assert step["seen"]["failed"] == 0
        assert _share_ok(step["seen"], step["weight"]), step
        assert step["success"] == pytest.approx(100.0)
        assert 0 < step["p99"] <= 500
    # After promotion the primary answers everything.
    after = run.after()
    assert after["canary"] == after["failed"] == 0 and after["primary"] >= 20


@pytest.mark.parametrize("run", [20], indirect=True)
def test_failing_canary_is_rolled_back(run):
    analysis = flagger.Analysis()
    assert run.analyze(analysis) == "rolled back", analysis.steps
    failed = [s for s in analysis.steps if s["success"] < analysis.min_success_rate]
    # Rolled back after `threshold` failed checks, long before the canary reached its maximum.
    # (A check may pass at first: rate() cannot count the first 500 of a new series, so the
    # first failures of a canary can be invisible to Flagger's query for one interval.)
    assert len(failed) == analysis.threshold
    assert max(s["weight"] for s in analysis.steps) <= 20
    for step in failed:
        assert step["seen"]["failed"] >= 1
        # The share of failures Flagger computes from the canary's own sidecar: a fifth.
        assert 55 <= step["success"] <= 95, step
    after = run.after()
    assert after["canary"] == after["failed"] == 0 and after["primary"] >= 20
    # The canary's sidecar counted 500s, which the query's response_code!~"5.*" excludes.
    fives = run.prom.query(
        f'sum(osm_request_total{{destination_name="{APEX}",response_code="500"}})'
    )
    assert fives is not None and fives >= 2
