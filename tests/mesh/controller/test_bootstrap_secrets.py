"""The controller keeps bootstrap Secrets (issue 11 item 3): each owned by its pod only, its
bootstrap certificate renewed in place before it expires, with `patch` alone (no reads), and
namespaces where `patch` is not granted reported and retried. Against the API emulator
through the real kubernetes client; the real API server's garbage collection and RBAC are in
tests/kube/test_bootstrap_secrets.py."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509

from osm_mesh.certs.bootstrap import bootstrap_authority, certificate_node_id, issue_bootstrap
from osm_mesh.certs.ca import CertificateAuthority
from osm_mesh.controller.bootstrap_secrets import BootstrapSecretKeeper, secret_certificate
from osm_mesh.injector.bootstrap import bootstrap_secret
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.kube.client import connect
from tests.mesh.controller.conftest import POD_UUID, seed_mesh

NODE = f"{POD_UUID}.sidecar.bookstore.bookstore.cluster.local"
SECRET = f"envoy-bootstrap-config-{POD_UUID}"


class Pods:
    """What the keeper reads from KubeSource: the raw pods (here straight from the emulator)."""

    def __init__(self, emu) -> None:
        self.emu = emu

    def raw(self, kind: str):
        assert kind == "Pod"
        return [self.emu.get("v1", "Pod", "bookstore-0", "bookstore")]


def setup(kube_emulator, kubeconfig, validity=dt.timedelta(hours=24)):
    seed_mesh(kube_emulator)
    ca = CertificateAuthority.create()
    first = issue_bootstrap(bootstrap_authority(ca), NODE, validity=validity)
    kube_emulator.create(
        bootstrap_secret(
            proxy_uuid=POD_UUID,
            namespace="bookstore",
            settings=InjectorSettings(),
            config={},
            cert=first,
        )
    )
    now = [dt.datetime.now(dt.UTC)]
    keeper = BootstrapSecretKeeper(
        connect(str(kubeconfig)),
        Pods(kube_emulator),
        ca,
        trust_domain="cluster.local",
        clock=lambda: now[0],
    )
    return ca, first, now, keeper


def current_cert(kube_emulator) -> x509.Certificate:
    secret = kube_emulator.get("v1", "Secret", SECRET, "bookstore")
    pem = secret_certificate(secret["data"])
    assert pem is not None
    assert certificate_node_id(pem) == NODE
    return x509.load_pem_x509_certificate(pem)


def test_the_certificate_is_renewed_in_the_secret_halfway_through_its_life(
    kube_emulator, kubeconfig
):
    ca, first, now, keeper = setup(kube_emulator, kubeconfig)
    kube_emulator.clear_requests()
    assert keeper.keep_all() == 1  # the pod becomes the owner; nothing due yet
    assert current_cert(kube_emulator).serial_number == first.serial
    now[0] += dt.timedelta(hours=11)
    assert keeper.keep_all() == 0
    now[0] += dt.timedelta(hours=2)  # past half of 24 h
    assert keeper.keep_all() == 1
    renewed = current_cert(kube_emulator)
    assert renewed.serial_number != first.serial
    renewed.verify_directly_issued_by(bootstrap_authority(ca).cert)
    assert renewed.not_valid_after_utc > first.not_after
    assert keeper.keep_all() == 0 and keeper.renewed == 1
    # Done with `patch` alone: the controller reads no Secret.
    secret_calls = [r for r in kube_emulator.requests if "/secrets" in r.path]
    assert {r.method for r in secret_calls} == {"PATCH"}, secret_calls
    # The next pass is due when the renewed certificate is half through, not before.
    assert 3600 >= keeper._next_pass_in() >= 3600 * 0.99


def test_a_namespace_without_patch_rights_is_reported_and_retried(kube_emulator, kubeconfig):
    _ca, first, now, keeper = setup(kube_emulator, kubeconfig)
    kube_emulator.forbid("patch", "secrets", "bookstore")
    now[0] += dt.timedelta(hours=13)
    assert keeper.keep_all() == 0
    assert set(keeper.forbidden) == {"bookstore"}
    assert current_cert(kube_emulator).serial_number == first.serial
    secret = kube_emulator.get("v1", "Secret", SECRET, "bookstore")
    assert not secret["metadata"].get("ownerReferences")
    # Once granted (osm namespace add), the next try adopts and renews.
    kube_emulator.allow_all()
    keeper.forbidden["bookstore"] = 0.0  # the retry time has come
    assert keeper.keep_all() == 2
    assert not keeper.forbidden
    assert current_cert(kube_emulator).serial_number != first.serial
    owners = kube_emulator.get("v1", "Secret", SECRET, "bookstore")["metadata"]["ownerReferences"]
    assert [o["kind"] for o in owners] == ["Pod"]


def test_a_secret_in_the_old_layout_is_adopted_and_left_as_it_is(kube_emulator, kubeconfig):
    seed_mesh(kube_emulator)
    kube_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": "bookstore"},
            "data": {"bootstrap.yaml": base64.b64encode(b"{}").decode()},
        }
    )
    keeper = BootstrapSecretKeeper(
        connect(str(kubeconfig)),
        Pods(kube_emulator),
        CertificateAuthority.create(),
        trust_domain="cluster.local",
    )
    assert keeper.keep_all() == 1 and keeper._next_pass_in() is None
    secret = kube_emulator.get("v1", "Secret", SECRET, "bookstore")
    assert [o["kind"] for o in secret["metadata"]["ownerReferences"]] == ["Pod"]
    assert set(secret["data"]) == {"bootstrap.yaml"}


def test_a_finished_pods_certificate_is_not_renewed(kube_emulator, kubeconfig):
    """A pod that finished (a Job's, kept until deleted) runs no proxy: its Secret is still
    made the pod's (deleted with it), but its certificate is left to expire, and the keeper
    does not wake up for it."""
    import copy

    class FinishedPods(Pods):
        def raw(self, kind: str):
            pods = copy.deepcopy(super().raw(kind))
            for pod in pods:
                pod.setdefault("status", {})["phase"] = "Succeeded"
            return pods

    _ca, first, now, keeper = setup(kube_emulator, kubeconfig)
    keeper.source = FinishedPods(kube_emulator)
    assert keeper.keep_all() == 1  # adopted: the garbage collector deletes it with the pod
    now[0] += dt.timedelta(hours=13)  # past half of 24 h
    assert keeper.keep_all() == 0
    assert current_cert(kube_emulator).serial_number == first.serial and keeper.renewed == 0
    assert keeper._next_pass_in() is None
