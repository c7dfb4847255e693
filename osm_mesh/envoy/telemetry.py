"""The per-request metrics every sidecar exposes: ``osm_request_total`` and
``osm_request_duration_ms``, labelled as Flagger's OSM provider queries them.

Upstream OSM produced these with a WebAssembly stats filter. Here Envoy's own stats access
logger (``envoy.access_loggers.stats``) counts every request the sidecar's inbound listener
answers, with the destination's workload as fixed tags (the control plane knows the pod it
configures) and the response code and the client's identity as per-request tags. Nothing
runs per request but Envoy's native stats code.

Envoy names every stat ``envoy_<name>`` in Prometheus output, except under a *custom stat
namespace*, which only a Wasm extension registers. So each bootstrap carries a Wasm service
whose module does nothing (:func:`noop_wasm_module`: two exported functions, no imports, no
code that runs per request): loading it registers the namespace ``wasmcustom``, and the
logger's stats, created under that prefix, come out as exactly ``osm_request_total{...}``.
Cost, measured (docs/diagnostics.md): ~2.6 MiB of private memory per sidecar for the V8
engine, no measurable start-up CPU.

Labels: ``response_code``, ``source_identity`` (the client's SPIFFE ID from its mTLS
certificate), ``destination_namespace``, ``destination_kind`` (``Deployment``, else ``Pod``),
``destination_name``, ``route`` (the HTTPRouteGroup match the request met, ``[default]`` if
none: ``inbound.inbound_routes``). No pod name: replicas of a workload share one inbound
listener (the translator builds it once), and Prometheus adds the scraped pod as a label.
Flagger's queries: ``osm_request_total{destination_namespace, destination_kind="Deployment",
destination_name, response_code!~"5.*"}`` and the p99 of ``osm_request_duration_ms_bucket``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from google.protobuf import wrappers_pb2

from osm_mesh.envoy.pb import pack

if TYPE_CHECKING:
    from osm_mesh.catalog.model import Pod

STAT_NAMESPACE = "wasmcustom"
REQUEST_TOTAL = "osm_request_total"
REQUEST_DURATION = "osm_request_duration_ms"
# Finer than Envoy's default buckets (0.5, 1, 5, 10, 25, ...) where mesh latencies live, so
# p50/p95/p99 interpolate within a few milliseconds.
DURATION_BUCKETS_MS = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000,
    10000, 30000, 60000,
)  # fmt: skip
DESTINATION_LABELS = ("destination_namespace", "destination_kind", "destination_name")


def workload_of(pod: Pod) -> tuple[str, str]:
    """(kind, name) of the workload a pod belongs to, as the labels spell it."""
    if pod.deployment:
        return "Deployment", pod.deployment
    return "Pod", pod.name


def _literal(value: str) -> str:
    # Tag values are access-log format strings: a literal '%' must be doubled.
    return value.replace("%", "%%")


def request_stats_logger(pod: Pod) -> accesslog_pb2.AccessLog:
    """The inbound HTTP connection manager's access logger producing both metrics."""
    kind, name = workload_of(pod)
    destination = [
        stats_pb2.Config.Tag(name="destination_namespace", value_format=_literal(pod.namespace)),
        stats_pb2.Config.Tag(name="destination_kind", value_format=kind),
        stats_pb2.Config.Tag(name="destination_name", value_format=_literal(name)),
    ]
    source = stats_pb2.Config.Tag(name="source_identity", value_format="%DOWNSTREAM_PEER_URI_SAN%")
    code = stats_pb2.Config.Tag(name="response_code", value_format="%RESPONSE_CODE%")
    route = stats_pb2.Config.Tag(name="route", value_format="%ROUTE_NAME%")
    config = stats_pb2.Config(
        stat_prefix=STAT_NAMESPACE,
        counters=[
            stats_pb2.Config.Counter(
                stat=stats_pb2.Config.Stat(
                    name=REQUEST_TOTAL, tags=[code, source, *destination, route]
                ),
                value_fixed=wrappers_pb2.UInt64Value(value=1),
            )
        ],
        histograms=[
            stats_pb2.Config.Histogram(
                stat=stats_pb2.Config.Stat(
                    name=REQUEST_DURATION, tags=[source, *destination, route]
                ),
                unit=stats_pb2.Config.Histogram.Milliseconds,
                value_format="%DURATION%",
            )
        ],
    )
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.stats", typed_config=pack(config))


# -- bootstrap ----------------------------------------------------------------------------


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + _leb128(len(body)) + body


def _name(text: str) -> bytes:
    return _leb128(len(text)) + text.encode()


def noop_wasm_module() -> bytes:
    """A valid proxy-wasm module that does nothing: memory, the ABI marker and an allocator.

    Envoy requires an exported ``proxy_abi_version_*`` function and an allocator
    (``proxy_on_memory_allocate``); every other callback is optional and absent, so no code of
    it ever runs. 106 bytes.
    """
    types = _leb128(2) + b"\x60\x00\x00" + b"\x60\x01\x7f\x01\x7f"  # () -> (), (i32) -> i32
    functions = _leb128(2) + b"\x00\x01"
    memory = _leb128(1) + b"\x00\x01"  # one 64 KiB page, no maximum
    exports = (
        _leb128(3)
        + _name("memory") + b"\x02\x00"
        + _name("proxy_abi_version_0_2_1") + b"\x00\x00"
        + _name("proxy_on_memory_allocate") + b"\x00\x01"
    )  # fmt: skip
    abi_marker = b"\x00\x0b"  # no locals; end
    allocate = b"\x00\x41\x80\x08\x0b"  # no locals; i32.const 1024; end
    code = _leb128(2) + _leb128(len(abi_marker)) + abi_marker + _leb128(len(allocate)) + allocate
    return (
        b"\x00asm\x01\x00\x00\x00"
        + _section(1, types)
        + _section(3, functions)
        + _section(5, memory)
        + _section(7, exports)
        + _section(10, code)
    )


def bootstrap_telemetry() -> dict[str, Any]:
    """Bootstrap fields: the stat namespace registration and the duration buckets."""
    module = base64.b64encode(noop_wasm_module()).decode()
    return {
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                    # One VM on the main thread, not one per worker.
                    "singleton": True,
                    "config": {
                        "name": "osm-stat-namespace",
                        "vm_config": {
                            "runtime": "envoy.wasm.runtime.v8",
                            "code": {"local": {"inline_bytes": module}},
                        },
                    },
                },
            }
        ],
        "stats_config": {
            "histogram_bucket_settings": [
                {
                    "match": {"prefix": f"{STAT_NAMESPACE}.{REQUEST_DURATION}"},
                    "buckets": list(DURATION_BUCKETS_MS),
                }
            ]
        },
    }
