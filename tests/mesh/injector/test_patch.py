"""The pure injection step: which pods get a sidecar, and what the JSON Patch does to them."""

from __future__ import annotations

import copy

import pytest

from osm_mesh.injector.patch import (
    InjectorSettings,
    decide,
    injection_patch,
    is_injected,
)
from osm_mesh.smi.model import MeshConfig
from tests.emulator.patch import json_patch

UUID = "0b9f5c3e-1111-4a2b-9c3d-123456789abc"
SETTINGS = InjectorSettings(mesh_name="osm", osm_namespace="osm-system", init_image="init:1")


def namespace(name="bookstore", labels=None, annotations=None):
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"openservicemesh.io/monitored-by": "osm"} if labels is None else labels,
            "annotations": annotations or {},
        },
    }


def pod(annotations=None, labels=None, **spec):
    meta = {"name": "bookstore-1", "namespace": "bookstore"}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    body = {
        "serviceAccountName": "bookstore",
        "containers": [
            {"name": "app", "image": "bookstore:v1", "ports": [{"containerPort": 14001}]}
        ],
    }
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


ENABLED_NS = {"openservicemesh.io/sidecar-injection": "enabled"}


@pytest.mark.parametrize(
    ("the_pod", "the_ns", "inject", "reason"),
    [
        (pod(), namespace(annotations=ENABLED_NS), True, "namespace annotation"),
        (pod({"openservicemesh.io/sidecar-injection": "yes"}), namespace(), True, "pod annotation"),
        (pod({"openservicemesh.io/sidecar-injection": "TRUE"}), namespace(), True, "pod"),
        # The pod's own annotation wins over its namespace's.
        (
            pod({"openservicemesh.io/sidecar-injection": "disabled"}),
            namespace(annotations=ENABLED_NS),
            False,
            "disabled by the pod",
        ),
        (pod(), namespace(), False, "not enabled"),
        (
            pod(),
            namespace(labels={"openservicemesh.io/monitored-by": "other"}, annotations=ENABLED_NS),
            False,
            "not monitored by mesh osm",
        ),
        (pod(), namespace(labels={}, annotations=ENABLED_NS), False, "not monitored"),
        (
            pod(),
            namespace(
                labels={
                    "openservicemesh.io/monitored-by": "osm",
                    "openservicemesh.io/ignore": "true",
                },
                annotations=ENABLED_NS,
            ),
            False,
            "ignored",
        ),
        (
            pod(),
            namespace(name="osm-system", annotations=ENABLED_NS),
            False,
            "control plane",
        ),
        (pod(hostNetwork=True), namespace(annotations=ENABLED_NS), False, "host network"),
        (
            pod(labels={"osm-proxy-uuid": UUID}),
            namespace(annotations=ENABLED_NS),
            False,
            "already has a sidecar",
        ),
    ],
)
def test_decide(the_pod, the_ns, inject, reason):
    decision = decide(the_pod, the_ns, SETTINGS)
    assert decision.inject is inject
    assert reason in decision.reason
    assert decision.error is None


def test_an_unusable_annotation_is_an_error_naming_it():
    decision = decide(pod({"openservicemesh.io/sidecar-injection": "maybe"}), namespace(), SETTINGS)
    assert not decision.inject
    assert decision.error is not None
    assert "openservicemesh.io/sidecar-injection='maybe'" in decision.error
    assert "enabled or disabled" in decision.error


