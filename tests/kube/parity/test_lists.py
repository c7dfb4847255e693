"""List envelopes (kind, apiVersion, metadata) and item order, for a built-in kind and a
custom resource, in one namespace and across all namespaces."""

from __future__ import annotations

from tests.kube.parity.compare import assert_same, normalise
from tests.kube.parity.conftest import Pair

SPLIT = "split.smi-spec.io/v1alpha2"


def _envelope(body: dict) -> dict:
    return normalise({k: v for k, v in body.items() if k != "items"})


def test_list_envelopes_and_order(crd_pair: Pair) -> None:
    pair = crd_pair
    ns = pair.namespace
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"
    splits = f"/apis/{SPLIT}/namespaces/{ns}/trafficsplits"
    for side in pair.sides():
        for name in ("b", "a", "c"):
            assert (
                side.post(configmaps, {"metadata": {"name": name, "labels": {"p": "1"}}}).code
                == 201
            )
            split = {
                "apiVersion": SPLIT,
                "kind": "TrafficSplit",
                "metadata": {"name": name},
                "spec": {"service": "w", "backends": [{"service": "a", "weight": 1}]},
            }
            assert side.post(splits, split).code == 201
    for path, query in (
        (configmaps, {"labelSelector": "p=1"}),
        (splits, None),
        (f"/apis/{SPLIT}/trafficsplits", None),
    ):
        emu, real = pair.each(lambda s, path=path, query=query: s.get(path, query=query))
        assert real.code == emu.code == 200
        assert_same(_envelope(emu.body), _envelope(real.body), path)
        if path.startswith("/api/"):
            names = [[i["metadata"]["name"] for i in r.body["items"]] for r in (emu, real)]
            assert names[0] == names[1] == ["a", "b", "c"]
        else:  # all namespaces on the real side may hold other tests' objects
            mine = [
                [i["metadata"]["name"] for i in r.body["items"] if i["metadata"]["namespace"] == ns]
                for r in (emu, real)
            ]
            assert mine[0] == mine[1] == ["a", "b", "c"]
