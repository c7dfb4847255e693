"""``python -m osm_mesh.controller`` (also the ``osm-controller`` console script).

Flags match the chart's Deployment (templates/osm/templates/osm-controller.yaml); POD_NAME
and POD_NAMESPACE come from the downward API.
"""

from __future__ import annotations

import argparse
import os
import sys

from osm_mesh.controller.runtime import common_arguments, connect, run, setup_logging


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="osm-controller", description="The osm mesh control plane (xDS, CA, catalog)."
    )
    common_arguments(parser)
    parser.add_argument("--ca-bundle-dir", default=None)
    parser.add_argument("--ads-port", type=int, default=15128)
    parser.add_argument(
        "--debug-port",
        type=int,
        default=9092,
        help="loopback-only debug endpoints (osm proxy status, through a port-forward)",
    )
    parser.add_argument(
        "--resync-seconds", type=float, default=600.0, help="full relist of the cluster"
    )
    parser.add_argument(
        "--coalesce-window",
        type=_seconds,
        default=0.01,
        help="recompute once no change arrived for this long (seconds; 0: at once)",
    )
    parser.add_argument(
        "--coalesce-max",
        type=_seconds,
        default=0.5,
        help="but never wait longer than this after the first change of a burst (seconds)",
    )
    return parser.parse_args(argv)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..60 seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)

    def build():  # type: ignore[no-untyped-def]
        from osm_mesh.controller.app import Controller, ControllerSettings

        settings = ControllerSettings(
            mesh_name=args.mesh_name,
            osm_namespace=args.osm_namespace,
            mesh_config_name=args.mesh_config_name,
            ca_bundle_secret_name=args.ca_bundle_secret_name,
            ca_bundle_dir=args.ca_bundle_dir,
            trust_domain=args.trust_domain,
            ads_port=args.ads_port,
            http_port=args.http_port,
            debug_port=args.debug_port,
            resync_seconds=args.resync_seconds,
            coalesce_window=args.coalesce_window,
            coalesce_max=max(args.coalesce_max, args.coalesce_window),
            pod_name=os.environ.get("POD_NAME", ""),
        )
        return Controller(connect(args.kubeconfig), settings)

    return run(build, "controller")


if __name__ == "__main__":
    sys.exit(main())
