"""The real `helm` renders the chart for a matrix of values; every object must be valid for
the oldest and newest Kubernetes the chart supports, and carry upstream's names and labels."""

from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from tests.chart.helpers import CHART, MATRIX, find, render, validate_custom

pytestmark = pytest.mark.helm

# Chart.yaml's kubeVersion floor, and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.27.0", "1.37.0")


def test_kube_versions_match_chart_floor():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">= 1.27.0-0"
    assert KUBE_VERSIONS[-1] == kubernetes_validate.utils.latest_version()
    assert KUBE_VERSIONS[0] in kubernetes_validate.utils.all_versions()


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_every_object_is_schema_valid(case):
    values, namespace, release = MATRIX[case]
    objects = render(values, namespace, release, include_crds=True)
    assert objects
    custom = 0
    for obj in objects:
        try:
            for version in KUBE_VERSIONS:
                kubernetes_validate.validate(obj, version, strict=True)
        except SchemaNotFoundError:
            # Not a built-in kind: it must be one of the chart's own CRDs (MeshConfig).
            validate_custom(obj)
            custom += 1
    assert custom == 1  # osm-mesh-config


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_names_labels_and_namespace(case):
    values, namespace, release = MATRIX[case]
    mesh = values.get("osm", {}).get("meshName", "osm")
    objects = render(values, namespace, release)
    for obj in objects:
        meta = obj["metadata"]
        assert meta["labels"]["app.kubernetes.io/name"] == "openservicemesh.io", meta["name"]
        assert meta["labels"]["app.kubernetes.io/instance"] == mesh
        if obj["kind"].startswith("Cluster"):
            # Cluster-scoped names carry the mesh name so two meshes never collide.
            assert meta["name"].startswith(f"{mesh}-"), meta["name"]
        else:
            assert meta["namespace"] == namespace, meta["name"]
    controller = find(objects, "Deployment", "osm-controller")
    labels = controller["metadata"]["labels"]
    assert labels["app"] == "osm-controller"
    assert labels["meshName"] == mesh
    single = values.get("osm", {}).get("enforceSingleMesh", True)
    assert labels.get("enforceSingleMesh") == ("true" if single else None)
    assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_control_plane_ports_probes_and_downward_api():
    objects = render()
    controller_svc = find(objects, "Service", "osm-controller")
    assert {p["port"] for p in controller_svc["spec"]["ports"]} == {15128, 9091}
    injector_svc = find(objects, "Service", "osm-injector")
    assert [p["port"] for p in injector_svc["spec"]["ports"]] == [9090]
    pod = find(objects, "Deployment", "osm-controller")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": 9091}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/alive", "port": 9091}
    env = {
        e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        for e in container["env"]
    }
    assert env["POD_NAME"] == "metadata.name"
    assert env["POD_NAMESPACE"] == "metadata.namespace"
    assert "--mesh-name=osm" in container["args"]
    assert "--osm-namespace=osm-system" in container["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    ca = next(v for v in pod["volumes"] if v["name"] == "ca-bundle")
    assert ca["secret"] == {"secretName": "osm-ca-bundle", "optional": True}
    assert container["image"] == "ghcr.io/osm-python/osm-mesh-controller:0.1.0"
    # Upstream's resource defaults.
    assert container["resources"]["requests"] == {"cpu": "0.5", "memory": "128M"}


def test_defaults_deploy_no_addons():
    kinds = {(o["kind"], o["metadata"]["name"]) for o in render()}
    assert ("Deployment", "osm-controller") in kinds
    assert ("Deployment", "osm-injector") in kinds
    for name in ("osm-prometheus", "osm-grafana", "jaeger"):
        assert ("Deployment", name) not in kinds


def test_meshconfig_follows_values():
    default = find(render(), "MeshConfig", "osm-mesh-config")["spec"]
    assert default["traffic"]["enablePermissiveTrafficPolicyMode"] is True
    assert default["traffic"]["enableEgress"] is True
    assert default["certificate"]["serviceCertValidityDuration"] == "24h"
    assert default["sidecar"]["logLevel"] == "error"
    assert default["observability"]["tracing"] == {"enable": False}

    values, namespace, release = MATRIX["custom"]
    spec = find(render(values, namespace, release), "MeshConfig", "osm-mesh-config")["spec"]
    assert spec["traffic"] == {
        "enablePermissiveTrafficPolicyMode": False,
        "enableEgress": False,
        "outboundPortExclusionList": [6379],
        "inboundPortExclusionList": [8080, 8081],
        "outboundIPRangeExclusionList": ["10.0.0.0/8"],
    }
    assert spec["sidecar"]["logLevel"] == "debug"
    assert spec["observability"]["tracing"] == {
        "enable": True,
        "address": "zipkin.tracing",
        "port": 9412,
        "endpoint": "/api/v2/spans",
    }
    assert spec["certificate"] == {"serviceCertValidityDuration": "1h", "certKeyBitSize": 4096}


def test_tracing_defaults_to_the_charts_jaeger():
    values, namespace, release = MATRIX["all-addons"]
    spec = find(render(values, namespace, release), "MeshConfig", "osm-mesh-config")["spec"]
    assert spec["observability"]["tracing"]["address"] == "jaeger.osm-system.svc.cluster.local"
    jaeger = find(render(values, namespace, release), "Service", "jaeger")
    assert {p["port"] for p in jaeger["spec"]["ports"]} >= {9411, 16686}


def test_article_install_has_grafana_prometheus_and_dashboards():
    values, namespace, release = MATRIX["article"]
    objects = render(values, namespace, release)
    grafana_svc = find(objects, "Service", "osm-grafana")
    assert grafana_svc["spec"]["ports"][0]["port"] == 3000
    prom_svc = find(objects, "Service", "osm-prometheus")
    assert prom_svc["spec"]["ports"][0]["port"] == 7070

    provisioning = find(objects, "ConfigMap", "osm-grafana-provisioning")["data"]
    datasources = yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    assert datasources[0]["url"] == "http://osm-prometheus.osm-system.svc:7070"
    folders = {p["folder"] for p in yaml.safe_load(provisioning["dashboards.yaml"])["providers"]}
    assert folders == {"OSM Data Plane", "OSM Control Plane"}

    titles = set()
    for name in ("osm-grafana-dashboards-data-plane", "osm-grafana-dashboards-control-plane"):
        for text in find(objects, "ConfigMap", name)["data"].values():
            dashboard = json.loads(text)
            titles.add(dashboard["title"])
            for panel in dashboard["panels"]:
                assert panel["targets"], panel["title"]
                assert all(t["datasource"]["uid"] == "osm-prometheus" for t in panel["targets"])
    assert titles == {"OSM Service to Service", "OSM Traffic Split", "OSM Control Plane"}

    scrape = yaml.safe_load(find(objects, "ConfigMap", "osm-prometheus")["data"]["prometheus.yml"])
    assert scrape["global"]["scrape_interval"] == "10s"
    relabels = scrape["scrape_configs"][0]["relabel_configs"]
    assert relabels[0]["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]


def test_grafana_password_is_generated_not_admin():
    values, namespace, release = MATRIX["article"]
    secret = find(render(values, namespace, release), "Secret", "osm-grafana")
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    assert len(password) == 24 and password.isalnum() and password != "admin"
    deployment = find(render(values, namespace, release), "Deployment", "osm-grafana")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "osm-grafana",
        "key": "admin-password",
    }
    given = find(render(*MATRIX["all-addons"]), "Secret", "osm-grafana")
    assert base64.b64decode(given["data"]["admin-password"]).decode() == "s3cret-from-values"


def test_grafana_password_kept_across_upgrades_with_lookup():
    # `helm template` cannot reach a cluster, so `lookup` is read from the template itself:
    # the generated password must come from the existing Secret when there is one.
    text = (CHART / "templates" / "grafana.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace "osm-grafana"' in text
    assert "randAlphaNum 24" in text


def test_two_meshes_do_not_collide_on_cluster_scoped_names():
    first = render({"osm": {"meshName": "one"}}, "ns-one", "one")
    second = render({"osm": {"meshName": "two"}}, "ns-two", "two")

    def cluster_scoped(objs):
        return {
            (o["kind"], o["metadata"]["name"]) for o in objs if "namespace" not in o["metadata"]
        }

    assert cluster_scoped(first)
    assert not cluster_scoped(first) & cluster_scoped(second)


def test_least_privilege_rbac():
    objects = render()
    rules = [r for o in objects if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
    injector = find(objects, "ClusterRole", "osm-osm-injector")
    secret_rules = [r for r in injector["rules"] if "secrets" in r["resources"]]
    assert [r["verbs"] for r in secret_rules] == [["create"]]
    webhook_rules = [r for r in injector["rules"] if r.get("resourceNames")]
    assert webhook_rules[0]["resourceNames"] == ["osm-webhook-osm"]
    controller = find(objects, "ClusterRole", "osm-osm-controller")
    for rule in controller["rules"]:
        if rule["resources"] != ["events"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule


@pytest.mark.parametrize(
    "values, path, why",
    [
        ({"osm": {"meshName": "Has_Caps"}}, "/osm/meshName", "does not match pattern"),
        ({"osm": {"controllerLogLevel": "loud"}}, "/osm/controllerLogLevel", "must be one of"),
        (
            {"osm": {"image": {"pullPolicy": "Sometimes"}}},
            "/osm/image/pullPolicy",
            "must be one of",
        ),
        (
            {"osm": {"injector": {"webhookTimeoutSeconds": 31}}},
            "/osm/injector/webhookTimeoutSeconds",
            "maximum",
        ),
        (
            {"osm": {"certificateProvider": {"serviceCertValidityDuration": "1 day"}}},
            "/osm/certificateProvider/serviceCertValidityDuration",
            "does not match pattern",
        ),
        (
            {"osm": {"outboundIPRangeExclusionList": ["10.0.0.0"]}},
            "/osm/outboundIPRangeExclusionList/0",
            "does not match pattern",
        ),
        ({"osm": {"grafana": {"port": "3000"}}}, "/osm/grafana/port", "got string, want integer"),
        ({"osm": {"deployGrafana": "yes"}}, "/osm/deployGrafana", "got string, want boolean"),
        (
            {"osm": {"networkPolicy": {"apiServerCIDRs": ["172.18.0.2"]}}},
            "/osm/networkPolicy/apiServerCIDRs/0",
            "does not match pattern",
        ),
        ({"other": 1}, "", "additional properties 'other' not allowed"),
    ],
)
def test_values_schema_rejects_with_the_path(values, path, why):
    from tests.chart.helpers import RenderError

    with pytest.raises(RenderError) as caught:
        render(values)
    assert f"at '{path}'" in str(caught.value)
    assert why in str(caught.value)
