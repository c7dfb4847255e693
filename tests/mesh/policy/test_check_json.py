"""`osm policy check-pods -o json`: the document scripts read, field by field, for a
permissive mesh (everything, spelled "all") and for SMI access listing its routes."""

from __future__ import annotations

from osm_mesh.catalog.model import Identity
from osm_mesh.policy.check import PodCheck
from osm_mesh.policy.evaluate import ALL, RouteAccess
from osm_mesh.smi.model import HTTPMatch, ObjectRef

WEB, API = Identity("shop", "web"), Identity("shop", "api")


def check(access: RouteAccess) -> dict:
    return PodCheck(("shop", "web-1"), ("shop", "api-1"), WEB, API, "osm-system", access).to_dict()


def test_a_permissive_mesh_allows_all_routes():
    assert check(RouteAccess(WEB, API, True, ALL, ALL, ALL)) == {
        "source": "shop/web-1",
        "destination": "shop/api-1",
        "sourceIdentity": "shop/web",
        "destinationIdentity": "shop/api",
        "mode": "permissive",
        "allowed": True,
        "trafficTargets": [],
        "routes": {"http": "all", "tcpPorts": "all", "udpPorts": "all"},
    }


def test_smi_access_lists_its_routes_ports_and_traffic_targets():
    matches = (
        HTTPMatch("items", "/items", ("GET",), (("x-beta", "1"),)),
        HTTPMatch("any"),
    )
    access = RouteAccess(
        WEB, API, False, matches, (5432,), (53,), (ObjectRef("TrafficTarget", "shop", "t"),)
    )
    assert check(access) == {
        "source": "shop/web-1",
        "destination": "shop/api-1",
        "sourceIdentity": "shop/web",
        "destinationIdentity": "shop/api",
        "mode": "smi",
        "allowed": True,
        "trafficTargets": ["shop/t"],
        "routes": {
            "http": [
                {
                    "name": "items",
                    "pathRegex": "/items",
                    "methods": ["GET"],
                    "headers": {"x-beta": "1"},
                },
                {"name": "any", "pathRegex": None, "methods": ["*"], "headers": {}},
            ],
            "tcpPorts": [5432],
            "udpPorts": [53],
        },
    }
    denied = check(RouteAccess(WEB, API, False))
    assert denied["allowed"] is False and denied["routes"] == {
        "http": [],
        "tcpPorts": [],
        "udpPorts": [],
    }
