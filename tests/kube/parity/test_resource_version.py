"""resourceVersion and generation: what the controller's informer and `osm` rely on.

A no-op write must not produce a new resourceVersion or a watch event (the informer would see
churn that never happened), generation moves with the spec only, and a list carries a
resourceVersion a watch can resume from.
"""

from __future__ import annotations

from tests.kube.parity.conftest import Pair

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def _configmaps(pair: Pair) -> str:
    return f"/api/v1/namespaces/{pair.namespace}/configmaps"


def test_noop_update_keeps_resource_version(pair: Pair) -> None:
    path = _configmaps(pair)

    def send(side):
        made = side.post(path, {"metadata": {"name": "same"}, "data": {"a": "1"}}).body
        again = side.put(f"{path}/same", made).body
        patched = side.patch(f"{path}/same", {"data": {"a": "1"}}, MERGE).body
        strategic = side.patch(
            f"{path}/same", {"metadata": {"labels": None}, "data": {"a": "1"}}, STRATEGIC
        ).body
        return [made, again, patched, strategic]

    emu, real = pair.each(send)
    real_rvs = [o["metadata"]["resourceVersion"] for o in real]
    emu_rvs = [o["metadata"]["resourceVersion"] for o in emu]
    assert len(set(real_rvs)) == 1, real_rvs
    assert len(set(emu_rvs)) == 1, f"the emulator bumped a no-op write: {emu_rvs}"


def test_real_update_changes_resource_version(pair: Pair) -> None:
    path = _configmaps(pair)

    def send(side):
        made = side.post(path, {"metadata": {"name": "moves"}, "data": {"a": "1"}}).body
        changed = side.patch(f"{path}/moves", {"data": {"a": "2"}}, MERGE).body
        return int(made["metadata"]["resourceVersion"]), int(changed["metadata"]["resourceVersion"])

    emu, real = pair.each(send)
    assert real[1] > real[0] and emu[1] > emu[0]


def test_generation_exists_where_the_server_keeps_one(crd_pair: Pair) -> None:
    """ConfigMaps, Secrets, Services have no generation; Deployments and custom resources
    start at 1 and count spec changes only."""
    pair = crd_pair
    ns = pair.namespace
    split_path = f"/apis/split.smi-spec.io/v1alpha2/namespaces/{ns}/trafficsplits"
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "g"},
        "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": 100}]},
    }

    def send(side):
        gens = {}
        for plural, body in (
            ("configmaps", {"metadata": {"name": "g"}}),
            ("secrets", {"metadata": {"name": "g"}}),
            ("serviceaccounts", {"metadata": {"name": "g"}}),
            ("services", {"metadata": {"name": "g"}, "spec": {"ports": [{"port": 80}]}}),
        ):
            made = side.post(f"/api/v1/namespaces/{ns}/{plural}", body)
            assert made.code == 201, made.body
            gens[plural] = made.body["metadata"].get("generation")
        made = side.post(split_path, split)
        assert made.code == 201, made.body
        gens["created"] = made.body["metadata"].get("generation")
        labelled = side.patch(f"{split_path}/g", {"metadata": {"labels": {"x": "y"}}}, MERGE)
        gens["metadata change"] = labelled.body["metadata"].get("generation")
        spec = side.patch(f"{split_path}/g", {"spec": {"service": "web2"}}, MERGE)
        gens["spec change"] = spec.body["metadata"].get("generation")
        return gens

    emu, real = pair.each(send)
    assert real["created"] == 1 and real["metadata change"] == 1 and real["spec change"] == 2
    assert emu == real


def test_list_resource_version_is_resumable(pair: Pair) -> None:
    """A list's resourceVersion is the store's; watching from it sees only later writes."""
    path = _configmaps(pair)

    def send(side):
        side.post(path, {"metadata": {"name": "before"}})
        listed = side.get(path).body
        rv = listed["metadata"]["resourceVersion"]
        side.post(path, {"metadata": {"name": "after"}})
        code, events = side.watch(
            path,
            {"resourceVersion": rv},
            until=lambda ev: any(e["object"]["metadata"].get("name") == "after" for e in ev),
            limit=10,
        )
        assert code == 200
        return [(e["type"], e["object"]["metadata"].get("name")) for e in events]

    emu, real = pair.each(send)
    assert real == [("ADDED", "after")]
    assert emu == real
