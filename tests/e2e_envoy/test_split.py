"""TrafficSplit as weighted clusters on a real Envoy: 90/10 within a binomial bound over 1,000
requests, then 50/50 applied live (same Envoy process, same client connection)."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from tests.e2e_envoy.harness import (
    EnvoyMesh,
    deployment,
    route_group,
    service,
    service_account,
    traffic_split,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS = "canary"
N = 1000
SIGMAS = 5  # P(false failure) per check ≈ 6e-7


def within_binomial(count: int, n: int, p: float) -> tuple[bool, tuple[float, float]]:
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    low, high = mean - SIGMAS * sd, mean + SIGMAS * sd
    return low <= count <= high, (low, high)


def tally(mesh: EnvoyMesh, n: int) -> Counter[str]:
    conn = mesh.connection("frontend")
    seen: Counter[str] = Counter()
    try:
        for _ in range(n):
            status, body = mesh.request(
                "frontend", "http://api.canary.svc.cluster.local/api/values", conn=conn
            )
            assert status == 200, body
            seen[json.loads(body)["name"]] += 1
    finally:
        conn.close()
    return seen


def test_weighted_split_and_live_change(tmp_path, mesh_ca):
    objects = [
        *(service_account(NS, sa) for sa in ("api-v1", "api-v2", "frontend")),
        deployment(NS, "api-v1", "api-v1"),
        deployment(NS, "api-v2", "api-v2"),
        deployment(NS, "frontend", "frontend"),
        # The root selects app=api, which no pod carries (as in the article's canary sample).
        service(NS, "api"),
        service(NS, "api-v1"),
        service(NS, "api-v2"),
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        traffic_target(NS, "v1", "api-v1", ["frontend"], "all"),
        traffic_target(NS, "v2", "api-v2", ["frontend"], "all"),
        traffic_split(NS, "canary", "api.canary", {"api-v1": 90, "api-v2": 10}),
    ]
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects)
    try:
        for name in ("api-v1", "api-v2", "frontend"):
            mesh.start_app(name) if name != "frontend" else None
            mesh.start_envoy(name)
        mesh.wait_ready()
        frontend_pid = mesh.envoys["frontend"].pid

        seen = tally(mesh, N)
        assert set(seen) == {"api-v1", "api-v2"}
        ok, bound = within_binomial(seen["api-v2"], N, 0.10)
        assert ok, f"api-v2 got {seen['api-v2']} of {N}, expected within {bound}"

        mesh.change([traffic_split(NS, "canary", "api.canary", {"api-v1": 50, "api-v2": 50})])
        seen = tally(mesh, N)
        ok, bound = within_binomial(seen["api-v2"], N, 0.50)
        assert ok, f"api-v2 got {seen['api-v2']} of {N}, expected within {bound}"
        # Applied over xDS: the same Envoy process, never restarted.
        assert mesh.envoys["frontend"].pid == frontend_pid
        assert mesh.envoys["frontend"].proc.poll() is None

        # Weight 0 gets nothing.
        mesh.change([traffic_split(NS, "canary", "api.canary", {"api-v1": 0, "api-v2": 100})])
        assert tally(mesh, 50) == Counter({"api-v2": 50})
    finally:
        mesh.close()


@pytest.mark.parametrize("version", ["v1alpha3", "v1alpha4"])
def test_split_matches_send_only_matching_requests_to_backends(tmp_path, mesh_ca, version):
    """split v1alpha3+ `matches`: a request with the group's header goes to the backend, every
    other request to the root Service's own pods (here api-v1's)."""
    split = traffic_split(NS, "beta", "api", {"api-v2": 100})
    split["apiVersion"] = f"split.smi-spec.io/{version}"
    split["spec"]["matches"] = [{"kind": "HTTPRouteGroup", "name": "beta-users"}]
    objects = [
        *(service_account(NS, sa) for sa in ("api-v1", "api-v2", "frontend")),
        deployment(NS, "api-v1", "api-v1"),
        deployment(NS, "api-v2", "api-v2"),
        deployment(NS, "frontend", "frontend"),
        service(NS, "api", app="api-v1"),
        service(NS, "api-v2"),
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        route_group(
            NS,
            "beta-users",
            [{"name": "beta", "pathRegex": "/api/.*", "headers": [{"x-beta": "yes"}]}],
        ),
        traffic_target(NS, "v1", "api-v1", ["frontend"], "all"),
        traffic_target(NS, "v2", "api-v2", ["frontend"], "all"),
        split,
    ]
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects)
    try:
        mesh.start_app("api-v1")
        mesh.start_app("api-v2")
        for name in ("api-v1", "api-v2", "frontend"):
            mesh.start_envoy(name)
        mesh.wait_ready()

        def served_by(headers: dict[str, str], path: str = "/api/values") -> str:
            url = f"http://api.canary.svc.cluster.local{path}"
            status, body = mesh.request("frontend", url, headers=headers)
            assert status == 200, body
            return json.loads(body)["name"]

        for _ in range(20):  # a 100 % backend: any leak to the root would show
            assert served_by({"x-beta": "yes"}) == "api-v2"
            assert served_by({}) == "api-v1"
            assert served_by({"x-beta": "no"}) == "api-v1"
            assert served_by({"x-beta": "yes"}, "/healthz") == "api-v1"
    finally:
        mesh.close()
