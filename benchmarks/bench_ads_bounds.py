"""ADS under attack (issue 11 item 6): the controller's RSS during each attack against its
idle RSS, same run, same process.

The control plane runs in a process of its own (``tests/mesh/xds/target.py``: a 300-service
permissive mesh) so the attacker's buffers never count. Attacks, each over real gRPC and real
mutual TLS with a valid proxy certificate:

- flood: one stream sends 400,000 requests that each earn a response and never reads one
  (before the bound: 59 → 971 MiB);
- huge node ids: 100 streams at once, each with a 3 MiB node id (before: 59 → 753 MiB, never
  released);
- long node ids: the same with 1,000,000-character ids, just under the message cap, so they
  reach the node-id check.

Each of those runs twice: with one proxy's bootstrap certificate (what one compromised pod
holds: all but 4 streams are refused by the per-certificate limit before a byte is read) and
with 100 different live proxies' certificates (100 compromised pods: every stream is read, so
the message cap, the node-id check and the bounded refused-stream log do the work).

Figures: peak RSS sampled every 0.2 s during the attack and RSS after it, each against the
idle RSS measured just before; with the RSS after ``malloc_trim`` (what the C allocator keeps
but gives back when asked, as opposed to memory still referenced). Target: peak ≤ idle +
50 MiB, as for the HTTP endpoints (item 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from benchmarks import Result

MIB = 1 << 20
SERVICES = 300
TARGET_MIB = 50.0


def _sample_peak(target, attack: Callable[[], None]) -> tuple[int, int]:
    """(peak RSS while ``attack`` runs, RSS after it) of the target process."""
    peak = 0
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            attack()
        except BaseException as exc:  # reported by the caller
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while not done.is_set():
        peak = max(peak, target.call("rss")["VmRSS"])
        done.wait(0.2)
    thread.join()
    if failure:
        raise failure[0]
    time.sleep(1.0)
    after = target.call("rss")["VmRSS"]
    return max(peak, after), after


def _channel(target, boot):
    import grpc

    from tests.mesh.xds.ads_client import CONTROLLER_SAN

    creds = grpc.ssl_channel_credentials(
        boot["ca"].encode(), boot["key"].encode(), boot["cert"].encode()
    )
    return grpc.secure_channel(
        f"127.0.0.1:{target.port}",
        creds,
        options=[("grpc.ssl_target_name_override", CONTROLLER_SAN)],
    )


def flood(target, boot, requests: int = 400_000, stall_seconds: float = 5.0) -> dict[str, int]:
    """One stream, ``requests`` requests, no reads; stops when all are sent or the client
    has been held back for ``stall_seconds``."""
    from envoy.config.core.v3 import base_pb2
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    from osm_mesh.xds.cache import CLUSTER, ENDPOINT

    sent = 0
    stop = threading.Event()

    def gen():
        nonlocal sent
        yield discovery_pb2.DiscoveryRequest(
            node=base_pb2.Node(id=boot["node_id"]), type_url=CLUSTER
        )
        for i in range(requests):
            if stop.is_set():
                return
            sent += 1
            yield discovery_pb2.DiscoveryRequest(type_url=ENDPOINT, resource_names=[f"x{i % 2}"])
        stop.wait(stall_seconds)

    channel = _channel(target, boot)
    call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(gen())
    last, since = -1, time.monotonic()
    while sent < requests and time.monotonic() - since < stall_seconds:
        time.sleep(0.2)
        if sent != last:
            last, since = sent, time.monotonic()
    stop.set()
    call.cancel()
    channel.close()
    return {"sent": sent}


def refused_node_ids(target, boots: list[dict], streams: int, length: int) -> dict[str, int]:
    """``streams`` streams at once, each opening with a node id of ``length`` characters,
    presenting the certificates of ``boots`` in turn."""
    import grpc
    from envoy.config.core.v3 import base_pb2
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    from osm_mesh.xds.cache import CLUSTER

    node_id = "u." + "a" * length + ".cluster.local"
    codes: list[str] = []
    lock = threading.Lock()

    def one(boot: dict) -> None:
        channel = _channel(target, boot)
        try:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            request = discovery_pb2.DiscoveryRequest(
                node=base_pb2.Node(id=node_id), type_url=CLUSTER
            )
            try:
                for _ in stub.StreamAggregatedResources(iter([request]), timeout=60):
                    pass
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            with lock:
                codes.append(code)
        finally:
            channel.close()

    threads = [
        threading.Thread(target=one, args=(boots[i % len(boots)],), daemon=True)
        for i in range(streams)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    refused = sum(1 for c in codes if c != "OK")
    return {"refused": refused}


def run() -> list[Result]:
    from tests.mesh.xds.target import Target

    results = []
    with Target(services=SERVICES, permissive=True) as target:
        uuids = target.hello["uuids"]
        one_pod = 1
        many = 100
        attacks: list[tuple[str, int, Callable[[list[dict]], dict[str, int]]]] = [
            ("ads_flood_400k_requests_no_reads", one_pod, lambda b: flood(target, b[0])),
            (
                "ads_100_refused_streams_3MiB_node_ids_one_certificate",
                one_pod,
                lambda b: refused_node_ids(target, b, 100, 3 * MIB),
            ),
            (
                "ads_100_refused_streams_1M_char_node_ids_one_certificate",
                one_pod,
                lambda b: refused_node_ids(target, b, 100, 1_000_000 - 32),
            ),
            (
                "ads_100_refused_streams_3MiB_node_ids_100_certificates",
                many,
                lambda b: refused_node_ids(target, b, 100, 3 * MIB),
            ),
            (
                "ads_100_refused_streams_1M_char_node_ids_100_certificates",
                many,
                lambda b: refused_node_ids(target, b, 100, 1_000_000 - 32),
            ),
        ]
        next_uuid = 0
        for name, pods, attack in attacks:
            boots = [target.call("bootstrap", uuid=u) for u in uuids[next_uuid : next_uuid + pods]]
            next_uuid += pods
            idle = target.call("rss")["VmRSS"]
            info: dict[str, int] = {}

            def go(boots=boots, attack=attack, info=info) -> None:
                info.update(attack(boots))

            peak, after = _sample_peak(target, go)
            # What the allocator gives back when asked: the rest is still referenced.
            trimmed = target.call("rss", trim=True)["VmRSS"]
            growth = (peak - idle) / MIB
            detail = ", ".join(f"{k} {v}" for k, v in info.items())
            results.append(
                Result(
                    f"{name} peak RSS ({detail})",
                    peak / MIB,
                    "MiB",
                    baseline="idle RSS",
                    baseline_value=idle / MIB,
                    target=f"≤ idle + {TARGET_MIB:g} MiB",
                    met=growth <= TARGET_MIB,
                )
            )
            results.append(
                Result(
                    f"{name} RSS after ({trimmed / MIB:.1f} MiB after malloc_trim)",
                    after / MIB,
                    "MiB",
                    baseline="idle RSS",
                    baseline_value=idle / MIB,
                    target=f"≤ idle + {TARGET_MIB:g} MiB",
                    met=(after - idle) / MIB <= TARGET_MIB,
                )
            )
    return results
