"""One sidecar's reading: the series `osm stat` needs, from its Prometheus text output."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from osm_mesh.envoy.telemetry import REQUEST_DURATION, REQUEST_TOTAL

# Only these lines are parsed; a sidecar's output has thousands of others.
CONNECTIONS = "envoy_listener_downstream_cx_active"
_WANTED = (REQUEST_TOTAL, REQUEST_DURATION, CONNECTIONS, "envoy_" + "wasmcustom_osm_")
# Envoy's name for our stats when the stat namespace is not registered (an older bootstrap).
_UNREGISTERED_PREFIX = "envoy_wasmcustom_"
# The largest sidecar output read (a sidecar reaching thousands of services).
MAX_BYTES = 32 * 1024 * 1024

Labels = tuple[tuple[str, str], ...]


@dataclass
class Reading:
    """What one sidecar said at ``taken_at`` (monotonic seconds)."""

    taken_at: float
    # (metric name, sorted labels) -> value; histogram buckets keep their "le" label.
    series: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def get(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.series.items() if n == name}


def parse_reading(text: str, taken_at: float, inbound_port: int) -> Reading:
    """The request series and the inbound listener's open connections of one sidecar."""
    from prometheus_client.parser import text_string_to_metric_families

    lines = []
    for line in text.splitlines():
        bare = line[len("# TYPE ") :] if line.startswith("# TYPE ") else line
        if bare.startswith(_WANTED):
            lines.append(line.replace(_UNREGISTERED_PREFIX, "", 1))
    reading = Reading(taken_at)
    suffix = f"_{inbound_port}"
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for sample in family.samples:
            labels = dict(sample.labels)
            if sample.name == CONNECTIONS:
                if not labels.get("envoy_listener_address", "").endswith(suffix):
                    continue
                labels = {}
            if math.isnan(sample.value):
                continue
            key = (sample.name, tuple(sorted(labels.items())))
            reading.series[key] = reading.series.get(key, 0.0) + float(sample.value)
    return reading
