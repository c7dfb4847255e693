"""Issue 11 item 7, by attacking: the webhook cannot be used to mint identities.

Before: anyone who could reach :9090 posted 201 AdmissionReviews of made-up pods and got 201
bootstrap Secrets in a meshed namespace, each holding a 365-day key for a ServiceAccount
name the caller chose. Now a review is honoured only for a ServiceAccount that exists, and
one client address gets ``burst`` reviews, then 429 (the API server's own calls fit the
rate; kube-controller-manager sends ~20 pods/s at most by default). Who may connect at all
is the chart's NetworkPolicy (tests/chart/test_network_policy.py).
"""

from __future__ import annotations

import json

import pytest

from osm_mesh.controller.ca import ensure_ca
from osm_mesh.injector.service import webhook_limits
from osm_mesh.injector.webhook import MAX_JSON_TOKENS
from osm_mesh.kube.client import connect
from tests.mesh.injector.test_webhook import a_pod, make_service, post, registered_ca, review, seed


def bootstrap_secrets(emu) -> list[dict]:
    return [
        s
        for s in emu.list("v1", "Secret", "bookstore")
        if s["metadata"]["name"].startswith("envoy-bootstrap-config-")
    ]


def pod_as(service_account: str) -> dict:
    pod = a_pod()
    pod["spec"]["serviceAccountName"] = service_account
    return pod


@pytest.fixture
def webhook(kube_emulator, kubeconfig):
    """The injector as deployed: default limits (20/s per address, bursts of 40)."""
    seed(kube_emulator)
    kube = connect(str(kubeconfig))
    ensure_ca(kube, "osm-system", mesh_name="osm")
    service = make_service(kube).start()
    try:
        yield service
    finally:
        service.stop()


def test_no_key_for_a_service_account_that_does_not_exist(webhook, kube_emulator):
    ca = registered_ca(kube_emulator)
    answers = []
    for i in range(20):
        body = json.dumps(review("bookstore", pod_as(f"made-up-{i}"), uid=f"u{i}")).encode()
        status, answer = post(webhook.webhook_port, ca, body)
        assert status == 200
        answers.append(json.loads(answer)["response"])
    assert all(a["allowed"] is False for a in answers)
    assert "ServiceAccount 'made-up-0' does not exist" in answers[0]["status"]["message"]
    assert bootstrap_secrets(kube_emulator) == []


def test_one_address_cannot_mint_keys_in_bulk(webhook, kube_emulator):
    """The reviewed attack: 201 POSTs for an existing ServiceAccount from one address."""
    ca = registered_ca(kube_emulator)
    limits = webhook_limits()
    assert limits.rate is not None
    statuses = []
    for i in range(201):
        body = json.dumps(review("bookstore", a_pod(), uid=f"u{i}")).encode()
        statuses.append(post(webhook.webhook_port, ca, body)[0])
    served = statuses.count(200)
    assert statuses.count(429) == 201 - served and served < 201
    # At most the burst, plus what the rate refilled while the attack ran (a few seconds).
    assert served <= limits.rate.burst + limits.rate.per_second * 10
    assert len(bootstrap_secrets(kube_emulator)) == served


def test_a_review_with_too_many_json_values_is_refused_unparsed(webhook, kube_emulator):
    pod = a_pod({"x": ",".join(["a"] * 10)})
    pod["spec"]["containers"][0]["args"] = ["a"] * (MAX_JSON_TOKENS + 1)
    body = json.dumps(review("bookstore", pod, dry_run=True)).encode()
    status, answer = post(webhook.webhook_port, registered_ca(kube_emulator), body)
    assert status == 413 and b"JSON values" in answer
