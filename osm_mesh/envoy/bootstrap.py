"""Envoy bootstrap: node identity, admin endpoint, and one ADS cluster to the control plane.

Everything else (listeners, clusters, endpoints, routes, secrets) arrives over ADS. The ADS
connection is mutual TLS: Envoy presents the proxy's identity certificate and checks that the
control plane's certificate carries the controller's DNS name. ``loopback_cluster`` and
``path_listener`` are the static pieces injected pods add (metrics and probe listeners).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from osm_mesh.envoy.telemetry import bootstrap_telemetry

ADS_CLUSTER = "osm-controller"
DEFAULT_CONTROLLER_SAN = "osm-controller.osm-system.svc"


@dataclass(frozen=True)
class BootstrapTLS:
    """PEM material for the ADS connection, inline (``*_pem``) or as file paths.

    Inline PEM keeps the bootstrap self-contained (the injector puts it in a Secret, as
    upstream did); file paths keep keys out of the bootstrap for the local mesh.
    """

    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    ca_pem: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    # The client certificate and key as a file-based SDS resource (``client_cert_sds``) at
    # this path, re-read whenever its directory changes: how a renewed bootstrap certificate,
    # written to the pod's Secret, reaches a running Envoy through the mounted volume.
    cert_sds_file: str | None = None


ADS_CLIENT_SECRET = "ads-client-cert"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def client_cert_sds(cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """The content of ``BootstrapTLS.cert_sds_file``: one SDS Secret with the ADS client
    certificate and key inline (one file, so a change is never half-seen)."""
    return {
        "resources": [
            {
                "@type": SECRET_TYPE,
                "name": ADS_CLIENT_SECRET,
                "tls_certificate": {
                    "certificate_chain": {"inline_string": cert_pem.decode()},
                    "private_key": {"inline_string": key_pem.decode()},
                },
            }
        ]
    }


def _client_certificate(tls: BootstrapTLS) -> dict[str, Any]:
    if tls.cert_sds_file is not None:
        path = PurePosixPath(tls.cert_sds_file)
        source = {
            "path_config_source": {
                "path": str(path),
                "watched_directory": {"path": str(path.parent)},
            },
            "resource_api_version": "V3",
        }
        return {
            "tls_certificate_sds_secret_configs": [
                {"name": ADS_CLIENT_SECRET, "sds_config": source}
            ]
        }
    return {
        "tls_certificates": [
            {
                "certificate_chain": _data_source(tls.cert_pem, tls.cert_file),
                "private_key": _data_source(tls.key_pem, tls.key_file),
            }
        ]
    }


def _data_source(pem: bytes | None, path: str | None) -> dict[str, str]:
    if pem is not None:
        return {"inline_string": pem.decode()}
    if path is not None:
        return {"filename": path}
    raise ValueError("bootstrap TLS needs either inline PEM or a file path")


def node_id(proxy_uuid: str, service_account: str, namespace: str, trust_domain: str) -> str:
    """OSM's node id: ``<uuid>.sidecar.<sa>.<ns>.<trust-domain>`` (see xds.nodeid)."""
    return f"{proxy_uuid}.sidecar.{service_account}.{namespace}.{trust_domain}"


