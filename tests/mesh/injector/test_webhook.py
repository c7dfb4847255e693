"""The injector over real HTTPS against the API emulator: registration, AdmissionReviews,
bootstrap Secrets, dry runs, refusals."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import socket
import ssl
import time

import pytest
from cryptography import x509

from osm_mesh.certs.bootstrap import bootstrap_authority
from osm_mesh.certs.ca import CertificateAuthority, uri_sans
from osm_mesh.controller.ca import ensure_ca
from osm_mesh.errors import Timeout
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.service import InjectorService, InjectorServiceSettings
from osm_mesh.kube.client import connect
from tests.emulator.patch import json_patch

SERVICE_HOST = "osm-injector.osm-system.svc"


def seed(emu) -> None:
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "osm-system"}})
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "bookstore",
                "labels": {"openservicemesh.io/monitored-by": "osm"},
                "annotations": {"openservicemesh.io/sidecar-injection": "enabled"},
            },
        }
    )
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "bookstore", "namespace": "bookstore"},
        }
    )


def make_service(kube, **kw) -> InjectorService:
    settings = InjectorServiceSettings(
        injector=InjectorSettings(mesh_name="osm", osm_namespace="osm-system"),
        webhook_host="127.0.0.1",
        webhook_port=0,
        http_host="127.0.0.1",
        http_port=0,
        **kw,
    )
    return InjectorService(kube, settings)


@pytest.fixture
def injector(kube_emulator, kubeconfig):
    seed(kube_emulator)
    kube = connect(str(kubeconfig))
    ensure_ca(kube, "osm-system", mesh_name="osm")  # what the controller does at start
    service = make_service(kube).start()
    try:
        yield service
    finally:
        service.stop()


def review(namespace: str, pod: dict, *, dry_run: bool = False, uid: str = "req-1") -> dict:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": dry_run,
        },
    }


def a_pod(annotations: dict | None = None) -> dict:
    # As the API server sends it for a ReplicaSet's pod: generateName, no name, no uid yet.
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "bookstore-5d9c7-",
            "labels": {"app": "bookstore"},
            "annotations": annotations or {},
        },
        "spec": {
            "serviceAccountName": "bookstore",
            "containers": [{"name": "bookstore", "image": "openservicemesh/bookstore:v1.2.0"}],
        },
    }


def post(port: int, ca_pem: bytes, body: bytes) -> tuple[int, bytes]:
    """POST over TLS to 127.0.0.1, verifying the certificate as the API server would: by the
    Service's DNS name, against the caBundle it was given."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    # With our context: a default one would load the system's CA store (~20 ms) per call.
    conn = http.client.HTTPSConnection(SERVICE_HOST, port, timeout=10, context=context)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    # As http.client (and Go's net/http, the API server's client) would: no Nagle delay.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sock = context.wrap_socket(raw, server_hostname=SERVICE_HOST)
    try:
        conn.request(
            "POST", "/mutate-pod-creation", body=body, headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def registered_ca(emu) -> bytes:
    config = emu.get(
        "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "osm-webhook-osm"
    )
    assert config is not None
    return base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"])


def test_registers_the_webhook_configuration(injector, kube_emulator):
    config = kube_emulator.get(
        "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "osm-webhook-osm"
    )
    (hook,) = config["webhooks"]
    assert hook["clientConfig"]["service"] == {
        "name": "osm-injector",
        "namespace": "osm-system",
        "path": "/mutate-pod-creation",
        "port": 9090,
    }
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "NoneOnDryRun"
    assert hook["timeoutSeconds"] == 20
    assert hook["rules"][0]["operations"] == ["CREATE"]
    assert hook["rules"][0]["resources"] == ["pods"]
    selector = hook["namespaceSelector"]
    assert selector["matchLabels"] == {"openservicemesh.io/monitored-by": "osm"}
    expressions = {e["key"]: e for e in selector["matchExpressions"]}
    assert expressions["openservicemesh.io/ignore"]["operator"] == "DoesNotExist"
    assert expressions["control-plane"]["operator"] == "DoesNotExist"
    assert expressions["kubernetes.io/metadata.name"]["values"] == ["osm-system"]
    assert config["metadata"]["labels"]["app"] == "osm-injector"
    secret = kube_emulator.get("v1", "Secret", "osm-ca-bundle", "osm-system")
    assert registered_ca(kube_emulator) == base64.b64decode(secret["data"]["ca.crt"])


def test_injects_a_pod_and_creates_its_bootstrap_secret(injector, kube_emulator):
    ca_pem = registered_ca(kube_emulator)
    ca_secret = kube_emulator.get("v1", "Secret", "osm-ca-bundle", "osm-system")
    ca_key_pem = base64.b64decode(ca_secret["data"]["private.key"])
    status, body = post(
        injector.webhook_port, ca_pem, json.dumps(review("bookstore", a_pod())).encode()
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == "req-1"
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    patched = json_patch(a_pod(), json.loads(base64.b64decode(response["patch"])))
    proxy_uuid = patched["metadata"]["labels"]["osm-proxy-uuid"]
    assert [c["name"] for c in patched["spec"]["containers"]] == ["bookstore", "envoy"]

    secret = kube_emulator.get("v1", "Secret", f"envoy-bootstrap-config-{proxy_uuid}", "bookstore")
    assert secret is not None
    assert secret["metadata"]["labels"]["osm-proxy-uuid"] == proxy_uuid
    bootstrap = json.loads(base64.b64decode(secret["data"]["bootstrap.yaml"]))
    assert bootstrap["node"]["id"] == f"{proxy_uuid}.sidecar.bookstore.bookstore.cluster.local"
    assert bootstrap["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 15000,
    }
    (ads,) = [c for c in bootstrap["static_resources"]["clusters"] if c["name"] == "osm-controller"]
    assert ads["type"] == "LOGICAL_DNS"
    endpoint = ads["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {
        "address": "osm-controller.osm-system.svc",
        "port_value": 15128,
    }
    tls = ads["transport_socket"]["typed_config"]["common_tls_context"]
    # The client certificate is read from a file next to the bootstrap (file-based SDS,
    # re-read when the mounted Secret changes: the controller renews it there).
    (sds,) = tls["tls_certificate_sds_secret_configs"]
    assert sds["sds_config"]["path_config_source"] == {
        "path": "/etc/envoy/ads-client-cert.json",
        "watched_directory": {"path": "/etc/envoy"},
    }
    (resource,) = json.loads(base64.b64decode(secret["data"]["ads-client-cert.json"]))["resources"]
    assert resource["name"] == sds["name"]
    client_pem = resource["tls_certificate"]["certificate_chain"]["inline_string"].encode()
    # A bootstrap certificate (issue 11 item 3): it names this one proxy, no SPIFFE id; it is
    # signed by the bootstrap CA, not by the mesh CA the sidecars trust; a day, not a year;
    # client authentication only.
    assert uri_sans(client_pem) == [f"urn:osm:proxy:{bootstrap['node']['id']}"]
    client_cert = x509.load_pem_x509_certificate(client_pem)
    mesh_ca = CertificateAuthority.from_pem(ca_pem, ca_key_pem)
    client_cert.verify_directly_issued_by(bootstrap_authority(mesh_ca).cert)
    with pytest.raises(Exception):  # noqa: B017 - any failure: it is not the mesh CA's
        client_cert.verify_directly_issued_by(mesh_ca.cert)
    assert client_cert.not_valid_after_utc - client_cert.not_valid_before_utc <= dt.timedelta(
        hours=24, minutes=1
    )
    usage = client_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    # The controller is verified against the mesh CA.
    trusted = tls["validation_context"]["trusted_ca"]["inline_string"].encode()
    assert trusted == ca_pem
    (metrics,) = bootstrap["static_resources"]["listeners"]
    assert metrics["address"]["socket_address"]["port_value"] == 15010

    # The injector's own :9091 (readiness probe, Prometheus scrape).
    from tests.mesh.controller.conftest import http_get

    assert http_get(injector.http.port, "/health/ready")[0] == 200
    _, _, scrape = http_get(injector.http.port, "/metrics")
    assert "osm_injector_injection_total 1.0" in scrape
    assert "osm_injector_reviews_total 1.0" in scrape


def test_a_dry_run_has_no_side_effects(injector, kube_emulator):
    before = len(kube_emulator.list("v1", "Secret", "bookstore"))
    body = json.dumps(review("bookstore", a_pod(), dry_run=True)).encode()
    status, answer = post(injector.webhook_port, registered_ca(kube_emulator), body)
    response = json.loads(answer)["response"]
    assert status == 200 and response["allowed"] and response["patchType"] == "JSONPatch"
    assert len(kube_emulator.list("v1", "Secret", "bookstore")) == before


def test_pods_outside_the_mesh_pass_unchanged(injector, kube_emulator):
    body = json.dumps(review("plain", a_pod({"openservicemesh.io/sidecar-injection": "enabled"})))
    status, answer = post(injector.webhook_port, registered_ca(kube_emulator), body.encode())
    assert status == 200
    assert json.loads(answer)["response"] == {"uid": "req-1", "allowed": True}
    assert kube_emulator.list("v1", "Secret", "plain") == []


def test_an_unusable_annotation_refuses_the_pod_with_a_reason(injector, kube_emulator):
    pod = a_pod({"openservicemesh.io/sidecar-injection": "sometimes"})
    body = json.dumps(review("bookstore", pod)).encode()
    status, answer = post(injector.webhook_port, registered_ca(kube_emulator), body)
    response = json.loads(answer)["response"]
    assert status == 200
    assert response["allowed"] is False
    assert "sidecar-injection='sometimes' is not valid" in response["status"]["message"]
    assert injector.injector.counters.refused == 1


def test_garbage_is_a_400_and_an_untrusted_ca_fails_the_handshake(injector, kube_emulator):
    status, body = post(injector.webhook_port, registered_ca(kube_emulator), b"{not json")
    assert status == 400 and b"not JSON" in body
    other = CertificateAuthority.create()
    with pytest.raises(ssl.SSLCertVerificationError):
        post(injector.webhook_port, other.cert_pem, b"{}")


def test_a_restart_updates_the_registration_in_place(injector, kube_emulator, kubeconfig):
    second = make_service(connect(str(kubeconfig))).start()
    try:
        configs = kube_emulator.list(
            "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"
        )
        assert [c["metadata"]["name"] for c in configs] == ["osm-webhook-osm"]
        methods = [
            r.method for r in kube_emulator.writes() if "mutatingwebhookconfigurations" in r.path
        ]
        assert methods == ["POST", "PUT"]
    finally:
        second.stop()


def test_without_a_ca_the_injector_gives_up_with_a_hint(kube_emulator, kubeconfig):
    seed(kube_emulator)
    service = make_service(connect(str(kubeconfig)), ca_wait_seconds=0.3)
    with pytest.raises(Timeout, match="osm-ca-bundle") as info:
        service.start()
    service.stop()
    assert "osm-controller" in (info.value.hint or "")


def test_uses_the_mesh_config_and_survives_it_becoming_unreadable(injector, kube_emulator):
    kube_emulator.create(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"sidecar": {"envoyImage": "registry.local/envoy:v1.40.1", "logLevel": "warn"}},
        }
    )
    assert injector.injector is not None
    injector.injector._config = None  # forget what was read at start

    def envoy_image() -> str:
        status, body = post(
            injector.webhook_port,
            registered_ca(kube_emulator),
            json.dumps(review("bookstore", a_pod(), dry_run=True)).encode(),
        )
        response = json.loads(body)["response"]
        assert status == 200 and response["allowed"], response
        patched = json_patch(a_pod(), json.loads(base64.b64decode(response["patch"])))
        return patched["spec"]["containers"][1]["image"]

    assert envoy_image() == "registry.local/envoy:v1.40.1"
    # The API server stops answering for MeshConfigs: pods keep being injected as before.
    kube_emulator.forbid("get", "meshconfigs")
    when, config = injector.injector._config
    injector.injector._config = (when - 60, config)  # the cache entry has expired
    assert envoy_image() == "registry.local/envoy:v1.40.1"


