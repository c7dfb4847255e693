"""Issue 11 item 7: the chart's NetworkPolicies keep the webhook (:9090) to the API server and
:9091 to the API server and Prometheus, and leave ADS (:15128) to the mesh's namespaces.

No CNI here enforces NetworkPolicy (docs/security.md says which do), so the rendered objects
are validated against the Kubernetes schema (test_render.py's matrix case "network-policy")
and their meaning is checked by evaluating them, as the NetworkPolicy API defines it, for the
peers that matter: the API server, a meshed pod, Prometheus.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from tests.chart.helpers import MATRIX, RenderError, render

pytestmark = pytest.mark.helm


@dataclass(frozen=True)
class Peer:
    ip: str
    namespace: str | None = None  # None: not a pod (a node, the API server)
    pod_labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)


API_SERVER = Peer("172.18.0.2")
MESHED_POD = Peer("10.244.1.7", "shop", {"app": "web"}, {"openservicemesh.io/monitored-by": "osm"})
OTHER_POD = Peer("10.244.2.9", "default", {"app": "x"}, {})
PROMETHEUS = Peer("10.244.0.5", "osm-system", {"app": "osm-prometheus"}, {})
OBSERVER = Peer("10.244.3.3", "obs", {"app": "scraper"}, {"team": "obs"})


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # all the chart uses
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches(rule_peer: dict, peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        network = ipaddress.ip_network(block["cidr"])
        return address.version == network.version and address in network
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        if not _selects(rule_peer["namespaceSelector"], peer.namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return "podSelector" not in rule_peer or _selects(rule_peer["podSelector"], peer.pod_labels)


def allowed(policies: list[dict], pod_labels: dict[str, str], port: int, peer: Peer) -> bool:
    """Whether ``peer`` may connect to ``port`` of a pod with ``pod_labels`` (ingress)."""
    selecting = [p for p in policies if _selects(p["spec"]["podSelector"], pod_labels)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = [p["port"] for p in rule.get("ports") or []]
            if ports and port not in ports:
                continue
            peers = rule.get("from")
            if not peers or any(
                _peer_matches(p, peer, policy["metadata"]["namespace"]) for p in peers
            ):
                return True
    return False


@pytest.fixture(scope="module")
def policies():
    values, namespace, release = MATRIX["network-policy"]
    objects = render(values, namespace, release)
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


INJECTOR = {"app": "osm-injector"}
CONTROLLER = {"app": "osm-controller"}


def test_the_webhook_is_for_the_api_server_only(policies):
    assert allowed(policies, INJECTOR, 9090, API_SERVER)
    for peer in (MESHED_POD, OTHER_POD, PROMETHEUS, OBSERVER):
        assert not allowed(policies, INJECTOR, 9090, peer), peer


@pytest.mark.parametrize("pod", [INJECTOR, CONTROLLER])
def test_metrics_for_the_api_server_prometheus_and_the_named_peers(policies, pod):
    for peer in (API_SERVER, PROMETHEUS, OBSERVER):
        assert allowed(policies, pod, 9091, peer), peer
    for peer in (MESHED_POD, OTHER_POD):
        assert not allowed(policies, pod, 9091, peer), peer


def test_ads_stays_open_to_the_meshs_namespaces_only(policies):
    assert allowed(policies, CONTROLLER, 15128, MESHED_POD)
    assert not allowed(policies, CONTROLLER, 15128, OTHER_POD)
    assert not allowed(policies, CONTROLLER, 9090, API_SERVER)  # nothing else is open


def test_ipv6_api_server_addresses(policies):
    assert allowed(policies, INJECTOR, 9090, Peer("fd00::2"))
    assert not allowed(policies, INJECTOR, 9090, Peer("fd00::3"))


def test_off_by_default():
    assert [o for o in render() if o["kind"] == "NetworkPolicy"] == []


def test_enabled_without_api_server_addresses_is_refused():
    # Fail closed with the reason: an empty list would lock the API server out of the
    # webhook, and with failurePolicy Fail no pod could start in a meshed namespace.
    with pytest.raises(RenderError, match=r"needs osm\.networkPolicy\.apiServerCIDRs"):
        render({"osm": {"networkPolicy": {"enabled": True}}})
