"""The request-metrics config by value (real Envoy runs it in tests/mesh/local/
test_request_metrics.py and tests/e2e_envoy/test_flagger.py)."""

from __future__ import annotations

from envoy.extensions.access_loggers.stats.v3 import stats_pb2

from osm_mesh.catalog.model import Pod
from osm_mesh.envoy.bootstrap import BootstrapTLS, bootstrap
from osm_mesh.envoy.telemetry import (
    STAT_NAMESPACE,
    noop_wasm_module,
    request_stats_logger,
    workload_of,
)


def _tags(pod: Pod) -> dict[str, str]:
    config = stats_pb2.Config()
    request_stats_logger(pod).typed_config.Unpack(config)
    assert config.stat_prefix == STAT_NAMESPACE
    [counter] = config.counters
    assert counter.stat.name == "osm_request_total" and counter.value_fixed.value == 1
    [histogram] = config.histograms
    assert histogram.stat.name == "osm_request_duration_ms"
    assert histogram.value_format == "%DURATION%"
    return {t.name: t.value_format for t in counter.stat.tags}


def test_labels_name_the_pods_deployment():
    tags = _tags(Pod("shop", "api-7d9-x2", deployment="api"))
    assert tags == {
        "response_code": "%RESPONSE_CODE%",
        "source_identity": "%DOWNSTREAM_PEER_URI_SAN%",
        "destination_namespace": "shop",
        "destination_kind": "Deployment",
        "destination_name": "api",
        "route": "%ROUTE_NAME%",
    }


def test_a_bare_pod_is_its_own_workload():
    assert workload_of(Pod("shop", "debug")) == ("Pod", "debug")
    assert _tags(Pod("shop", "debug"))["destination_kind"] == "Pod"


def test_the_wasm_module_is_tiny_and_exports_only_the_abi():
    module = noop_wasm_module()
    assert module.startswith(b"\x00asm\x01\x00\x00\x00") and len(module) == 106
    for export in (b"memory", b"proxy_abi_version_0_2_1", b"proxy_on_memory_allocate"):
        assert export in module
    # No imports section (id 2): the module cannot call into Envoy at all.
    sections, i = [], 8
    while i < len(module):
        sections.append(module[i])
        size, shift, i = 0, 0, i + 1
        while True:
            byte = module[i]
            size |= (byte & 0x7F) << shift
            shift, i = shift + 7, i + 1
            if not byte & 0x80:
                break
        i += size
    assert sections == [1, 3, 5, 7, 10]


def test_every_bootstrap_registers_the_namespace_and_buckets():
    config = bootstrap(
        node_id="n",
        cluster="c",
        ads_host="127.0.0.1",
        ads_port=1,
        tls=BootstrapTLS(cert_pem=b"x", key_pem=b"y", ca_pem=b"z"),
    )
    [extension] = config["bootstrap_extensions"]
    assert extension["typed_config"]["singleton"] is True
    [buckets] = config["stats_config"]["histogram_bucket_settings"]
    assert buckets["match"]["prefix"] == "wasmcustom.osm_request_duration_ms"
