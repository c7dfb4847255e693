"""The article end to end on the real local node (scenario.py), a test per step, in order.

A failed step fails the steps after it too (they build on it): read the first failure.
"""

from __future__ import annotations

import pytest

from tests.e2e.scenario import STEPS, Scenario
from tests.realkube import binaries

REPO = binaries.REPO
_failed: list[str] = []


@pytest.fixture(scope="module")
def scenario(real_node_cluster):
    return Scenario(
        real_node_cluster.kubeconfig,
        osm_bin=str(REPO / ".venv" / "bin" / "osm"),
        kubectl_bin=str(binaries.binary("kubectl")),
        path=(str(REPO / ".venv" / "bin"), str(binaries.bin_dir())),
    )


@pytest.mark.parametrize("step", STEPS, ids=[s.__name__ for s in STEPS])
def test_article_step(scenario, step):
    if _failed:
        pytest.fail(f"not run: step {_failed[0]} failed before it")
    try:
        step(scenario)
    except BaseException:
        _failed.append(step.__name__)
        raise
