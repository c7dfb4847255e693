"""python -m tests.e2e --kubeconfig K [--only STEP,...]: the article on any cluster.

The cluster's nodes need the images of `make images` (scripts/e2e-kind.sh loads them into kind).
Exit 0 when every step passed; the first failing step ends the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.e2e.scenario import STEPS, Scenario, StepFailed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--osm", default="osm", help="the osm command to run")
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--only", default="", help="comma-separated step names")
    args = parser.parse_args(argv)
    scenario = Scenario(args.kubeconfig, osm_bin=args.osm, kubectl_bin=args.kubectl)
    wanted = {s for s in args.only.split(",") if s}
    for step in STEPS:
        if wanted and step.__name__ not in wanted:
            continue
        began = time.monotonic()
        try:
            step(scenario)
        except StepFailed as exc:
            print(f"✗ {step.__name__} ({time.monotonic() - began:.1f} s): {exc}", flush=True)
            return 1
        print(f"✓ {step.__name__} ({time.monotonic() - began:.1f} s)", flush=True)
    print(json.dumps(scenario.facts, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
