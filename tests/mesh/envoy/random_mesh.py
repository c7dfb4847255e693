"""A random mesh and random changes to it, for checking scoped recomputes against full ones.

Every kind the translation reads is generated and mutated: pods (labels, IP, ServiceAccount,
container ports, UUID), Services (selector, ports of every protocol), ServiceAccounts,
TrafficTargets (sources across namespaces, HTTP/TCP rules, missing routes, ports),
HTTPRouteGroups, TCPRoutes, TrafficSplits (weights, matches), UpstreamTrafficSettings, Retries,
FaultInjections and the MeshConfig. Objects are never changed in place: a change replaces the
object, as the sources expect.
"""

from __future__ import annotations

import copy
import random
from typing import Any

NAMESPACES = ("a", "b")
ACCOUNTS = tuple(f"sa{i}" for i in range(5))
APPS = tuple(f"app{i}" for i in range(5))
SERVICES = tuple(f"svc{i}" for i in range(6))
PODS = tuple(f"pod{i}" for i in range(7))
GROUPS = ("rg0", "rg1", "rg2")
UUIDS = tuple(f"uuid-{i}" for i in range(20))
POLICY = "policy.openservicemesh.io/v1alpha1"

Key = tuple[str, str, str]
World = dict[Key, dict[str, Any]]


def _meta(name: str, ns: str | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra}
    if ns is not None:
        meta["namespace"] = ns
    return meta


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


