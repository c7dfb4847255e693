"""The stats the demo's live view and the Grafana dashboards read exist once traffic flows,
and an upstream cluster nobody called holds none (deferred creation, docs/performance.md)."""

from __future__ import annotations

import re

import pytest

from tests.e2e_envoy.harness import EnvoyMesh, deployment, service, service_account

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS = "stats"


def test_called_cluster_has_dashboard_stats_and_uncalled_one_has_none(tmp_path, mesh_ca):
    objects = [
        *(service_account(NS, sa) for sa in ("api", "other", "client")),
        deployment(NS, "api", "api"),
        deployment(NS, "other", "other"),
        deployment(NS, "client", "client"),
        service(NS, "api"),
        service(NS, "other"),
    ]
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects, permissive=True)
    try:
        mesh.start_app("api")
        mesh.start_envoy("api")
        client = mesh.start_envoy("client")
        mesh.wait_ready()
        clusters = client.dynamic_names("clusters")
        (api,) = [c for c in clusters if c.startswith(f"{NS}/api|")]
        (other,) = [c for c in clusters if c.startswith(f"{NS}/other|")]

        # Before any request neither upstream cluster has traffic stats (the ADS cluster has)...
        assert not client.stats(rf"^cluster\.{NS}/.*upstream_rq_total$")
        for _ in range(3):
            status, _ = mesh.request("client", f"http://api.{NS}.svc.cluster.local/x")
            assert status == 200

        # ...after it, the called one has what osm_mesh.local.stats and the dashboards read.
        stats = client.stats(r"^cluster\.")
        assert stats[f"cluster.{api}.upstream_rq_total"] == 3
        assert stats[f"cluster.{api}.upstream_rq_2xx"] == 3
        assert not [name for name in stats if name.startswith(f"cluster.{other}.upstream_rq")]
        # Membership stats are not deferred: the uncalled cluster is still visible.
        assert stats[f"cluster.{other}.membership_total"] == 1

        _, prometheus = client.admin_get("/stats/prometheus")
        name = re.escape(api)
        assert re.search(
            r'^envoy_cluster_upstream_rq_xx\{envoy_response_code_class="2",'
            rf'envoy_cluster_name="{name}"\}} 3$',
            prometheus,
            re.M,
        ), prometheus[:2000]
        assert re.search(
            rf'^envoy_cluster_upstream_rq_time_bucket\{{envoy_cluster_name="{name}",le="',
            prometheus,
            re.M,
        )
        assert f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="{api}"}} 3' in prometheus
    finally:
        mesh.close()
