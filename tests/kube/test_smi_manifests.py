"""The article's SMI manifests (access/v1alpha2, specs/v1alpha3, split/v1alpha2) and OSM's
bookstore and httpbin samples, applied with `kubectl apply` to the chart's CRDs on the real API
server, then read back in every version the CRD serves.

The CRDs convert with strategy None, so the server hands out the stored body under whichever
apiVersion is asked for (an access/v1alpha2 object read as v1alpha3 keeps its v1alpha2 shape).
The controller watches one served version per kind: it must understand every shape in every
version, which the last assertion checks with the controller's own parser.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from osm_mesh.smi.parse import parse_smi
from tests.realkube.binaries import REPO

DATA = REPO / "tests" / "data"
SMI_GROUPS = ("access.smi-spec.io", "specs.smi-spec.io", "split.smi-spec.io")
MANIFESTS = sorted(
    p
    for p in [*DATA.glob("article/**/*.yml"), *DATA.glob("external/**/*.yaml")]
    if any(g in p.read_text() for g in SMI_GROUPS)
)


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def crds(real_cluster) -> dict[str, dict]:
    real_cluster.kubectl("apply", "-f", str(REPO / "templates" / "osm" / "crds"))
    real_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    items = real_cluster.kubectl_json("get", "crd")["items"]
    return {(c["spec"]["group"], c["spec"]["names"]["kind"]): c for c in items}


def test_the_manifests_hold_every_smi_kind_the_article_uses():
    kinds = {(d["apiVersion"], d["kind"]) for p in MANIFESTS for d in _documents(p)}
    assert ("access.smi-spec.io/v1alpha2", "TrafficTarget") in kinds
    assert ("specs.smi-spec.io/v1alpha3", "HTTPRouteGroup") in kinds
    assert ("split.smi-spec.io/v1alpha2", "TrafficSplit") in kinds


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(DATA)) for p in MANIFESTS])
def test_applied_and_read_back_in_every_served_version(real_cluster, crds, path):
    smi = [d for d in _documents(path) if d["apiVersion"].split("/")[0] in SMI_GROUPS]
    for namespace in sorted({d["metadata"].get("namespace", "default") for d in smi}):
        real_cluster.kubectl("create", "namespace", namespace, check=False)
    applied = real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(smi), check=False)
    assert applied.returncode == 0, applied.stderr
    for document in smi:
        group, version = document["apiVersion"].split("/")
        crd = crds[(group, document["kind"])]
        plural = crd["spec"]["names"]["plural"]
        served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
        assert version in served
        name = document["metadata"]["name"]
        namespace = document["metadata"].get("namespace", "default")
        for other in served:
            got = real_cluster.kubectl_json(
                "get", f"{plural}.{other}.{group}", name, "-n", namespace
            )
            assert got["apiVersion"] == f"{group}/{other}"
            assert got["spec"] == document["spec"], (other, got["spec"])
            model, problems = parse_smi(got)
            assert model is not None, (other, problems)
            assert not [p for p in problems if p.severity == "error"], (other, problems)
