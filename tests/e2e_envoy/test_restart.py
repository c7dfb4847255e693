"""Control-plane restart: Envoys keep serving their last config while it is down, then
reconnect and resync (a policy change made during the outage is applied)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from osm_mesh.controlplane import ControlPlane
from tests.e2e_envoy.harness import (
    EnvoyMesh,
    deployment,
    route_group,
    service,
    service_account,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS = "rs"


def connected_state(mesh: EnvoyMesh, name: str) -> int:
    return mesh.envoys[name].stats(r"^control_plane\.connected_state$")[
        "control_plane.connected_state"
    ]


def test_envoy_survives_and_resyncs_after_control_plane_restart(tmp_path, mesh_ca):
    objects = [
        service_account(NS, "api"),
        service_account(NS, "web"),
        deployment(NS, "api", "api"),
        deployment(NS, "web", "web"),
        service(NS, "api"),
        route_group(NS, "all", [{"name": "all", "pathRegex": "/", "methods": ["GET"]}]),
        traffic_target(NS, "t", "api", ["web"], "all"),
    ]
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects)
    try:
        mesh.start_app("api")
        mesh.start_envoy("api")
        mesh.start_envoy("web")
        mesh.wait_ready()
        assert mesh.request("web", "http://api.rs/")[0] == 200
        port = mesh.cp.port

        mesh.cp.stop()
        deadline = time.monotonic() + 5
        while connected_state(mesh, "web") != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert connected_state(mesh, "web") == 0
        # Last good config keeps serving, over new connections too.
        for _ in range(5):
            assert mesh.request("web", "http://api.rs/")[0] == 200

        # Policy changes while the control plane is away: the TrafficTarget is deleted.
        mesh.source.delete("TrafficTarget", "t", NS)
        assert mesh.request("web", "http://api.rs/")[0] == 200  # nobody told Envoy yet

        mesh.cp = ControlPlane(mesh.source, mesh_ca, replace(mesh.options, port=port)).start()
        assert mesh.cp.port == port
        assert mesh.cp.wait_connected(2, timeout=15), mesh.cp.statuses()
        assert mesh.cp.wait_converged(timeout=10), mesh.cp.statuses()
        assert connected_state(mesh, "web") == 1
        status, body = mesh.request("web", "http://api.rs/")
        assert status == 403, body
    finally:
        mesh.close()
