"""Namespace deletion: asynchronous on a real cluster (divergence 9 in
docs/real-kubernetes.md). The DELETE answers with the namespace, Terminating; until the
namespace controller is done, creates in it are refused and its name cannot be reused."""

from __future__ import annotations

from tests.kube.parity.compare import assert_same, normalise
from tests.kube.parity.conftest import Pair, status_of
from tests.realkube.cluster import unique


def _doomed(pair: Pair) -> str:
    name = unique("doomed")
    for side in pair.sides():
        assert side.post("/api/v1/namespaces", {"metadata": {"name": name}}).code == 201
        made = side.post(f"/api/v1/namespaces/{name}/configmaps", {"metadata": {"name": "c"}})
        assert made.code == 201
    return name


def test_delete_answers_the_terminating_namespace(pair: Pair) -> None:
    name = _doomed(pair)
    emu, real = pair.each(lambda s: s.delete(f"/api/v1/namespaces/{name}"))
    assert real.code == 200 and real.body["status"]["phase"] == "Terminating"
    drop = ("metadata.managedFields", "status.conditions")
    assert_same(normalise(emu.body, drop=drop), normalise(real.body, drop=drop))


def test_terminating_namespace_refuses_new_content_and_its_name(pair: Pair) -> None:
    name = _doomed(pair)

    def send(side):
        assert side.delete(f"/api/v1/namespaces/{name}").code == 200
        content = side.post(f"/api/v1/namespaces/{name}/configmaps", {"metadata": {"name": "d"}})
        again = side.post("/api/v1/namespaces", {"metadata": {"name": name}})
        second_delete = side.delete(f"/api/v1/namespaces/{name}")
        return content, again, second_delete

    # The emulator's namespace controller waits 0.05 s by default; hold it for the check.
    pair.emulator.api.finalize_s = 30  # type: ignore[attr-defined]
    emu, real = pair.each(send)
    for e, r, what in zip(emu[:2], real[:2], ("create inside", "create again"), strict=True):
        assert r.code in (403, 409), r.body
        assert_same(status_of(e), status_of(r), what)
    assert real[2].code == emu[2].code == 200
    assert emu[2].body["metadata"]["deletionTimestamp"]


def test_namespace_is_gone_in_the_end(pair: Pair) -> None:
    name = _doomed(pair)

    def send(side):
        side.delete(f"/api/v1/namespaces/{name}")
        return side.gone(f"/api/v1/namespaces/{name}", timeout=120)

    emu, real = pair.each(send)
    assert emu is real is True


def test_crd_deletion_is_asynchronous(pair: Pair) -> None:
    """Divergence 2: a CRD being deleted answers with itself (Terminating, finalizer
    customresourcecleanup), refuses new objects of its kind (403) and its own name (409).
    A private CRD whose one object holds a finalizer keeps the real one Terminating."""
    group = unique("p") + ".parity.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    widgets = f"/apis/{group}/v1/namespaces/{pair.namespace}/widgets"
    held = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "held", "finalizers": ["parity.test/hold"]},
    }
    pair.emulator.api.finalize_s = 30  # type: ignore[attr-defined]

    def send(side):
        assert side.post(base, crd).code == 201
        assert side.wait(lambda: side.post(widgets, held).code == 201, timeout=60)
        deleted = side.delete(f"{base}/widgets.{group}")
        # The real server refuses once its CRD handler has seen the deletion (moments).
        attempts = iter(range(1000))
        refused: list = []

        def create_refused() -> bool:
            name = f"new-{next(attempts)}"
            body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name}}
            refused[:] = [side.post(widgets, body)]
            return refused[0].code != 201

        assert side.wait(create_refused, timeout=30), refused
        # Compared under one name: how many attempts got in before the refusal varies (the
        # real server's CRD handler sees the deletion moments later); the CRD stays
        # Terminating (its held object), so this one is refused as the first was.
        body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "new"}}
        new = side.post(widgets, body)
        again = side.post(base, crd)
        return deleted, new, again

    try:
        emu, real = pair.each(send)
    finally:
        pair.real.patch(
            f"{widgets}/held", {"metadata": {"finalizers": None}}, "application/merge-patch+json"
        )
    terminating = [
        (
            r.code,
            r.body["metadata"].get("finalizers"),
            [c["type"] for c in r.body["status"]["conditions"]],
        )
        for r in (emu[0], real[0])
    ]
    assert terminating[1][0] == 200 and "Terminating" in terminating[1][2]
    assert terminating[0] == terminating[1]
    for e, r in zip(emu[1:], real[1:], strict=True):
        assert r.code in (403, 409), r.body
        assert_same(status_of(e), status_of(r))
    assert pair.real.gone(f"{base}/widgets.{group}", timeout=120)


def test_a_new_namespace_gets_what_the_controllers_put_there(pair: Pair) -> None:
    """kube-controller-manager adds the `default` ServiceAccount and the `kube-root-ca.crt`
    ConfigMap to every namespace (moments later on a real cluster); the controller's catalog
    lists ServiceAccounts, so the emulator has them too."""
    name = unique("fresh")

    def send(side):
        assert side.post("/api/v1/namespaces", {"metadata": {"name": name}}).code == 201
        found: dict[str, list[str]] = {}

        def both_there() -> bool:
            for plural in ("serviceaccounts", "configmaps"):
                items = side.get(f"/api/v1/namespaces/{name}/{plural}").body["items"]
                found[plural] = [i["metadata"]["name"] for i in items]
            return all(found.values())

        side.wait(both_there, timeout=60)
        annotations = (
            side.get(f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt")
            .body["metadata"]
            .get("annotations")
        )
        side.delete(f"/api/v1/namespaces/{name}")
        return found, annotations

    emu, real = pair.each(send)
    assert real[0] == {"serviceaccounts": ["default"], "configmaps": ["kube-root-ca.crt"]}
    assert emu == real