class RandomMesh:
    def __init__(self, seed: int, *, permissive: bool = False) -> None:
        self.rng = random.Random(seed)
        self.world: World = {}
        self.put(self.mesh_config(permissive, egress=False))
        for ns in NAMESPACES:
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, None)})
            for sa in ACCOUNTS[:4]:
                self.put(self.account(ns, sa))
            for name in SERVICES[:5]:
                self.put(self.service(ns, name))
            for name in PODS[:5]:
                self.put(self.pod(ns, name))
            for i in range(3):
                self.put(self.traffic_target(ns, f"tt{i}"))
            for name in GROUPS[:2]:
                self.put(self.route_group(ns, name))
            self.put(self.tcp_route(ns, "tcp0"))
            self.put(self.split(ns, "split0"))
        self.put(self.upstream_setting("a", "uts0"))
        self.put(self.retry("a", "retry0"))
        self.put(self.fault("b", "fault0"))

    # -- objects ------------------------------------------------------------------------
    def put(self, obj: dict[str, Any]) -> None:
        self.world[key_of(obj)] = obj

    def objects(self) -> list[dict[str, Any]]:
        return list(self.world.values())

    def mesh_config(self, permissive: bool, egress: bool) -> dict[str, Any]:
        return {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": _meta("osm-mesh-config", "osm-system"),
            "spec": {
                "traffic": {
                    "enablePermissiveTrafficPolicyMode": permissive,
                    "enableEgress": egress,
                }
            },
        }

    def account(self, ns: str, name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, ns)}

    def service(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        ports: list[dict[str, Any]] = [{"name": "http", "port": 80, "targetPort": 8080}]
        if r.random() < 0.3:
            ports = [{"name": "http-web", "port": 8000, "targetPort": "web"}]
        if r.random() < 0.3:
            ports.append({"name": "tcp-db", "port": 5432, "targetPort": 5432})
        if r.random() < 0.2:
            ports.append({"name": "grpc", "port": 9090, "targetPort": 9090})
        if r.random() < 0.1:
            ports.append({"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53})
        selector = {"app": r.choice(APPS)}
        if r.random() < 0.15:
            selector["tier"] = r.choice(("front", "back"))
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, ns),
            "spec": {"selector": selector, "ports": ports},
        }

    def pod(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        labels = {"app": r.choice(APPS), "osm-proxy-uuid": r.choice(UUIDS)}
        if r.random() < 0.3:
            labels["tier"] = r.choice(("front", "back"))
        ports = [{"name": "web", "containerPort": 8080}, {"containerPort": 5432}]
        if r.random() < 0.5:
            ports.append({"name": "grpc", "containerPort": 9090})
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _meta(name, ns, labels=labels),
            "spec": {
                "serviceAccountName": r.choice(ACCOUNTS),
                "containers": [{"name": "app", "ports": ports}],
            },
            "status": {"podIP": f"10.{NAMESPACES.index(ns)}.0.{r.randrange(1, 12)}"}
            if r.random() < 0.9
            else {},
        }

    def traffic_target(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        sources = [
            {"kind": "ServiceAccount", "name": sa, "namespace": r.choice(NAMESPACES)}
            for sa in r.choices(ACCOUNTS, k=r.randrange(1, 4))
        ]
        rules: list[dict[str, Any]] = []
        if r.random() < 0.8:
            rule: dict[str, Any] = {"kind": "HTTPRouteGroup", "name": r.choice(GROUPS)}
            if r.random() < 0.5:
                rule["matches"] = r.sample(["m0", "m1", "m2"], r.randrange(1, 3))
            rules.append(rule)
        if r.random() < 0.4:
            rules.append({"kind": "TCPRoute", "name": r.choice(("tcp0", "tcp1"))})
        spec: dict[str, Any] = {
            "destination": {"kind": "ServiceAccount", "name": r.choice(ACCOUNTS), "namespace": ns},
            "sources": sources,
            "rules": rules or [{"kind": "HTTPRouteGroup", "name": "rg0"}],
        }
        version = "v1alpha3"
        if r.random() < 0.15:
            version = "v1alpha2"
            spec["destination"]["port"] = r.choice((8080, 5432))
        return {
            "apiVersion": f"access.smi-spec.io/{version}",
            "kind": "TrafficTarget",
            "metadata": _meta(name, ns),
            "spec": spec,
        }

    def route_group(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        matches = []
        for m in r.sample(["m0", "m1", "m2"], r.randrange(1, 4)):
            match: dict[str, Any] = {"name": m, "pathRegex": r.choice(("/api/.*", "/v1", "/.*"))}
            if r.random() < 0.5:
                match["methods"] = r.sample(["GET", "POST", "PUT"], r.randrange(1, 3))
            matches.append(match)
        return {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "HTTPRouteGroup",
            "metadata": _meta(name, ns),
            "spec": {"matches": matches},
        }

    def tcp_route(self, ns: str, name: str) -> dict[str, Any]:
        ports = self.rng.sample([5432, 9090, 6379], self.rng.randrange(0, 3))
        return {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "TCPRoute",
            "metadata": _meta(name, ns),
            "spec": {"matches": {"ports": ports}},
        }

    def split(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        backends = [
            {"service": s, "weight": r.choice((0, 10, 50, 90))}
            for s in r.sample(SERVICES, r.randrange(1, 4))
        ]
        spec: dict[str, Any] = {"service": r.choice(SERVICES), "backends": backends}
        version = "v1alpha2"
        if r.random() < 0.3:
            version = "v1alpha4"
            spec["matches"] = [{"kind": "HTTPRouteGroup", "name": r.choice(GROUPS)}]
        return {
            "apiVersion": f"split.smi-spec.io/{version}",
            "kind": "TrafficSplit",
            "metadata": _meta(name, ns),
            "spec": spec,
        }

    def upstream_setting(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        spec: dict[str, Any] = {"host": r.choice(SERVICES)}
        if r.random() < 0.6:
            spec["connectionSettings"] = {"http": {"maxRequests": r.randrange(1, 100)}}
        if r.random() < 0.6:
            spec["requestTimeout"] = r.choice(("1s", "5s", "30s"))
        if "connectionSettings" not in spec and "requestTimeout" not in spec:
            spec["outlierDetection"] = {"consecutive5xxErrors": r.randrange(1, 10)}
        return {"apiVersion": POLICY, "kind": "UpstreamTrafficSetting",
                "metadata": _meta(name, ns), "spec": spec}  # fmt: skip

    def retry(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        return {
            "apiVersion": POLICY,
            "kind": "Retry",
            "metadata": _meta(name, ns),
            "spec": {
                "source": {"kind": "ServiceAccount", "name": r.choice(ACCOUNTS), "namespace": ns},
                "destinations": [
                    {"kind": "Service", "name": s, "namespace": ns}
                    for s in r.sample(SERVICES, r.randrange(1, 3))
                ],
                "retryPolicy": {"retryOn": "5xx", "numRetries": r.randrange(1, 5)},
            },
        }

    def fault(self, ns: str, name: str) -> dict[str, Any]:
        r = self.rng
        spec: dict[str, Any] = {
            "host": r.choice(SERVICES),
            "abort": {"httpStatus": r.choice((500, 503)), "percentage": r.choice((10, 100))},
        }
        if r.random() < 0.5:
            spec["sources"] = [{"kind": "ServiceAccount", "name": r.choice(ACCOUNTS),
                                "namespace": ns}]  # fmt: skip
        return {"apiVersion": POLICY, "kind": "FaultInjection",
                "metadata": _meta(name, ns), "spec": spec}  # fmt: skip

    # -- changes ------------------------------------------------------------------------
    def change(self) -> str:
        """Apply one random change; returns a description (for failure messages)."""
        r = self.rng
        ns = r.choice(NAMESPACES)
        kind = r.choices(
            [
                "pod", "pod-ip", "pod-delete", "service", "service-delete", "account",
                "target", "target-delete", "group", "group-delete", "tcp", "split",
                "split-delete", "uts", "retry", "fault", "policy-delete", "meshconfig",
            ],
            weights=[6, 4, 2, 4, 1, 1, 6, 1, 3, 1, 1, 3, 1, 2, 2, 2, 1, 1],
        )[0]  # fmt: skip
        if kind == "pod":
            self.put(self.pod(ns, r.choice(PODS)))
        elif kind == "pod-ip":
            pods = [o for k, o in self.world.items() if k[0] == "Pod"]
            if pods:
                pod = copy.deepcopy(r.choice(pods))
                pod["status"] = {"podIP": f"10.9.{r.randrange(0, 3)}.{r.randrange(1, 9)}"}
                self.put(pod)
        elif kind == "service":
            self.put(self.service(ns, r.choice(SERVICES)))
        elif kind == "account":
            self._toggle(self.account(ns, r.choice(ACCOUNTS)))
        elif kind == "target":
            self.put(self.traffic_target(ns, f"tt{r.randrange(0, 5)}"))
        elif kind == "group":
            self.put(self.route_group(ns, r.choice(GROUPS)))
        elif kind == "tcp":
            self.put(self.tcp_route(ns, r.choice(("tcp0", "tcp1"))))
        elif kind == "split":
            self.put(self.split(ns, r.choice(("split0", "split1"))))
        elif kind == "uts":
            self.put(self.upstream_setting(ns, r.choice(("uts0", "uts1"))))
        elif kind == "retry":
            self.put(self.retry(ns, r.choice(("retry0", "retry1"))))
        elif kind == "fault":
            self.put(self.fault(ns, r.choice(("fault0", "fault1"))))
        elif kind == "meshconfig":
            permissive, egress = r.random() < 0.3, r.random() < 0.3
            self.put(self.mesh_config(permissive, egress))
        else:
            wanted = {
                "pod-delete": ("Pod",),
                "service-delete": ("Service",),
                "target-delete": ("TrafficTarget",),
                "group-delete": ("HTTPRouteGroup", "TCPRoute"),
                "split-delete": ("TrafficSplit",),
                "policy-delete": ("UpstreamTrafficSetting", "Retry", "FaultInjection"),
            }[kind]
            victims = sorted(k for k in self.world if k[0] in wanted)
            if victims:
                victim = r.choice(victims)
                del self.world[victim]
                return f"{kind} {victim}"
        return kind

    def _toggle(self, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        if key in self.world:
            del self.world[key]
        else:
            self.put(obj)
