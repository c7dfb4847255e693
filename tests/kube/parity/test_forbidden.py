"""403 as RBAC words it: ``osm_mesh/kube/errors.py`` shows the message and the controller
records what it was denied, so the emulator's ``forbid`` must answer as kube-apiserver does
for a ServiceAccount without the permission (the user name differs by construction)."""

from __future__ import annotations

import pytest

from tests.kube.parity.compare import assert_same
from tests.kube.parity.conftest import Pair, status_of
from tests.kube.parity.side import token_side

USER_EMULATOR = "emulator"


@pytest.fixture
def denied(pair: Pair, real_cluster):
    """The real side as a ServiceAccount with no permissions; the emulator forbids all."""
    sa = "nobody"
    made = pair.real.post(
        f"/api/v1/namespaces/{pair.namespace}/serviceaccounts", {"metadata": {"name": sa}}
    )
    assert made.code == 201
    token = real_cluster.kubectl(
        "create", "token", sa, "-n", pair.namespace, "--duration=1h"
    ).stdout.strip()
    real = token_side("real-sa", real_cluster.server, str(real_cluster.ca), token)
    pair.emulator.forbid("*", "*")  # type: ignore[attr-defined]
    user = f"system:serviceaccount:{pair.namespace}:{sa}"
    return pair.emu, real, user


CASES = {
    "get a pod": ("GET", "/api/v1/namespaces/{ns}/pods/p"),
    "list pods": ("GET", "/api/v1/namespaces/{ns}/pods"),
    "list namespaces": ("GET", "/api/v1/namespaces"),
    "create a configmap": ("POST", "/api/v1/namespaces/{ns}/configmaps"),
    "patch a namespace": ("PATCH", "/api/v1/namespaces/{ns}"),
    "pod logs": ("GET", "/api/v1/namespaces/{ns}/pods/p/log"),
    "list traffictargets": (
        "GET",
        "/apis/access.smi-spec.io/v1alpha3/namespaces/{ns}/traffictargets",
    ),
    "delete a webhook configuration": (
        "DELETE",
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/osm-webhook-osm",
    ),
    "watch secrets everywhere": ("GET", "/api/v1/secrets?watch=true"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forbidden_answers_alike(crd_pair: Pair, denied, case: str) -> None:
    emu_side, real_side, user = denied
    method, template = CASES[case]
    path = template.format(ns=crd_pair.namespace)
    query = None
    if "?" in path:
        path, _, q = path.partition("?")
        query = dict(part.split("=") for part in q.split("&"))
    body = {"metadata": {"name": "x"}} if method in ("POST", "PATCH") else None
    ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"

    def send(side):
        return side.request(method, path, body, ctype=ctype, query=query)

    emu, real = send(emu_side), send(real_side)
    assert real.code == 403, real.body
    emu_status = status_of(emu)
    emu_status["message"] = emu_status["message"].replace(f'"{USER_EMULATOR}"', f'"{user}"')
    assert_same(emu_status, status_of(real), case)