def test_the_serving_certificate_is_renewed_before_it_expires(kube_emulator, kubeconfig):
    import datetime as dt

    seed(kube_emulator)
    kube = connect(str(kubeconfig))
    ca, _ = ensure_ca(kube, "osm-system")
    # Renewal at 30 % of a 10 s life: 7 s of slack before the first one expires, so a loaded
    # machine delays the renewal without failing the handshakes that watch for it.
    service = make_service(kube, cert_validity=dt.timedelta(seconds=10), cert_renew_at=0.3)
    service.start()
    try:

        def served() -> x509.Certificate:
            context = ssl.create_default_context(cadata=ca.cert_pem.decode())
            raw = socket.create_connection(("127.0.0.1", service.webhook_port), timeout=5)
            with context.wrap_socket(raw, server_hostname=SERVICE_HOST) as conn:
                der = conn.getpeercert(binary_form=True)
            return x509.load_der_x509_certificate(der)

        first = served()
        deadline = time.monotonic() + 30
        renewed = first
        while renewed.serial_number == first.serial_number and time.monotonic() < deadline:
            time.sleep(0.1)
            renewed = served()
        # A new certificate, verified against the mesh CA by the handshake, that lives longer.
        assert renewed.serial_number != first.serial_number
        assert renewed.not_valid_after_utc > first.not_valid_after_utc
    finally:
        service.stop()


