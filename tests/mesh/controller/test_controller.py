"""The controller's components in-process against the API emulator."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request

import pytest

import osm_mesh
from osm_mesh.catalog.model import Identity
from osm_mesh.controller.app import Controller
from osm_mesh.errors import Timeout
from osm_mesh.kube.client import connect
from osm_mesh.kube.meshes import parse_smi_versions
from tests.cli import kube_seed
from tests.mesh.controller.conftest import POD_UUID, http_get, seed_mesh, settings, smi_object


def test_creates_the_ca_secret_once_and_reuses_it(controller, kube_emulator, kubeconfig):
    assert controller.ca_origin == "created"
    secret = kube_emulator.get("v1", "Secret", "osm-ca-bundle", "osm-system")
    assert set(secret["data"]) == {"ca.crt", "private.key"}
    assert secret["metadata"]["labels"]["app"] == "osm-controller"
    assert controller.control_plane is not None
    first_ca = controller.control_plane.ca.cert_pem

    again = Controller(connect(str(kubeconfig)), settings()).start()
    try:
        assert again.ca_origin == "loaded"
        assert again.control_plane is not None
        assert again.control_plane.ca.cert_pem == first_ca
    finally:
        again.stop()
    creates = [r for r in kube_emulator.writes() if r.path.endswith("/secrets")]
    assert len(creates) == 1


def test_http_endpoints(controller):
    port = controller.http.port
    status, ctype, body = http_get(port, "/version")
    assert status == 200 and ctype == "application/json"
    assert json.loads(body) == {
        "version": osm_mesh.__version__,
        "git_commit": osm_mesh.GIT_COMMIT,
        "build_date": osm_mesh.BUILD_DATE,
        "ca_not_after": controller.ca.not_after.isoformat(),
    }
    status, _, body = http_get(port, "/smi/version")
    assert status == 200
    # The shape `osm mesh list` parses.
    assert parse_smi_versions(json.loads(body)) == {
        "HTTPRouteGroup": "v1alpha4",
        "TCPRoute": "v1alpha4",
        "UDPRoute": "v1alpha4",
        "TrafficSplit": "v1alpha4",
        "TrafficTarget": "v1alpha3",
    }
    assert http_get(port, "/health/ready")[:1] == (200,)
    assert http_get(port, "/health/alive")[:1] == (200,)
    assert http_get(port, "/nope")[0] == 404
    status, ctype, metrics = http_get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    values = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }
    # Names the chart's control-plane dashboard reads (docs/container-contract.md).
    assert values["osm_proxy_connect_count"] == 0
    assert values["osm_proxy_xds_nack_total"] == 0
    assert "osm_proxy_config_update_time_seconds_count" in values
    assert values["osm_catalog_version"] >= 1
    assert "osm_translation_seconds_count" in values
    assert "osm_kube_watch_errors_total" in values

    controller.stop()  # a stopping controller leaves the Service's endpoints at once
    assert controller.readiness() == (False, "shutting down")


def test_catalog_holds_the_monitored_namespace_only(controller):
    assert controller.source is not None
    catalog = controller.source.snapshot()
    assert catalog.monitored_namespaces == frozenset({"bookstore"})
    assert [str(s) for s in catalog.services] == ["bookstore/bookstore"]
    (pod,) = catalog.pods
    assert (pod.name, pod.ip, pod.proxy_uuid) == ("bookstore-0", "10.244.1.7", POD_UUID)
    # `default` is in every namespace (kube-controller-manager puts it there)
    assert catalog.service_accounts == (
        Identity("bookstore", "bookstore"),
        Identity("bookstore", "default"),
    )
    assert catalog.permissive is False  # from the MeshConfig in osm-system
    assert catalog.mesh_config.service_cert_validity_seconds == 3600
    assert [(e.ip, e.port) for e in catalog.endpoints(catalog.services[0], 14001)] == [
        ("10.244.1.7", 14001)
    ]


def test_policy_changes_reach_the_catalog(controller, kubeconfig):
    source = controller.source
    assert source is not None
    kube = connect(str(kubeconfig))
    target = smi_object(
        "access.smi-spec.io/v1alpha3",
        "TrafficTarget",
        "bookbuyer-to-bookstore",
        "bookstore",
        {
            "destination": {
                "kind": "ServiceAccount",
                "name": "bookstore",
                "namespace": "bookstore",
            },
            "sources": [{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": "bookbuyer"}],
            "rules": [{"kind": "HTTPRouteGroup", "name": "bookstore-routes", "matches": ["buy"]}],
        },
    )
    version = source.version
    started = time.monotonic()
    kube.custom.create_namespaced_custom_object(
        "access.smi-spec.io", "v1alpha3", "bookstore", "traffictargets", target
    )
    assert source.wait_for_change(version, timeout=10)
    deadline = time.monotonic() + 10
    while not source.snapshot().traffic_targets and time.monotonic() < deadline:
        source.wait_for_change(source.version, timeout=1)
    elapsed = time.monotonic() - started
    (tt,) = source.snapshot().traffic_targets
    assert (tt.name, tt.destination.name, tt.sources[0].name) == (
        "bookbuyer-to-bookstore",
        "bookstore",
        "bookbuyer",
    )
    assert elapsed < 5, f"a watch event took {elapsed:.2f}s to reach the catalog"

    version = source.version
    kube.custom.delete_namespaced_custom_object(
        "access.smi-spec.io", "v1alpha3", "bookstore", "traffictargets", "bookbuyer-to-bookstore"
    )
    assert source.wait_for_change(version, timeout=10)
    assert source.snapshot().traffic_targets == ()
    # A namespace joining the mesh brings its objects along.
    kube.core.patch_namespace(
        "plain", {"metadata": {"labels": {"openservicemesh.io/monitored-by": "osm"}}}
    )
    deadline = time.monotonic() + 10
    while "plain" not in source.snapshot().monitored_namespaces and time.monotonic() < deadline:
        source.wait_for_change(source.version, timeout=1)
    assert {str(s) for s in source.snapshot().services} == {
        "bookstore/bookstore",
        "plain/bookstore",
    }


def test_no_list_permission_fails_start_with_a_hint(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    kube_emulator.forbid("list", "pods")
    controller = Controller(connect(str(kubeconfig)), settings(sync_timeout=1.0))
    with pytest.raises(Timeout, match="could not list") as info:
        controller.start()
    controller.stop()
    assert "RBAC" in (info.value.hint or "")
    assert controller.source is not None and controller.source.errors >= 1


def test_osm_version_and_mesh_list_read_the_real_controller(
    osm, controller, kube_emulator, kubeconfig
):
    """The CLI reaches this controller's :9091 through the API server's pod proxy."""
    pod = kube_seed.mesh(kube_emulator, "osm", "osm-system", osm_mesh.__version__, serve=False)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def forward(method: str, path: str, headers: dict, body: bytes) -> tuple:
        url = f"http://127.0.0.1:{controller.http.port}/{path.lstrip('/')}"
        with opener.open(urllib.request.Request(url, method=method), timeout=5) as resp:
            return resp.status, {"Content-Type": resp.headers["Content-Type"]}, resp.read()

    kube_emulator.serve_pod_proxy("osm-system", pod, 9091, forward)
    result = osm(["version", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["meshes"] == [
        {
            "meshName": "osm",
            "meshNamespace": "osm-system",
            "version": osm_mesh.__version__,
            "gitCommit": osm_mesh.GIT_COMMIT,
            "buildDate": osm_mesh.BUILD_DATE,
        }
    ]
    listed = osm(["mesh", "list", "-o", "json"], kubeconfig=kubeconfig)
    assert listed.exit_code == 0, listed.stderr
    (mesh,) = json.loads(listed.stdout)
    assert mesh["smiSupported"] == {
        "HTTPRouteGroup": "v1alpha4",
        "TCPRoute": "v1alpha4",
        "TrafficSplit": "v1alpha4",
        "TrafficTarget": "v1alpha3",
        "UDPRoute": "v1alpha4",
    }


def _bootstrap_secret(name: str, owner_uid: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "bookstore",
            # What the injector sets at admission: the pod's ReplicaSet.
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "bookstore-rs",
                    "uid": owner_uid,
                }
            ],
        },
        "data": {"bootstrap.yaml": "e30="},
    }


def _seed_bootstrap_secret(kube_emulator) -> None:
    """The pod's bootstrap Secret as the injector leaves it, owned by an existing ReplicaSet:
    the garbage collector deletes a Secret whose owners are all gone (tests/kube/parity)."""
    replica_set = kube_emulator.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "bookstore-rs", "namespace": "bookstore"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "rs-only"}},
                "template": {
                    "metadata": {"labels": {"app": "rs-only"}},
                    "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]},
                },
            },
        }
    )
    kube_emulator.create(
        _bootstrap_secret(f"envoy-bootstrap-config-{POD_UUID}", replica_set["metadata"]["uid"])
    )


def test_bootstrap_secrets_are_owned_by_their_pods(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    _seed_bootstrap_secret(kube_emulator)
    running = Controller(connect(str(kubeconfig)), settings()).start()
    try:
        pod = kube_emulator.get("v1", "Pod", "bookstore-0", "bookstore")
        deadline = time.monotonic() + 10
        secret = None
        while time.monotonic() < deadline:
            secret = kube_emulator.get(
                "v1", "Secret", f"envoy-bootstrap-config-{POD_UUID}", "bookstore"
            )
            if [o["kind"] for o in secret["metadata"].get("ownerReferences", [])] == ["Pod"]:
                break
            time.sleep(0.05)
        assert secret["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": "bookstore-0",
                "uid": pod["metadata"]["uid"],
            }
        ]
        # Deleting the pod now takes its bootstrap Secret (and the client key in it) along.
        kube_emulator.delete("v1", "Pod", "bookstore-0", "bookstore")
        gone = kube_emulator.get("v1", "Secret", f"envoy-bootstrap-config-{POD_UUID}", "bookstore")
        assert gone is None
    finally:
        running.stop()


def test_without_patch_permission_secrets_are_left_alone(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    _seed_bootstrap_secret(kube_emulator)
    kube_emulator.forbid("patch", "secrets")
    running = Controller(connect(str(kubeconfig)), settings()).start()
    try:
        assert running.bootstrap_secrets is not None
        deadline = time.monotonic() + 10
        while not running.bootstrap_secrets.forbidden and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(running.bootstrap_secrets.forbidden) == {"bookstore"}
        assert running.readiness() == (True, "ok")  # a missing permission is not fatal
    finally:
        running.stop()


def test_policy_problems_become_events_on_the_object(controller, kube_emulator, kubeconfig):
    kube = connect(str(kubeconfig))
    bad = smi_object(
        "access.smi-spec.io/v1alpha3",
        "TrafficTarget",
        "bad",
        "bookstore",
        {
            "destination": {"kind": "ServiceAccount", "name": "bookstore", "namespace": "other"},
            "sources": [{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": "bookstore"}],
            "rules": [{"kind": "HTTPRouteGroup", "name": "routes"}],
        },
    )
    kube.custom.create_namespaced_custom_object(
        "access.smi-spec.io", "v1alpha3", "bookstore", "traffictargets", bad
    )
    deadline = time.monotonic() + 10
    events: list = []
    while not events and time.monotonic() < deadline:
        events = kube_emulator.list("v1", "Event", "bookstore")
        time.sleep(0.05)
    (event,) = events
    assert event["involvedObject"]["kind"] == "TrafficTarget"
    assert event["involvedObject"]["name"] == "bad"
    assert event["type"] == "Warning" and event["reason"] == "InvalidPolicy"
    assert "destination namespace 'other'" in event["message"]
    assert "create the TrafficTarget in namespace 'other'" in event["message"]
    # The same problem is not posted again on later catalog changes.
    kube.core.patch_namespace("plain", {"metadata": {"labels": {"touched": "yes"}}})
    time.sleep(0.3)
    assert len(kube_emulator.list("v1", "Event", "bookstore")) == 1


def test_a_mesh_config_change_reaches_certificate_issuing(controller, kubeconfig):
    cp = controller.control_plane
    assert cp is not None
    assert cp.certs.validity == dt.timedelta(hours=1)  # from the seeded MeshConfig
    connect(str(kubeconfig)).custom.patch_namespaced_custom_object(
        "config.openservicemesh.io",
        "v1alpha2",
        "osm-system",
        "meshconfigs",
        "osm-mesh-config",
        {"spec": {"certificate": {"serviceCertValidityDuration": "2h30m"}}},
    )
    deadline = time.monotonic() + 10
    while cp.certs.validity != dt.timedelta(hours=2, minutes=30) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cp.certs.validity == dt.timedelta(hours=2, minutes=30)


def _mesh_config_events(emu) -> list:
    return [
        e
        for e in emu.list("v1", "Event", "osm-system")
        if e["involvedObject"]["kind"] == "MeshConfig"
    ]


def test_a_meshconfig_with_a_typo_is_refused_with_events_and_the_last_good_one_kept(
    controller, kube_emulator, kubeconfig
):
    """Issue 12.1: `kubectl edit` leaving enablePermisiveTrafficPolicyMode (typo) used to put
    the mesh in the chart's default permissive mode. Now the controller keeps SMI mode and
    says why on the MeshConfig."""
    source = controller.source
    assert source is not None and source.snapshot().permissive is False
    kube = connect(str(kubeconfig))

    def patch(traffic: dict) -> None:
        kube.custom.patch_namespaced_custom_object(
            "config.openservicemesh.io",
            "v1alpha2",
            "osm-system",
            "meshconfigs",
            "osm-mesh-config",
            {"spec": {"traffic": traffic}},
        )

    before = source.version
    patch({"enablePermissiveTrafficPolicyMode": None, "enablePermisiveTrafficPolicyMode": True})
    deadline = time.monotonic() + 10
    while len(_mesh_config_events(kube_emulator)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert source.version > before  # the change was seen...
    assert source.snapshot().permissive is False  # ...and refused
    assert source.snapshot().mesh_config.service_cert_validity_seconds == 3600  # all kept
    events = {e["reason"]: e["message"] for e in _mesh_config_events(kube_emulator)}
    assert set(events) == {"InvalidMeshConfig"}
    messages = sorted(e["message"] for e in _mesh_config_events(kube_emulator))
    assert any(
        "spec.traffic.enablePermisiveTrafficPolicyMode: unknown field" in m
        and "did you mean enablePermissiveTrafficPolicyMode?" in m
        for m in messages
    )
    assert any("the last valid MeshConfig stays in force (SMI mode" in m for m in messages)
    # A corrected MeshConfig is accepted again: the guard does not freeze the mesh.
    patch({"enablePermisiveTrafficPolicyMode": None, "enablePermissiveTrafficPolicyMode": True})
    deadline = time.monotonic() + 10
    while source.snapshot().permissive is False and time.monotonic() < deadline:
        time.sleep(0.05)
    assert source.snapshot().permissive is True


def test_a_controller_started_on_a_bad_meshconfig_fails_closed(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    kube = connect(str(kubeconfig))
    kube.custom.patch_namespaced_custom_object(
        "config.openservicemesh.io",
        "v1alpha2",
        "osm-system",
        "meshconfigs",
        "osm-mesh-config",
        {"spec": {"traffic": {"enablePermissiveTrafficPolicyMode": None, "enablePermisive": True}}},
    )
    running = Controller(connect(str(kubeconfig)), settings()).start()
    try:
        assert running.source is not None and running.source.snapshot().permissive is False
        deadline = time.monotonic() + 10
        while len(_mesh_config_events(kube_emulator)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        messages = [e["message"] for e in _mesh_config_events(kube_emulator)]
        assert any("no valid MeshConfig was read yet" in m for m in messages)
    finally:
        running.stop()
