"""A real Envoy with a small static config, standing in for a meshed pod's sidecar.

Its admin port is what the emulator's port-forward bridges ``<pod>:15000`` to, so
``osm proxy get`` and the bug report read a real Envoy's answers.
"""

from __future__ import annotations

import datetime
import socket
from pathlib import Path
from typing import Any

from osm_mesh.envoy.process import EnvoyProcess

LISTENER = "inbound-listener"
ROUTE = "rds-inbound"
CLUSTER = "bookstore/bookstore-v1|14001"
SECRET = "service-cert:bookstore/bookstore"
DOMAIN = "bookstore.bookstore.svc.cluster.local"


def self_signed() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bookstore.bookstore")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bootstrap(key_pem: str, cert_pem: str) -> dict[str, Any]:
    return {
        "node": {"id": "bookstore-v1", "cluster": "bookstore"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": LISTENER,
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": _free_port()}
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters."
                                        "network.http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "inbound",
                                        "route_config": {
                                            "name": ROUTE,
                                            "virtual_hosts": [
                                                {
                                                    "name": "bookstore",
                                                    "domains": [DOMAIN],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "route": {"cluster": CLUSTER},
                                                        }
                                                    ],
                                                }
                                            ],
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy.extensions."
                                                    "filters.http.router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": CLUSTER,
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": 14001,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
            "secrets": [
                {
                    "name": SECRET,
                    "tls_certificate": {
                        "certificate_chain": {"inline_string": cert_pem},
                        "private_key": {"inline_string": key_pem},
                    },
                }
            ],
        },
    }


def start_envoy(workdir: Path) -> tuple[EnvoyProcess, str]:
    """A started Envoy and the private key PEM it holds (to prove it is never shown)."""
    cert_pem, key_pem = self_signed()
    envoy = EnvoyProcess(bootstrap(key_pem, cert_pem), workdir, name="sidecar").start()
    envoy.wait_ready()
    return envoy, key_pem


def admin_port(envoy: EnvoyProcess) -> int:
    assert envoy.admin_url is not None
    return int(envoy.admin_url.rsplit(":", 1)[1])
