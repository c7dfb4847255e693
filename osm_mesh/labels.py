"""Label, annotation and well-known names a drop-in for the Go `osm` must match.

Every module that reads or writes these imports them from here, so a typo cannot
make two parts of the project disagree with each other or with upstream
(facts: ../shared/facts/osm-cli.md, "Labels and names a drop-in must match").
"""

from __future__ import annotations

# -- Namespaces --------------------------------------------------------------------------------
# Label: which mesh monitors the namespace (value: mesh name).
MONITORED_BY_LABEL = "openservicemesh.io/monitored-by"
# Label: the namespace is excluded from every mesh (value: "true").
IGNORE_LABEL = "openservicemesh.io/ignore"
IGNORE_LABEL_VALUE = "true"
# Annotation on namespaces (and pods): "enabled" | "disabled".
SIDECAR_INJECTION_ANNOTATION = "openservicemesh.io/sidecar-injection"
INJECTION_ENABLED = "enabled"
INJECTION_DISABLED = "disabled"
# Annotation on namespaces: "enabled" when `osm metrics enable` ran.
METRICS_ANNOTATION = "openservicemesh.io/metrics"
METRICS_ENABLED = "enabled"

# -- Meshed pods -------------------------------------------------------------------------------
# Label key carried by every pod with an injected sidecar (value: a UUID).
PROXY_UUID_LABEL = "osm-proxy-uuid"
ENVOY_ADMIN_PORT = 15000
ENVOY_PROMETHEUS_PORT = 15010
ENVOY_PROMETHEUS_PATH = "/stats/prometheus"
PROMETHEUS_SCRAPE_ANNOTATION = "prometheus.io/scrape"
PROMETHEUS_PORT_ANNOTATION = "prometheus.io/port"
PROMETHEUS_PATH_ANNOTATION = "prometheus.io/path"

# -- Control plane -----------------------------------------------------------------------------
CONTROLLER_NAME = "osm-controller"
INJECTOR_NAME = "osm-injector"
BOOTSTRAP_NAME = "osm-bootstrap"
APP_LABEL = "app"
CONTROLLER_APP_LABEL_VALUE = "osm-controller"
# Selector for controller Deployments/pods of every mesh: "app=osm-controller".
CONTROLLER_SELECTOR = f"{APP_LABEL}={CONTROLLER_APP_LABEL_VALUE}"
MESH_NAME_LABEL = "meshName"
ENFORCE_SINGLE_MESH_LABEL = "enforceSingleMesh"
K8S_APP_NAME_LABEL = "app.kubernetes.io/name"
K8S_APP_NAME_VALUE = "openservicemesh.io"
K8S_APP_INSTANCE_LABEL = "app.kubernetes.io/instance"
K8S_APP_VERSION_LABEL = "app.kubernetes.io/version"

# The controller's HTTP server: /version, /smi/version, /health/ready, /health/alive, /metrics.
CONTROLLER_HTTP_PORT = 9091
CONTROLLER_VERSION_PATH = "/version"
CONTROLLER_SMI_VERSION_PATH = "/smi/version"
CONTROLLER_READY_PATH = "/health/ready"
CONTROLLER_ALIVE_PATH = "/health/alive"
CONTROLLER_METRICS_PATH = "/metrics"
# Debug endpoints (`osm proxy status`), bound to 127.0.0.1 in the controller's pod only: what
# they tell (every proxy's identity, NACK messages) is read through a port-forward, which needs
# the pods/portforward permission; nothing on the cluster network can reach them.
CONTROLLER_DEBUG_PORT = 9092
CONTROLLER_PROXY_STATUS_PATH = "/debug/proxies"
# Aggregated discovery service (xDS) port on osm-controller.
ADS_PORT = 15128
INJECTOR_PORT = 9090
INJECTOR_WEBHOOK_PATH = "/mutate-pod-creation"

# -- Well-known names --------------------------------------------------------------------------
DEFAULT_OSM_NAMESPACE = "osm-system"
DEFAULT_MESH_NAME = "osm"
MESH_CONFIG_NAME = "osm-mesh-config"
CA_BUNDLE_SECRET_NAME = "osm-ca-bundle"
CA_CERT_KEY = "ca.crt"
CA_PRIVATE_KEY_KEY = "private.key"
GRAFANA_SERVICE = "osm-grafana"
GRAFANA_PORT = 3000
PROMETHEUS_SERVICE = "osm-prometheus"
PROMETHEUS_PORT = 7070
JAEGER_SERVICE = "jaeger"
JAEGER_PORT = 9411

# `kubectl rollout restart` sets this pod-template annotation to an RFC 3339 time.
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
