"""The per-type sync states of `osm proxy status`, by value; and refusing malformed reports."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from osm_mesh.controlplane import ProxySync
from osm_mesh.errors import MeshError
from osm_mesh.proxystatus import (
    NOT_SENT,
    STALE,
    SYNCED,
    TYPES,
    parse_report,
    proxy_report,
    table_rows,
    type_state,
)
from osm_mesh.xds.cache import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET
from osm_mesh.xds.protocol import Nack, ProxyStatus

NODE = "6b1f4a4e-0000-4000-8000-000000000001.sidecar.api.shop.cluster.local"
NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def sync(sent, acked, latest, nacks=(), connected=True, cert=None) -> ProxySync:
    status = ProxyStatus(NODE, connected=connected, connected_at=1.0e9)
    status.sent.update(sent)
    status.acked.update(acked)
    status.nacks.extend(nacks)
    return ProxySync(status, dict(latest), {}, 3, cert)


def test_synced_when_the_newest_version_is_acked():
    s = sync({ROUTE: "v2"}, {ROUTE: "v2"}, {ROUTE: "v2"})
    assert type_state(s, ROUTE) == {"state": SYNCED, "sent": "v2", "acked": "v2", "latest": "v2"}


def test_stale_when_nacked_with_the_message():
    nack = Nack(ROUTE, "v3", "7", "duplicate domain a", 5.0)
    s = sync({ROUTE: "v3"}, {ROUTE: "v2"}, {ROUTE: "v3"}, [nack])
    state = type_state(s, ROUTE)
    assert state["state"] == STALE
    assert state["reason"] == "rejected version v3: duplicate domain a"


def test_an_old_nack_does_not_make_a_later_ack_stale():
    nack = Nack(ROUTE, "v3", "7", "duplicate domain a", 5.0)
    s = sync({ROUTE: "v4"}, {ROUTE: "v4"}, {ROUTE: "v4"}, [nack])
    assert type_state(s, ROUTE)["state"] == SYNCED


def test_stale_while_waiting_for_the_ack_or_behind():
    waiting = type_state(sync({CLUSTER: "v2"}, {CLUSTER: "v1"}, {CLUSTER: "v2"}), CLUSTER)
    assert waiting["state"] == STALE and "not ACKed yet" in waiting["reason"]
    behind = type_state(sync({CLUSTER: "v1"}, {CLUSTER: "v1"}, {CLUSTER: "v2"}), CLUSTER)
    assert behind["state"] == STALE and "v2 not sent yet" in behind["reason"]


def test_not_sent_when_never_subscribed():
    assert type_state(sync({}, {}, {SECRET: "v1"}), SECRET)["state"] == NOT_SENT


def test_report_rows_name_identity_and_certificate_and_skip_disconnected():
    everything = {t: "v1" for t in (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET)}
    good = sync(everything, everything, everything, cert=NOW + dt.timedelta(hours=2))
    gone = sync(everything, everything, everything, connected=False)
    report = proxy_report(
        [good, gone], None, mesh="osm", generation=3, trust_domain="cluster.local", now=NOW
    )
    [row] = report["proxies"]
    assert (row["identity"], row["namespace"]) == ("shop/api", "shop")
    assert row["synced"] is True
    assert row["certificate"] == {"notAfter": "2026-12-06T14:00:00Z", "secondsLeft": 7200}
    parsed = parse_report(json.dumps(report).encode(), "test")
    assert table_rows(parsed)[0][3:8] == [SYNCED] * len(TYPES)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b"[]",
        json.dumps({"kind": "Other"}).encode(),
        json.dumps({"kind": "ProxyStatusReport", "proxies": "x"}).encode(),
        json.dumps({"kind": "ProxyStatusReport", "proxies": [{"types": {}}]}).encode(),
    ],
)
def test_malformed_reports_are_refused(body):
    with pytest.raises(MeshError):
        parse_report(body, "somewhere")


def test_oversized_report_is_refused():
    with pytest.raises(MeshError, match="larger than"):
        parse_report(b" " * (32 * 1024 * 1024 + 1), "somewhere")
