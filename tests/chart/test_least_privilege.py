"""Issue 11 item 12: the control plane gets only what it uses (rendered chart).

`tests/kube/test_least_privilege_rbac.py` proves on the real API server that these rules are
enough for both processes, and that what was taken away is really refused.
"""

from __future__ import annotations

import pytest

from tests.chart.helpers import find, render

pytestmark = pytest.mark.helm


def secret_rules(role: dict) -> list[dict]:
    return [r for r in role["rules"] if "secrets" in r["resources"]]


def test_the_injector_reads_only_the_ca_secret_by_name():
    objects = render({"osm": {"caBundleSecretName": "my-ca"}})
    role = find(objects, "Role", "osm-injector")
    assert secret_rules(role) == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["my-ca"], "verbs": ["get"]}
    ]
    cluster = find(objects, "ClusterRole", "osm-osm-injector")
    assert [r["verbs"] for r in secret_rules(cluster)] == [["create"]]
    assert all("list" not in r["verbs"] for r in secret_rules(cluster) + secret_rules(role))


def test_the_controller_has_no_unused_verbs():
    objects = render()
    role = find(objects, "Role", "osm-controller")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["osm-ca-bundle"],
            "verbs": ["get"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    every_rule = [r for o in objects if o["kind"] in ("Role", "ClusterRole") for r in o["rules"]]
    assert not [r for r in every_rule if "leases" in r["resources"]]
    assert not [r for r in every_rule if "meshconfigs/status" in r["resources"]]
    bootstrap = find(objects, "ClusterRole", "osm-osm-bootstrap-secrets")
    for rule in every_rule:
        if "secrets" in rule["resources"] and rule not in bootstrap["rules"]:
            assert not {"update", "patch", "delete", "list", "watch"} & set(rule["verbs"]), rule
    # The one exception, `patch` for keeping bootstrap Secrets (issue 11 item 3), is bound by
    # nothing in the chart: `osm namespace add` binds it in each meshed namespace only.
    assert bootstrap["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"]}]
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert not [b for b in bindings if b["roleRef"]["name"] == "osm-osm-bootstrap-secrets"]


def test_the_init_container_image_is_the_small_one():
    args = find(render(), "Deployment", "osm-injector")["spec"]["template"]["spec"]["containers"][
        0
    ]["args"]
    assert "--init-image=ghcr.io/osm-python/osm-init:0.1.0" in args
    custom = render({"osm": {"initContainerImage": "registry.local/init:1"}})
    args = find(custom, "Deployment", "osm-injector")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert "--init-image=registry.local/init:1" in args
