"""Objects our code writes, as built by the product's own functions, stored by both servers:
the controller's policy-problem Events and the bootstrap-Secrets RoleBinding (created, and
replaced when it points elsewhere)."""

from __future__ import annotations

import datetime as dt

from osm_mesh.controller.events import event_for
from osm_mesh.kube.bootstrap_rbac import bootstrap_secrets_binding
from osm_mesh.smi.model import ObjectRef, Problem
from tests.kube.parity.compare import assert_same, normalise
from tests.kube.parity.conftest import Pair, status_of

DROP = ("metadata.managedFields",)


def test_policy_problem_event(pair: Pair) -> None:
    ref = ObjectRef("TrafficTarget", pair.namespace, "bad", "access.smi-spec.io/v1alpha3")
    problem = Problem("error", ref, "spec.destination.namespace", "names another namespace")
    event = event_for(
        problem, instance="osm-controller-0", now=dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    )
    path = f"/api/v1/namespaces/{pair.namespace}/events"
    emu, real = pair.each(lambda s: s.post(path, event))
    assert real.code == 201, real.body
    assert_same(normalise(emu.body, drop=DROP), normalise(real.body, drop=DROP))


def test_bootstrap_rolebinding_create_and_replace(pair: Pair) -> None:
    body = bootstrap_secrets_binding("osm", pair.namespace, "osm-system")
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{pair.namespace}/rolebindings"
    name = body["metadata"]["name"]
    elsewhere = {**body, "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "y"}]}

    def send(side):
        made = side.post(path, elsewhere)
        assert made.code == 201, made.body
        # What grant() does when the subjects differ: a replace without resourceVersion.
        replaced = side.put(f"{path}/{name}", body)
        other_role = {**body, "roleRef": {**body["roleRef"], "name": "another"}}
        moved = side.put(f"{path}/{name}", other_role)
        return made, replaced, moved

    emu, real = pair.each(send)
    for e, r in zip(emu[:2], real[:2], strict=True):
        assert_same(normalise(e.body, drop=DROP), normalise(r.body, drop=DROP))
    assert real[2].code == 422  # roleRef is immutable
    assert_same(status_of(emu[2]), status_of(real[2]))
