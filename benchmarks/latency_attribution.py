"""Where the mesh's extra CPU per request goes: the floor of bench_latency with one feature of
the sidecars added at a time (static configs), against our real sidecars.

    python -m benchmarks.latency_attribution [ROUNDS]

floor → + mTLS between the two Envoys (client certificate, SPIFFE SAN checks, as ours) →
+ RBAC on the server (principal + path regex + method, as a TrafficTarget gives) →
+ x-forwarded-client-cert and path normalization (as our HTTP connection managers) → mesh.
Each variant is driven by fortio at 1,000 req/s over 16 connections for 5 s per round, the
variants in rotation; printed: median CPU and run-queue wait of both Envoys per request, p50.
Not part of `make bench` (docs/performance.md quotes its output).
"""

from __future__ import annotations

import copy
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_latency import fortio_binary, fortio_server, load, static_envoy

NS = "attr"
TD = "cluster.local"
RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."


def _hcm(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def _tls_context(cert: Any, *, san: dict[str, Any]) -> dict[str, Any]:
    return {
        "tls_certificates": [
            {
                "certificate_chain": {"inline_string": cert.cert_pem.decode()},
                "private_key": {"inline_string": cert.key_pem.decode()},
            }
        ],
        "validation_context": {
            "trusted_ca": {"inline_string": cert.ca_pem.decode()},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": san}],
        },
    }


def with_mtls(client: dict[str, Any], server: dict[str, Any], ccert: Any, scert: Any) -> None:
    server_uri = f"spiffe://{TD}/ns/{NS}/sa/api"
    client["static_resources"]["clusters"][0]["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS + "UpstreamTlsContext",
            "sni": f"api.{NS}.svc.cluster.local",
            "common_tls_context": _tls_context(ccert, san={"exact": server_uri}),
        },
    }
    server["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS + "DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": _tls_context(scert, san={"prefix": f"spiffe://{TD}/"}),
        },
    }


def with_rbac(server: dict[str, Any]) -> None:
    policy = {
        "principals": [
            {"authenticated": {"principal_name": {"exact": f"spiffe://{TD}/ns/{NS}/sa/load"}}}
        ],
        "permissions": [
            {
                "and_rules": {
                    "rules": [
                        {"url_path": {"path": {"safe_regex": {"regex": "(?:/echo).*"}}}},
                        {
                            "header": {
                                "name": ":method",
                                "string_match": {"safe_regex": {"regex": "GET"}},
                            }
                        },
                    ]
                }
            }
        ],
    }
    rbac = {
        "name": "envoy.filters.http.rbac",
        "typed_config": {"@type": RBAC, "rules": {"policies": {"t": policy}}},
    }
    _hcm(server)["http_filters"].insert(0, rbac)


def with_headers(client: dict[str, Any], server: dict[str, Any]) -> None:
    for config in (client, server):
        hcm = _hcm(config)
        hcm.update(
            normalize_path=True,
            merge_slashes=True,
            path_with_escaped_slashes_action="UNESCAPE_AND_FORWARD",
        )
    _hcm(server).update(
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
    )


def main(rounds: int) -> None:
    from osm_mesh.catalog import Identity
    from osm_mesh.certs import CertificateAuthority
    from osm_mesh.envoy.process import EnvoyProcess
    from tests.e2e_envoy.harness import free_loopback_base

    fortio = fortio_binary()
    ca = CertificateAuthority.create()
    ccert = ca.issue(Identity(NS, "load"), trust_domain=TD)
    scert = ca.issue(Identity(NS, "api"), trust_domain=TD)
    base = free_loopback_base()
    app_at = (f"{base}.250", 8080)
    variants: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for i, name in enumerate(("floor", "+ mTLS", "+ RBAC", "+ XFCC, path normalization")):
        client_at, server_at = (f"{base}.{2 * i + 1}", 15001), (f"{base}.{2 * i + 2}", 15003)
        client, server = static_envoy(client_at, server_at), static_envoy(server_at, app_at)
        if i >= 1:
            with_mtls(client, server, ccert, scert)
        if i >= 2:
            with_rbac(server)
        if i >= 3:
            with_headers(client, server)
        variants[name] = (copy.deepcopy(client), copy.deepcopy(server))
    app = fortio_server(fortio, *app_at)
    envoys: list[EnvoyProcess] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for i, (name, (client, server)) in enumerate(variants.items()):
                pair = [
                    EnvoyProcess(server, Path(tmp), name=f"s{i}").start(),
                    EnvoyProcess(client, Path(tmp), name=f"c{i}").start(),
                ]
                envoys += pair
                listen = client["static_resources"]["listeners"][0]["address"]["socket_address"]
                url = f"http://{listen['address']}:{listen['port_value']}/echo"
                paths[name] = (url, [e.pid for e in pair if e.pid is not None])
            for url, pids in paths.values():
                warm = load(fortio, url, "api", pids, seconds=1)
                assert not warm["errors"] and warm["count"], (url, warm)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
            for _ in range(rounds):
                for name, (url, pids) in paths.items():
                    runs[name].append(load(fortio, url, "api", pids, seconds=5))
    finally:
        for envoy in envoys:
            envoy.stop()
        app.terminate()
        app.wait(5)
    print(f"{'variant':32s} {'CPU µs/req':>10s} {'wait µs/req':>11s} {'p50 ms':>7s}  load")
    for name, results in runs.items():

        def med(key: str, of: list[dict[str, Any]] = results) -> float:
            return statistics.median(r[key] for r in of)

        p50 = statistics.median(r["ms"][50.0] for r in results)
        loads = ", ".join(f"{r['load']:.1f}" for r in results)
        print(f"{name:32s} {med('cpu_us'):10.0f} {med('wait_us'):11.0f} {p50:7.3f}  {loads}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
