"""The side-by-side scale comparison (benchmarks/bench_upstream_scale.py) at a size CI can
afford: both controllers run, every simulated proxy syncs with each, route changes reach the
affected proxies, and what each control plane pushed is counted."""

from __future__ import annotations

import pytest

from benchmarks.upstreamscale.run import PER_SERVICE, compare

pytestmark = [pytest.mark.helm, pytest.mark.slow, pytest.mark.timeout(900)]

PODS = 16


def test_both_controllers_serve_the_same_simulated_proxies(real_cluster):
    measured = {m.side: m for m in compare((PODS,), real_cluster, rounds=2)}
    for side, m in measured.items():
        assert m.failures == 0 and m.timeouts == 0, (side, m.errors)
        assert len(m.changes_ms) == 2, side
        assert all(0 < ms < 120_000 for ms in m.changes_ms), (side, m.changes_ms)
        assert m.rss_kib > 0
    # Upstream recomputes and pushes every proxy on any change; ours only those the changed
    # route group can affect (the service's own pods, perhaps its callers).
    assert measured["upstream"].pushed == [PODS, PODS]
    assert all(PER_SERVICE <= n < PODS for n in measured["ours"].pushed)
