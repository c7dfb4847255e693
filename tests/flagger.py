"""What Flagger's OSM provider does during a canary analysis, as data the tests replay.

Facts (fluxcd/flagger ``pkg/metrics/observers/osm.go`` and its test, ``pkg/router/smi.go``):

- the two built-in metric queries below, rendered with the canary's namespace, its target
  Deployment and the analysis interval (the rendered form, whitespace collapsed, is what the
  provider's own test asserts is sent to Prometheus);
- the router writes a ``split.smi-spec.io/v1alpha2`` TrafficSplit named after the apex
  Service, backends ``<target>-canary`` and ``<target>-primary`` with integer weights adding
  up to 100; each analysis step raises the canary's weight by ``stepWeight`` up to
  ``maxWeight``, then promotes (primary gets the canary's spec, weights back to 0/100); a
  failed check ``threshold`` times rolls back (weights 0/100).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REQUEST_SUCCESS_RATE = (
    ' sum( rate( osm_request_total{ destination_namespace="{{ namespace }}", '
    'destination_kind="Deployment", destination_name="{{ target }}", '
    'response_code!~"5.*" }[{{ interval }}] ) ) / sum( rate( osm_request_total{ '
    'destination_namespace="{{ namespace }}", destination_kind="Deployment", '
    'destination_name="{{ target }}" }[{{ interval }}] ) ) * 100'
)
REQUEST_DURATION = (
    " histogram_quantile( 0.99, sum( rate( osm_request_duration_ms_bucket{ "
    'destination_namespace="{{ namespace }}", destination_kind="Deployment", '
    'destination_name="{{ target }}" }[{{ interval }}] ) ) by (le) )'
)


def render(template: str, *, namespace: str, target: str, interval: str) -> str:
    values = {"namespace": namespace, "target": target, "interval": interval}
    return re.sub(r"\{\{ (\w+) \}\}", lambda m: values[m.group(1)], template)


def split(apex: str, namespace: str, canary_weight: int) -> dict:
    """The TrafficSplit Flagger's SMI router writes for one step."""
    return {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": apex, "namespace": namespace},
        "spec": {
            "service": apex,
            "backends": [
                {"service": f"{apex}-canary", "weight": canary_weight},
                {"service": f"{apex}-primary", "weight": 100 - canary_weight},
            ],
        },
    }


@dataclass
class Analysis:
    """The Canary's ``spec.analysis`` (what the tutorial uses, shortened interval)."""

    interval: str = "10s"
    threshold: int = 2
    step_weight: int = 10
    max_weight: int = 50
    min_success_rate: float = 99.0  # request-success-rate thresholdRange.min
    max_duration_ms: float = 500.0  # request-duration thresholdRange.max
    steps: list[dict] = field(default_factory=list)  # what happened, for the assertions
