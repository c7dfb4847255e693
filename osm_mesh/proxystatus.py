"""`osm proxy status`: whether every connected proxy has its newest configuration.

The control plane serves :func:`proxy_report` (JSON) from its debug endpoint; the CLI reads
it back with :func:`parse_report` and prints one row per proxy. Per xDS type a proxy is

- ``SYNCED``: it ACKed the version of its newest snapshot;
- ``STALE``: it NACKed what was sent (the last NACK's message says why; the proxy keeps its
  last good config), or it has not ACKed the newest version yet (sent and awaiting the ACK,
  or not sent yet);
- ``NOT SENT``: nothing of that type was ever sent to it (it never subscribed).

Pure: no I/O, time passed in.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from osm_mesh.errors import MeshError
from osm_mesh.xds.cache import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET

if TYPE_CHECKING:
    from osm_mesh.catalog.model import Catalog
    from osm_mesh.controlplane import ProxySync

# Column order of the table, as istioctl proxy-status prints them.
TYPES: tuple[tuple[str, str], ...] = (
    ("CDS", CLUSTER),
    ("LDS", LISTENER),
    ("EDS", ENDPOINT),
    ("RDS", ROUTE),
    ("SDS", SECRET),
)
SYNCED, STALE, NOT_SENT = "SYNCED", "STALE", "NOT SENT"
REPORT_KIND = "ProxyStatusReport"
REPORT_VERSION = 1
# The CLI refuses to read more than this from the endpoint (~30 KB per 100 proxies).
MAX_REPORT_BYTES = 32 * 1024 * 1024


def _iso(ts: float | dt.datetime | None) -> str | None:
    if ts is None or ts == 0:
        return None
    when = ts if isinstance(ts, dt.datetime) else dt.datetime.fromtimestamp(ts, dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def type_state(sync: ProxySync, type_url: str) -> dict[str, Any]:
    status = sync.status
    sent = status.sent.get(type_url)
    acked = status.acked.get(type_url)
    latest = sync.latest.get(type_url)
    state: dict[str, Any] = {"sent": sent, "acked": acked, "latest": latest}
    nack = next((n for n in reversed(status.nacks) if n.type_url == type_url), None)
    if sent is None:
        state.update(state=NOT_SENT, reason="never subscribed")
    elif acked is not None and acked == latest:
        state.update(state=SYNCED)
    elif nack is not None and nack.version == sent and acked != sent:
        state.update(state=STALE, reason=f"rejected version {sent}: {nack.message}")
    elif sent == latest:
        state.update(state=STALE, reason=f"version {sent} sent, not ACKed yet")
    else:
        state.update(state=STALE, reason=f"version {latest} not sent yet (proxy has {acked})")
    return state


def proxy_row(
    sync: ProxySync, catalog: Catalog | None, trust_domain: str, now: dt.datetime
) -> dict[str, Any]:
    from osm_mesh.errors import InvalidInput
    from osm_mesh.xds.identity import NodeId

    status = sync.status
    try:
        node = NodeId.parse(status.node_id, trust_domain)
        uuid, namespace, service_account = node.proxy_uuid, node.namespace, node.service_account
    except InvalidInput:  # the ADS server refuses such streams; never fail the report on one
        uuid, namespace, service_account = status.node_id.partition(".")[0], "?", "?"
    pod = catalog.pod_by_uuid(uuid) if catalog is not None else None
    types = {short: type_state(sync, url) for short, url in TYPES}
    last = status.nacks[-1] if status.nacks else None
    row: dict[str, Any] = {
        "node": status.node_id,
        "proxyUUID": uuid,
        "pod": pod.name if pod is not None else "",
        "namespace": pod.namespace if pod is not None else namespace,
        "identity": f"{namespace}/{service_account}",
        "connected": status.connected,
        "connectedSince": _iso(status.connected_at),
        "lastAck": _iso(status.last_ack_at),
        "generation": sync.generation,
        "synced": all(t["state"] != STALE for t in types.values()),
        "types": types,
        "lastNack": None,
        "certificate": None,
    }
    if last is not None:
        short = next((s for s, url in TYPES if url == last.type_url), last.type_url)
        row["lastNack"] = {
            "type": short,
            "version": last.version,
            "message": last.message,
            "at": _iso(last.at),
        }
    if sync.cert_not_after is not None:
        left = (sync.cert_not_after - now).total_seconds()
        row["certificate"] = {"notAfter": _iso(sync.cert_not_after), "secondsLeft": int(left)}
    return row


def proxy_report(
    syncs: list[ProxySync],
    catalog: Catalog | None,
    *,
    mesh: str,
    generation: int,
    trust_domain: str,
    now: dt.datetime | None = None,
    connected_only: bool = True,
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    rows = [
        proxy_row(s, catalog, trust_domain, now)
        for s in syncs
        if s.status.connected or not connected_only
    ]
    rows.sort(key=lambda r: (r["namespace"], r["pod"], r["node"]))
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "mesh": mesh,
        "generation": generation,
        "catalogVersion": catalog.version if catalog is not None else None,
        "generatedAt": _iso(now),
        "proxies": rows,
    }


@dataclass(frozen=True)
class Report:
    mesh: str
    generation: int
    proxies: list[dict[str, Any]]
    source: str  # where it was read ("osm-system/osm-controller-x", "local mesh 127.1.2.254")

    def as_dict(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh,
            "generation": self.generation,
            "source": self.source,
            "proxies": self.proxies,
        }


def parse_report(body: bytes, source: str) -> Report:
    """The endpoint's answer, checked for the fields the CLI uses; MeshError if it is not one."""
    if len(body) > MAX_REPORT_BYTES:
        raise MeshError(f"the proxy status from {source} is larger than {MAX_REPORT_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise MeshError(
            f"{source} answered the proxy status with something that is not JSON"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        raise MeshError(
            f"{source} does not serve proxy status",
            hint="The control plane may be older than this CLI; upgrade it with `osm mesh upgrade`",
        )
    proxies = data.get("proxies")
    if not isinstance(proxies, list) or not all(isinstance(p, dict) for p in proxies):
        raise MeshError(f"malformed proxy status from {source}: 'proxies' is not a list")
    for row in proxies:
        types = row.get("types")
        if not isinstance(types, dict) or not all(
            isinstance(types.get(short), dict) for short, _ in TYPES
        ):
            raise MeshError(f"malformed proxy status from {source}: a row lacks its xDS types")
    return Report(
        mesh=str(data.get("mesh") or ""),
        generation=int(data.get("generation") or 0),
        proxies=proxies,
        source=source,
    )


def table_rows(report: Report, namespace: str | None = None) -> list[list[str]]:
    """NAMESPACE, POD, IDENTITY, CDS, LDS, EDS, RDS, SDS, VERSION, LAST NACK."""
    rows = []
    for p in report.proxies:
        if namespace is not None and p.get("namespace") != namespace:
            continue
        nack = p.get("lastNack") or {}
        nack_text = f"{nack.get('type')}: {nack.get('message')}" if nack else "-"
        states = [str(p["types"][short].get("state", "?")) for short, _ in TYPES]
        rows.append(
            [
                str(p.get("namespace") or "-"),
                str(p.get("pod") or p.get("proxyUUID") or "-"),
                str(p.get("identity") or "-"),
                *states,
                str(p.get("generation", "-")),
                nack_text[:120],
            ]
        )
    return rows


TABLE_HEADERS = ["NAMESPACE", "POD", "IDENTITY", *(s for s, _ in TYPES), "GENERATION", "LAST NACK"]
