"""Resilience policies where one Translator serves several proxies (found unchecked by
mutation testing): a source's Retry or FaultInjection must give it a table of its own even
where tables are shared (permissive mode: one per namespace), and a zero timeout means "no
timeout" on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.catalog import FileSource
from osm_mesh.envoy import names
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.envoy.resilience import FAULT_FILTER_NAME
from osm_mesh.envoy.translate import ProxyIdentity, TranslateOptions, Translator
from tests.e2e_envoy.harness import deployment, service_account
from tests.mesh.resilience.test_translate import API_VHOST, NS, base_objects, fault, js, retry, uts


def translator(extra: list[dict[str, Any]], permissive: bool, **options: Any) -> Translator:
    ips = iter(f"10.0.0.{i}" for i in range(1, 100))
    source = FileSource(
        objects=[*base_objects(permissive), *extra], monitored="all", pod_ip=lambda *a: next(ips)
    )
    catalog = source.snapshot()
    assert not [p for p in catalog.problems if p.severity == "error"], catalog.problems
    return Translator(MeshIndex(catalog, TranslateOptions(**options)))


def api_vhost(t: Translator, who: str) -> dict[str, Any]:
    pod = next(p for p in t.index.catalog.pods if p.deployment == who)
    res = t.translate(ProxyIdentity(pod.proxy_uuid or "", pod.identity))
    route = js(res.routes[names.OUTBOUND_ROUTE])
    return next(v for v in route["virtualHosts"] if v["name"] == API_VHOST)


def retry_from_front() -> list[dict[str, Any]]:
    """A Retry in shop for the ServiceAccount web of namespace front (a web there too)."""
    policy = retry("web")
    policy["spec"]["source"]["namespace"] = "front"
    return [policy, service_account("front", "web"), deployment("front", "front-web", "web")]


ADMIN_ONLY = [{"kind": "ServiceAccount", "name": "admin", "namespace": NS}]


@pytest.mark.parametrize("permissive", [True, False])
@pytest.mark.parametrize(
    ("policies", "retried", "faulted"),
    [
        (retry_from_front(), {"front-web"}, set()),
        ([fault({"sources": ADMIN_ONLY, "abort": {"httpStatus": 500}})], set(), {"admin"}),
        (
            [retry("web"), fault({"sources": ADMIN_ONLY, "abort": {"httpStatus": 500}})],
            {"web"},
            {"admin"},
        ),
    ],
    ids=["retry", "fault", "both"],
)
@pytest.mark.parametrize("order", [("web", "admin", "api"), ("api", "admin", "web")])
def test_a_sources_policies_reach_that_source_only_whichever_proxy_came_first(
    permissive, policies, retried, faulted, order
):
    t = translator(policies, permissive)
    if "front-web" in retried:
        order = ("front-web", *order)
    if not permissive:
        order = tuple(o for o in order if o not in ("api", "front-web"))  # may call no api
    hosts = {who: api_vhost(t, who) for who in order}
    for who, host in hosts.items():
        assert ("retryPolicy" in host["routes"][0]["route"]) == (who in retried), who
        assert (FAULT_FILTER_NAME in host.get("typedPerFilterConfig", {})) == (who in faulted), who


def inbound_timeout(t: Translator) -> str:
    pod = next(p for p in t.index.catalog.pods if p.deployment == "api")
    res = t.translate(ProxyIdentity(pod.proxy_uuid or "", pod.identity))
    return js(res.routes[names.INBOUND_ROUTE])["virtualHosts"][0]["routes"][0]["route"]["timeout"]


def test_a_zero_timeout_is_no_timeout_on_both_sides():
    setting = uts(
        {"requestTimeout": "0s", "httpRoutes": [{"path": "/stream", "requestTimeout": "0s"}]}
    )
    t = translator([setting], permissive=False)
    host = api_vhost(t, "web")
    assert [(r["match"], r["route"]["timeout"]) for r in host["routes"]] == [
        ({"safeRegex": {"regex": "(?:/stream).*"}}, "0s"),
        ({"prefix": "/"}, "0s"),
    ]
    assert inbound_timeout(t) == "0s"
    # Only a path without a timeout: the server still must not cut it.
    only_path = uts({"httpRoutes": [{"path": "/stream", "requestTimeout": "0s"}]})
    assert inbound_timeout(translator([only_path], permissive=False)) == "0s"
    # No default timeout (0): a configured one must not add one on the server side.
    five = uts({"requestTimeout": "5s"})
    assert inbound_timeout(translator([five], permissive=False, route_timeout=0.0)) == "0s"
    assert inbound_timeout(translator([five], permissive=False)) == "15s"
