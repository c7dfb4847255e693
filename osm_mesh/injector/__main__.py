"""``python -m osm_mesh.injector``: the sidecar-injection webhook process.

Flags match the chart's Deployment (templates/osm/templates/osm-injector.yaml).
"""

from __future__ import annotations

import argparse
import sys

from osm_mesh.controller.runtime import common_arguments, connect, run, setup_logging


def _host_port(text: str) -> str:
    if text == "":  # the default (argparse passes string defaults through ``type``)
        return text
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not host:port (e.g. osm-controller.osm-system.svc:15128)"
        )
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="osm-injector", description="The osm mesh sidecar-injection webhook."
    )
    common_arguments(parser)
    parser.add_argument("--webhook-config-name", default="")
    parser.add_argument("--webhook-port", type=int, default=9090)
    parser.add_argument("--webhook-timeout-seconds", type=int, default=20)
    parser.add_argument(
        "--ads-address",
        default="",
        type=_host_port,
        help="host:port of the controller's ADS (default osm-controller.<namespace>.svc:15128)",
    )
    parser.add_argument(
        "--init-image", default="", help="image of the iptables init container (needs sh, iptables)"
    )
    parser.add_argument(
        "--envoy-image", default="", help="sidecar image when the MeshConfig has none"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)

    def build():  # type: ignore[no-untyped-def]
        from dataclasses import replace

        from osm_mesh.injector.patch import InjectorSettings
        from osm_mesh.injector.service import InjectorService, InjectorServiceSettings

        injector = InjectorSettings(
            mesh_name=args.mesh_name,
            osm_namespace=args.osm_namespace,
            trust_domain=args.trust_domain,
        )
        if args.ads_address:
            host, _, port = args.ads_address.rpartition(":")
            injector = replace(injector, ads_host=host, ads_port=int(port))
        if args.init_image:
            injector = replace(injector, init_image=args.init_image)
        if args.envoy_image:
            injector = replace(injector, envoy_image=args.envoy_image)
        settings = InjectorServiceSettings(
            injector=injector,
            mesh_config_name=args.mesh_config_name,
            ca_bundle_secret_name=args.ca_bundle_secret_name,
            webhook_config_name=args.webhook_config_name,
            webhook_port=args.webhook_port,
            webhook_timeout_seconds=args.webhook_timeout_seconds,
            http_port=args.http_port,
        )
        return InjectorService(connect(args.kubeconfig), settings)

    return run(build, "injector")


if __name__ == "__main__":
    sys.exit(main())
