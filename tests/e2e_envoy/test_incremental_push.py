"""A push carries only the route tables that changed (osm_mesh/xds/protocol.py), and a real
Envoy keeps the ones left out: SotW RDS responses are incremental, only CDS and LDS responses
must hold every resource."""

from __future__ import annotations

import pytest

from tests.e2e_envoy.harness import (
    EnvoyMesh,
    deployment,
    route_group,
    service,
    service_account,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS = "shop"
URL = "http://api.shop.svc.cluster.local"


def rds_stats(mesh: EnvoyMesh, name: str) -> dict[str, int]:
    """``<route table>.<counter>`` for the RDS subscriptions of ``name``'s Envoy."""
    stats = mesh.envoys[name].stats(r"\.rds\.rds-.*\.(update_attempt|config_reload)$")
    return {k.split(".rds.", 1)[1]: v for k, v in stats.items()}


def test_a_policy_change_reaches_envoy_as_the_one_route_table_it_changed(tmp_path, mesh_ca):
    objects = [
        *(service_account(NS, sa) for sa in ("api", "web")),
        deployment(NS, "api", "api"),
        deployment(NS, "web", "web"),
        service(NS, "api"),
        service(NS, "web"),
        route_group(NS, "reads", [{"name": "r", "pathRegex": "/v0/.*", "methods": ["GET"]}]),
        traffic_target(NS, "web-api", "api", ["web"], "reads"),
        traffic_target(NS, "api-web", "web", ["api"], "reads"),
    ]
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects)
    try:
        mesh.start_app("api")
        for name in ("api", "web"):
            mesh.start_envoy(name)
        mesh.wait_ready()
        assert mesh.request("web", f"{URL}/v0/items")[0] == 200
        assert mesh.request("web", f"{URL}/v1/items")[0] == 403
        before = rds_stats(mesh, "api")
        assert before["rds-inbound.update_attempt"] >= 1, before
        assert before["rds-outbound.update_attempt"] >= 1, before

        mesh.change([route_group(NS, "reads", [{"name": "r", "pathRegex": "/v1/.*"}])])

        # The inbound policy changed on api's Envoy; web's route table to api is intact.
        assert mesh.request("web", f"{URL}/v1/items")[0] == 200
        assert mesh.request("web", f"{URL}/v0/items")[0] == 403
        after = rds_stats(mesh, "api")
        assert after["rds-inbound.config_reload"] == before["rds-inbound.config_reload"] + 1
        # The unchanged outbound table was not sent again, and Envoy still holds it.
        assert after["rds-outbound.update_attempt"] == before["rds-outbound.update_attempt"]
        assert "rds-outbound" in mesh.envoys["api"].dynamic_names("route_configs")
    finally:
        mesh.close()
