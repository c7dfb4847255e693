"""The floor under ``bench_controlplane_memory``: what one idle ADS connection costs a bare
``grpc.aio`` server, with mutual TLS (as every proxy connects) and in plaintext.

A server process of its own (this module with ``--serve``) runs grpc.aio with the same options as
``osm_mesh.xds.server`` and an ADS servicer that only reads its stream: no mesh, no snapshots,
no per-stream protocol state. A client process opens N connections (a local subchannel pool
each, so gRPC cannot share them), one StreamAggregatedResources stream and one request on each,
the way N proxies would. The server's RSS once all N streams are open, minus its RSS before,
divided by N, is the memory gRPC itself spends per connected proxy: the part of
``bench_controlplane_memory``'s per-proxy figure no mesh code can save.

``python -m benchmarks.bench_grpc_connection_memory [--connections N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import Result

CONNECTIONS = 2000
SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.http2.bdp_probe", 0),
    ("grpc.max_receive_message_length", 1 << 20),
]


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _raise_open_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(tls: dict[str, str] | None, connections: int) -> None:
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc

    opened = 0
    all_open = asyncio.Event()

    class Servicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
        async def StreamAggregatedResources(self, request_iterator, context):
            nonlocal opened
            async for _request in request_iterator:
                opened += 1
                if opened == connections:
                    all_open.set()
            return
            yield  # an async generator that never answers

    server = grpc.aio.server(options=SERVER_OPTIONS)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(Servicer(), server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        creds = grpc.ssl_server_credentials(
            [(tls["key"].encode(), tls["cert"].encode())],
            root_certificates=tls["ca"].encode(),
            require_client_auth=True,
        )
        port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    print(json.dumps({"port": port, "rss": _rss()}), flush=True)
    await asyncio.wait_for(all_open.wait(), timeout=900)
    await asyncio.sleep(2)  # let the last handshakes' buffers settle
    print(json.dumps({"rss": _rss(), "opened": opened}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await server.stop(None)


async def _connect(port: int, tls: dict[str, str] | None, connections: int) -> None:
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    options: list[tuple[str, Any]] = [("grpc.use_local_subchannel_pool", 1)]
    if tls is not None:
        creds = grpc.ssl_channel_credentials(
            root_certificates=tls["ca"].encode(),
            private_key=tls["key"].encode(),
            certificate_chain=tls["cert"].encode(),
        )
        options.append(("grpc.ssl_target_name_override", "ads.bench"))
    channels, calls = [], []
    for i in range(connections):
        target = f"127.0.0.1:{port}"
        if tls is None:
            channel = grpc.aio.insecure_channel(target, options=options)
        else:
            channel = grpc.aio.secure_channel(target, creds, options=options)
        channels.append(channel)
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
        await call.write(discovery_pb2.DiscoveryRequest(type_url="bench", version_info=str(i)))
        calls.append(call)
    print(json.dumps({"connected": len(calls)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    for channel in channels:
        await channel.close()


def _credentials() -> dict[str, str]:
    from osm_mesh.certs import CertificateAuthority

    ca = CertificateAuthority.create()
    leaf = ca.issue_for_names(
        common_name="ads.bench", dns_names=["ads.bench"], validity=dt.timedelta(hours=1)
    )
    return {
        "ca": ca.cert_pem.decode(),
        "cert": leaf.cert_pem.decode(),
        "key": leaf.key_pem.decode(),
    }


def measure(tls: bool, connections: int, workdir: Path) -> dict[str, Any]:
    """The server's RSS before and with ``connections`` idle ADS streams open."""
    creds_file = workdir / "tls.json"
    if tls and not creds_file.exists():
        creds_file.write_text(json.dumps(_credentials()))
    base = [sys.executable, "-m", "benchmarks.bench_grpc_connection_memory"]
    common = ["--connections", str(connections)] + (["--tls", str(creds_file)] if tls else [])
    cwd = Path(__file__).parents[1]
    pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    server = subprocess.Popen([*base, "--serve", *common], cwd=cwd, **pipes)
    client = None
    try:
        started = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        argv = [*base, "--connect", str(started["port"]), *common]
        client = subprocess.Popen(argv, cwd=cwd, **pipes)
        measured = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        assert measured["opened"] == connections, measured
        return {"idle": started["rss"], "rss": measured["rss"], "load": os.getloadavg()[0]}
    finally:
        for proc in (client, server):
            if proc is not None:
                proc.stdin.close()  # type: ignore[union-attr]
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run(connections: int = CONNECTIONS) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        tls = measure(True, connections, Path(tmp))
        plain = measure(False, connections, Path(tmp))

    def per(m: dict[str, Any]) -> float:
        return (m["rss"] - m["idle"]) / connections / 1024

    return [
        Result(
            f"bare grpc.aio server: RSS per idle ADS connection, mutual TLS, {connections:,} "
            f"connections (load {tls['load']:.1f})",
            per(tls),
            "KiB",
            baseline="the same in plaintext",
            baseline_value=per(plain),
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--tls", type=Path, help="credentials JSON (ca, cert, key)")
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--serve", action="store_true")
    role.add_argument("--connect", type=int, metavar="PORT")
    args = parser.parse_args()
    credentials = json.loads(args.tls.read_text()) if args.tls else None
    if args.serve or args.connect:
        _raise_open_files()
        if args.serve:
            asyncio.run(_serve(credentials, args.connections))
        else:
            asyncio.run(_connect(args.connect, credentials, args.connections))
        raise SystemExit(0)
    from benchmarks.__main__ import format_result

    for result in run(args.connections):
        print(format_result(result), flush=True)
