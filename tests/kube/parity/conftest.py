"""Differential fixtures: the same request to the emulator and to the real API server.

``pair`` gives both sides (``pair.emu``, ``pair.real``) and ``pair.each(fn)`` runs ``fn(side)``
on each, emulator first. Every test works in a namespace of its own, made on both sides under
the same unique name (a kept cluster from `make cluster-up` may hold earlier runs' objects).
The chart's CRDs are created on the real server when missing and left there (the install
tests start from `osm uninstall mesh -a`, which removes them).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube.parity.side import Reply, Side, emulator_side, real_side
from tests.realkube.cluster import unique

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "templates" / "osm" / "crds"


@dataclass
class Pair:
    emu: Side
    real: Side
    namespace: str

    def each(self, fn: Callable[[Side], Any]) -> tuple[Any, Any]:
        return fn(self.emu), fn(self.real)

    def sides(self) -> tuple[Side, Side]:
        return self.emu, self.real


@pytest.fixture(scope="session")
def real_side_session(real_cluster) -> Side:
    return real_side(str(real_cluster.kubeconfig))


@functools.cache
def _chart_crds() -> tuple[dict, ...]:
    docs: list[dict] = []
    for path in sorted(CRDS.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return tuple(docs)


def chart_crds() -> list[dict]:
    return copy.deepcopy(list(_chart_crds()))


def ensure_crds(side: Side) -> None:
    """The chart's CRDs, created where missing and waited for until Established."""
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in chart_crds():
        name = crd["metadata"]["name"]
        path = f"{base}/{name}"

        def ready(path: str = path, crd: dict = crd) -> bool:
            got = side.get(path)
            if got.code == 404:
                made = side.post(base, copy.deepcopy(crd))
                got = made if made.code == 201 else side.get(path)
            if got.code not in (200, 201) or got.body["metadata"].get("deletionTimestamp"):
                return False
            conditions = got.body.get("status", {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        assert side.wait(ready, timeout=300, step=0.5), f"CRD {name} not established on {side}"


@pytest.fixture
def pair(real_side_session) -> Iterator[Pair]:
    from tests.emulator import KubeEmulator

    emulator = KubeEmulator()  # its controllers too, as the real cluster runs them
    emulator.start()
    namespace = unique("parity")
    both = Pair(emulator_side(emulator.url), real_side_session, namespace)
    try:
        for side in both.sides():
            made = side.post("/api/v1/namespaces", {"metadata": {"name": namespace}})
            assert made.code == 201, (side, made.body)
        both.emulator = emulator  # type: ignore[attr-defined]
        yield both
    finally:
        real_side_session.delete(f"/api/v1/namespaces/{namespace}")
        emulator.stop()
        assert not emulator.errors, emulator.errors


@pytest.fixture
def crd_pair(pair: Pair) -> Pair:
    """``pair`` with the chart's SMI and OSM CRDs on both sides."""
    for side in pair.sides():
        ensure_crds(side)
    return pair


def status_of(reply: Reply) -> dict:
    """What our code reads from an error answer: the code, the Status reason, details."""
    body = reply.body if isinstance(reply.body, dict) else {"text": reply.body}
    return {
        "code": reply.code,
        "kind": body.get("kind"),
        "status": body.get("status"),
        "reason": body.get("reason"),
        "message": body.get("message"),
        "details": body.get("details"),
    }