def test_bootstrap_secret_is_owned_by_the_pods_replicaset(injector, kube_emulator):
    """Without RBAC to patch Secrets the controller cannot make the pod their owner; the
    ReplicaSet (which has a UID at admission) is, so the Secret does not outlive it."""
    replicaset = kube_emulator.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "bookstore-5d9c7", "namespace": "bookstore"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "bookstore"}},
                "template": {
                    "metadata": {"labels": {"app": "bookstore"}},
                    "spec": {"containers": [{"name": "bookstore", "image": "bookstore"}]},
                },
            },
        }
    )
    pod = a_pod()
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "bookstore-5d9c7",
        "uid": replicaset["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod["metadata"]["ownerReferences"] = [owner]
    status, body = post(
        injector.webhook_port,
        registered_ca(kube_emulator),
        json.dumps(review("bookstore", pod)).encode(),
    )
    assert status == 200
    response = json.loads(body)["response"]
    patched = json_patch(pod, json.loads(base64.b64decode(response["patch"])))
    name = f"envoy-bootstrap-config-{patched['metadata']['labels']['osm-proxy-uuid']}"
    secret = kube_emulator.get("v1", "Secret", name, "bookstore")
    assert secret["metadata"]["ownerReferences"] == [
        {k: owner[k] for k in ("apiVersion", "kind", "name", "uid")}
    ]
    kube_emulator.delete("apps/v1", "ReplicaSet", "bookstore-5d9c7", "bookstore")
    assert kube_emulator.get("v1", "Secret", name, "bookstore") is None


def test_bare_pod_bootstrap_secret_has_no_owner(injector, kube_emulator):
    status, body = post(
        injector.webhook_port,
        registered_ca(kube_emulator),
        json.dumps(review("bookstore", a_pod())).encode(),
    )
    assert status == 200
    response = json.loads(body)["response"]
    patched = json_patch(a_pod(), json.loads(base64.b64decode(response["patch"])))
    name = f"envoy-bootstrap-config-{patched['metadata']['labels']['osm-proxy-uuid']}"
    assert "ownerReferences" not in kube_emulator.get("v1", "Secret", name, "bookstore")["metadata"]