def test_patch_adds_sidecar_init_volume_and_label_to_a_bare_pod():
    original = pod()
    patched = json_patch(original, injection_patch(original, namespace(), SETTINGS, UUID))

    assert patched["metadata"]["labels"] == {"osm-proxy-uuid": UUID}
    assert "annotations" not in patched["metadata"]  # metrics not enabled on the namespace
    app, envoy = patched["spec"]["containers"]
    assert app == original["spec"]["containers"][0]
    assert envoy["name"] == "envoy"
    assert envoy["image"] == "envoyproxy/envoy-distroless:v1.40.0"
    assert {p["name"]: p["containerPort"] for p in envoy["ports"]} == {
        "proxy-admin": 15000,
        "proxy-outbound": 15001,
        "proxy-inbound": 15003,
        "proxy-metrics": 15010,
    }
    assert envoy["securityContext"]["runAsUser"] == 1500
    # Least privilege (issue 11 item 12): the runtime's syscall filter on the sidecar.
    assert envoy["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert envoy["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert envoy["args"][envoy["args"].index("--service-cluster") + 1] == "bookstore.bookstore"
    # One worker, no hot restart (a container is restarted, never hot-restarted).
    assert envoy["args"][envoy["args"].index("--concurrency") + 1] == "1"
    assert "--disable-hot-restart" in envoy["args"]
    assert envoy["volumeMounts"] == [
        {"name": "envoy-bootstrap-config-volume", "mountPath": "/etc/envoy", "readOnly": True}
    ]
    assert envoy["args"][envoy["args"].index("--config-path") + 1] == "/etc/envoy/bootstrap.yaml"
    assert patched["spec"]["volumes"] == [
        {
            "name": "envoy-bootstrap-config-volume",
            "secret": {"secretName": f"envoy-bootstrap-config-{UUID}"},
        }
    ]
    (init,) = patched["spec"]["initContainers"]
    assert init["image"] == "init:1"
    assert set(init["securityContext"]["capabilities"]["add"]) == {"NET_ADMIN", "NET_RAW"}
    script = init["args"][0]
    assert "-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001" in script
    assert "-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003" in script
    assert "-m owner --uid-owner 1500 -j RETURN" in script
    assert "--dport 15010 -j RETURN" in script
    assert original == pod()  # the input is not modified


def test_patch_appends_to_existing_lists_and_maps_and_escapes_keys():
    original = pod(
        annotations={"team": "books"},
        labels={"app": "bookstore", "app.kubernetes.io/name": "bookstore"},
        initContainers=[{"name": "migrate", "image": "migrate:1"}],
        volumes=[{"name": "data", "emptyDir": {}}],
    )
    ns = namespace(annotations={**ENABLED_NS, "openservicemesh.io/metrics": "enabled"})
    patched = json_patch(original, injection_patch(original, ns, SETTINGS, UUID))

    assert patched["metadata"]["labels"] == {
        "app": "bookstore",
        "app.kubernetes.io/name": "bookstore",
        "osm-proxy-uuid": UUID,
    }
    assert patched["metadata"]["annotations"] == {
        "team": "books",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "15010",
        "prometheus.io/path": "/stats/prometheus",
    }
    # The pod's own init containers run first, before traffic is redirected.
    assert [c["name"] for c in patched["spec"]["initContainers"]] == ["migrate", "osm-init"]
    assert [v["name"] for v in patched["spec"]["volumes"]] == [
        "data",
        "envoy-bootstrap-config-volume",
    ]
    assert is_injected(patched)
    assert decide(patched, ns, SETTINGS).reason == "the pod already has a sidecar"


def test_mesh_config_and_pod_annotations_set_image_log_level_and_exclusions():
    config = MeshConfig(
        envoy_image="registry.local/envoy:v1.40.1",
        sidecar_log_level="debug",
        outbound_port_exclusion_list=(6379,),
        inbound_port_exclusion_list=(9999,),
        outbound_ip_range_exclusion_list=("10.96.0.1/32",),
    )
    settings = SETTINGS.with_mesh_config(config)
    the_pod = pod(
        {
            "openservicemesh.io/outbound-port-exclusion-list": "5432, 6379",
            "openservicemesh.io/outbound-ip-range-exclusion-list": "169.254.169.254",
        }
    )
    patched = json_patch(the_pod, injection_patch(the_pod, namespace(), settings, UUID))
    envoy = patched["spec"]["containers"][1]
    assert envoy["image"] == "registry.local/envoy:v1.40.1"
    assert envoy["args"][envoy["args"].index("--log-level") + 1] == "debug"
    script = patched["spec"]["initContainers"][0]["args"][0]
    assert "-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports 5432,6379 -j RETURN" in script
    assert "-A OSM_PROXY_INBOUND -p tcp -m multiport --dports 9999 -j RETURN" in script
    assert "-A OSM_PROXY_OUTBOUND -d 10.96.0.1/32 -j RETURN" in script
    assert "-A OSM_PROXY_OUTBOUND -d 169.254.169.254/32 -j RETURN" in script


def test_a_bad_exclusion_annotation_cannot_reach_the_shell():
    the_pod = pod({"openservicemesh.io/outbound-port-exclusion-list": "80; rm -rf /"})
    with pytest.raises(ValueError, match=r"outbound-port-exclusion-list.*not a port number"):
        injection_patch(the_pod, namespace(), SETTINGS, UUID)


def test_the_patched_pod_is_a_valid_kubernetes_pod():
    import kubernetes_validate

    original = pod()
    ns = namespace(annotations={**ENABLED_NS, "openservicemesh.io/metrics": "enabled"})
    patched = json_patch(copy.deepcopy(original), injection_patch(original, ns, SETTINGS, UUID))
    version = kubernetes_validate.utils.latest_version()
    kubernetes_validate.validate(patched, version, strict=True)


def test_http_probes_move_to_envoy_probe_listeners():
    from osm_mesh.injector.bootstrap import pod_bootstrap
    from osm_mesh.injector.probes import probe_plan

    the_pod = pod()
    app = the_pod["spec"]["containers"][0]
    app["ports"] = [{"name": "http", "containerPort": 8080}, {"containerPort": 8443}]
    app["readinessProbe"] = {"httpGet": {"port": "http", "path": "/ready?verbose=1"}}
    app["livenessProbe"] = {"httpGet": {"port": 8443, "path": "/live", "scheme": "HTTPS"}}
    app["startupProbe"] = {"tcpSocket": {"port": 8080}}
    the_pod["spec"]["containers"].append(
        {
            "name": "sidecar",
            "image": "other:1",
            "readinessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80, "path": "/"}},
        }
    )
    patched = json_patch(the_pod, injection_patch(the_pod, namespace(), SETTINGS, UUID))
    app = patched["spec"]["containers"][0]
    # Listeners are numbered in liveness, readiness, startup order.
    assert app["livenessProbe"]["httpGet"] == {"port": 15901, "path": "/live", "scheme": "HTTP"}
    assert app["readinessProbe"]["httpGet"] == {
        "port": 15902,
        "path": "/ready?verbose=1",
        "scheme": "HTTP",
    }
    assert app["startupProbe"] == {"tcpSocket": {"port": 8080}}  # answered by Envoy itself
    # A probe aimed at another host never enters the pod.
    assert patched["spec"]["containers"][1]["readinessProbe"]["httpGet"]["port"] == 80
    script = patched["spec"]["initContainers"][0]["args"][0]
    assert "-A OSM_PROXY_INBOUND -p tcp -m multiport --dports 15901,15902 -j RETURN" in script

    from osm_mesh.certs.ca import CertificateAuthority

    ca = CertificateAuthority.create()
    config = pod_bootstrap(
        proxy_uuid=UUID,
        namespace="bookstore",
        service_account="bookstore",
        settings=SETTINGS,
        ca_pem=ca.cert_pem,
        probes=probe_plan(the_pod),
    )
    listeners = {listener["name"]: listener for listener in config["static_resources"]["listeners"]}
    assert set(listeners) == {"prometheus-listener", "probe-15901", "probe-15902"}
    hcm = listeners["probe-15902"]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    # Only GET/HEAD of the probe's path, without a body, are forwarded: the listener is not a
    # way around mTLS (tests/e2e_envoy/test_probe_listener.py attacks it on a real Envoy).
    assert [(r["match"]["path"], r["route"]["cluster"]) for r in routes] == [
        ("/ready", "probe-8080"),
        ("/ready", "probe-8080"),
    ]
    methods = [r["match"]["headers"][0]["string_match"]["exact"] for r in routes]
    assert methods == ["GET", "HEAD"]
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert "transport_socket" not in clusters["probe-8080"]
    assert clusters["probe-8443-tls"]["transport_socket"]["name"] == "envoy.transport_sockets.tls"


def test_the_default_init_image_is_the_small_init_image():
    import osm_mesh
    from osm_mesh.injector.patch import InjectorSettings as Settings

    assert Settings().init_image == f"ghcr.io/osm-python/osm-init:{osm_mesh.__version__}"
