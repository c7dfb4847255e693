"""Certificate rotation on real Envoys: short-lived identity certificates are renewed and pushed
over SDS while requests keep succeeding (new connections and a kept-alive one)."""

from __future__ import annotations

import datetime as dt
import json
import time

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
NS = "rot"
VALIDITY = dt.timedelta(seconds=4)


def serving_serials(mesh: EnvoyMesh, name: str) -> set[str]:
    """Serial numbers of the identity certificates an Envoy currently holds."""
    _, body = mesh.envoys[name].admin_get("/certs")
    serials = set()
    for entry in json.loads(body).get("certificates", []):
        for cert in entry.get("cert_chain", []):
            serials.add(cert["serial_number"])
    return serials


def test_rotation_keeps_requests_succeeding(tmp_path, mesh_ca):
    objects = [
        service_account(NS, "api"),
        service_account(NS, "web"),
        deployment(NS, "api", "api"),
        deployment(NS, "web", "web"),
        service(NS, "api"),
        route_group(NS, "all", [{"name": "all", "pathRegex": "/", "methods": ["GET"]}]),
        traffic_target(NS, "t", "api", ["web"], "all"),
    ]
    # Renew at half of a 4 s validity: a new certificate every ~2 s.
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects, cert_validity=VALIDITY, rotate_at=0.5)
    try:
        mesh.start_app("api")
        mesh.start_envoy("api")
        mesh.start_envoy("web")
        mesh.wait_ready()
        first = serving_serials(mesh, "api")
        assert first

        kept = mesh.connection("web")
        failures, total, seen = [], 0, [first]
        deadline = time.monotonic() + 2.5 * VALIDITY.total_seconds()  # outlives 2 validities
        while time.monotonic() < deadline:
            for conn in (kept, None):  # a long-lived connection and fresh ones
                status, body = mesh.request("web", "http://api.rot/", conn=conn)
                total += 1
                if status != 200:
                    failures.append((status, body))
            current = serving_serials(mesh, "api")
            if current != seen[-1]:
                seen.append(current)
            time.sleep(0.05)
        kept.close()
        assert not failures, f"{len(failures)} of {total} failed: {failures[:3]}"
        # At least 4 certificates served in 10 s: each replaced before it expired.
        assert len(seen) >= 4, seen
        assert mesh.cp.certs.issued_count >= 8  # two identities, ≥ 4 each
        assert mesh.cp.statuses()[mesh.cp.node_id_for(mesh.pod("api"))].nacks == []
    finally:
        mesh.close()
