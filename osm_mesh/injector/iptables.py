"""The init container's traffic redirection: an ``iptables-restore`` script (pure text).

Every TCP connection the app opens is redirected to Envoy's outbound listener (15001) and
every TCP connection arriving at the pod to its inbound listener (15003), except:

- traffic of Envoy itself (its UID), or it would loop back into itself;
- loopback destinations (app-to-sidecar, app-to-itself);
- Envoy's own ports arriving from outside (15010 for Prometheus scrapes, 15901+ for the
  kubelet's rewritten probes; the admin port 15000 binds loopback only and is reached
  through port-forward, which is loopback too);
- the MeshConfig (and pod annotation) exclusion lists.

The script is built only from validated integers and CIDRs, so nothing a pod author writes
in an annotation can reach the shell.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from osm_mesh.envoy import names

PROXY_UID = 1500
# iptables' multiport match accepts at most 15 ports per rule.
_MULTIPORT_MAX = 15


def parse_ports(text: str) -> tuple[int, ...]:
    """``"6379, 8080"`` -> (6379, 8080); ValueError naming the bad item."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise ValueError(f"{item!r} is not a port number (1-65535)")
        out.append(int(item))
    return tuple(out)


def parse_cidrs(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"10.0.0.0/8, 1.2.3.4/32"`` -> normalised CIDRs; ValueError naming the bad item."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP range (CIDR such as 10.0.0.0/8)") from None
    return tuple(out)


def _port_rules(chain: str, ports: Sequence[int]) -> list[str]:
    unique = sorted(set(ports))
    rules = []
    for i in range(0, len(unique), _MULTIPORT_MAX):
        chunk = ",".join(str(p) for p in unique[i : i + _MULTIPORT_MAX])
        rules.append(f"-A {chain} -p tcp -m multiport --dports {chunk} -j RETURN")
    return rules


def redirect_rules(
    *,
    proxy_uid: int = PROXY_UID,
    outbound_port: int = names.OUTBOUND_PORT,
    inbound_port: int = names.INBOUND_PORT,
    prometheus_port: int = names.PROMETHEUS_PORT,
    probe_ports: Sequence[int] = (),
    outbound_port_exclusions: Sequence[int] = (),
    inbound_port_exclusions: Sequence[int] = (),
    outbound_ip_range_exclusions: Sequence[str] = (),
) -> str:
    """The ``iptables-restore --noflush`` input for the nat table."""
    ranges = parse_cidrs(outbound_ip_range_exclusions)
    ipv4_ranges = [r for r in ranges if ipaddress.ip_network(r).version == 4]
    lines = [
        "*nat",
        ":OSM_PROXY_INBOUND - [0:0]",
        ":OSM_PROXY_IN_REDIRECT - [0:0]",
        ":OSM_PROXY_OUTBOUND - [0:0]",
        ":OSM_PROXY_OUT_REDIRECT - [0:0]",
        # Inbound: everything but Envoy's metrics port and the excluded ports goes to 15003.
        f"-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port {inbound_port}",
        "-A PREROUTING -p tcp -j OSM_PROXY_INBOUND",
        f"-A OSM_PROXY_INBOUND -p tcp --dport {prometheus_port} -j RETURN",
        # The kubelet's probes reach Envoy's plain-HTTP probe listeners directly.
        *_port_rules("OSM_PROXY_INBOUND", probe_ports),
        *_port_rules("OSM_PROXY_INBOUND", inbound_port_exclusions),
        "-A OSM_PROXY_INBOUND -p tcp -j OSM_PROXY_IN_REDIRECT",
        # Outbound: the app's connections go to 15001; Envoy's own (by UID) leave as they are.
        f"-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port {outbound_port}",
        "-A OUTPUT -p tcp -j OSM_PROXY_OUTBOUND",
        f"-A OSM_PROXY_OUTBOUND -m owner --uid-owner {proxy_uid} -j RETURN",
        "-A OSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN",
        "-A OSM_PROXY_OUTBOUND -o lo -j RETURN",
        *_port_rules("OSM_PROXY_OUTBOUND", outbound_port_exclusions),
        *(f"-A OSM_PROXY_OUTBOUND -d {r} -j RETURN" for r in ipv4_ranges),
        "-A OSM_PROXY_OUTBOUND -j OSM_PROXY_OUT_REDIRECT",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def init_script(rules: str) -> str:
    """The shell command of the init container (``sh -c``): apply the rules, show them."""
    # A quoted heredoc: the rules are literal text, never expanded by the shell.
    return (
        "set -e\n"
        "iptables-restore --noflush <<'OSM_RULES'\n"
        f"{rules}"
        "OSM_RULES\n"
        "iptables-save -t nat\n"
    )