def bootstrap(
    *,
    node_id: str,
    cluster: str,
    ads_host: str,
    ads_port: int,
    tls: BootstrapTLS,
    admin_host: str = "127.0.0.1",
    admin_port: int = 0,
    controller_san: str = DEFAULT_CONTROLLER_SAN,
    ads_dns: bool = False,
    retry_base_seconds: float = 0.25,
    retry_max_seconds: float = 5.0,
) -> dict[str, Any]:
    """The bootstrap as a JSON-compatible dict (Envoy reads JSON as YAML).

    ``ads_dns``: resolve ``ads_host`` by DNS (a cluster Service name) instead of a literal IP.
    The short reconnect back-off lets proxies resync quickly after a control-plane restart.
    """
    endpoint = {
        "endpoint": {"address": {"socket_address": {"address": ads_host, "port_value": ads_port}}}
    }
    return {
        # osm_request_total & co. under their own names (envoy/telemetry.py).
        **bootstrap_telemetry(),
        "node": {"id": node_id, "cluster": cluster},
        # An upstream cluster's traffic stats are created on its first request, not with the
        # cluster: ~19 KiB less per cluster a sidecar never calls (docs/performance.md).
        "deferred_stat_options": {"enable_deferred_creation_stats": True},
        "admin": {"address": {"socket_address": {"address": admin_host, "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [
                    {
                        "envoy_grpc": {
                            "cluster_name": ADS_CLUSTER,
                            "retry_policy": {
                                "retry_back_off": {
                                    "base_interval": f"{retry_base_seconds}s",
                                    "max_interval": f"{retry_max_seconds}s",
                                }
                            },
                        }
                    }
                ],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {
            "clusters": [
                {
                    "name": ADS_CLUSTER,
                    "type": "LOGICAL_DNS" if ads_dns else "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": ADS_CLUSTER,
                        "endpoints": [{"lb_endpoints": [endpoint]}],
                    },
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "transport_socket": {
                        "name": "envoy.transport_sockets.tls",
                        "typed_config": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                            "sni": controller_san,
                            "common_tls_context": {
                                "alpn_protocols": ["h2"],
                                **_client_certificate(tls),
                                "validation_context": {
                                    "trusted_ca": _data_source(tls.ca_pem, tls.ca_file),
                                    "match_typed_subject_alt_names": [
                                        {"san_type": "DNS", "matcher": {"exact": controller_san}}
                                    ],
                                },
                            },
                        },
                    },
                }
            ]
        },
    }


def loopback_cluster(name: str, port: int) -> dict[str, Any]:
    """A static cluster to 127.0.0.1:``port``."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


# Envoy's HTTP/1 codec removes ``transfer-encoding`` before routing, so a chunked body cannot
# be matched by a header rule: this filter refuses any request that carries body data.
NO_BODY_FILTER: dict[str, Any] = {
    "name": "envoy.filters.http.lua",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "default_source_code": {
            "inline_string": (
                "function envoy_on_request(request)\n"
                "  local body = request:body()\n"
                "  if body ~= nil and body:length() > 0 then\n"
                '    request:respond({[":status"] = "400"}, "this port takes no request body\\n")\n'
                "  end\n"
                "end\n"
            )
        },
    },
}


def path_listener(
    *,
    name: str,
    port: int,
    stat_prefix: str,
    route_name: str,
    vhost_name: str,
    path: str,
    cluster: str,
) -> dict[str, Any]:
    """A plain-HTTP listener on 0.0.0.0:``port`` forwarding exactly ``path`` to ``cluster``.

    Only ``GET`` and ``HEAD`` without a body pass (what kubelets and Prometheus send);
    another path or method, or a ``content-length`` header, gets 404; a chunked body 400
    (``NO_BODY_FILTER``). The port skips mTLS and RBAC, so it must carry nothing an attacker
    could use to change the app's state.
    """
    no_body = [{"name": "content-length", "present_match": True, "invert_match": True}]
    routes = [
        {
            "match": {
                "path": path,
                "headers": [{"name": ":method", "string_match": {"exact": method}}, *no_body],
            },
            "route": {"cluster": cluster},
        }
        for method in ("GET", "HEAD")
    ]
    return {
        "name": name,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": stat_prefix,
                            "route_config": {
                                "name": route_name,
                                "virtual_hosts": [
                                    {
                                        "name": vhost_name,
                                        "domains": ["*"],
                                        "routes": routes,
                                    }
                                ],
                            },
                            "http_filters": [
                                NO_BODY_FILTER,
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/"
                                        "envoy.extensions.filters.http.router.v3.Router"
                                    },
                                },
                            ],
                        },
                    }
                ]
            }
        ],
    }


def to_json(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True)
