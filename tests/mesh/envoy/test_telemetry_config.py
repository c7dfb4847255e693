"""The request metrics as Envoy receives them, in full (found unchecked by mutation testing):
the access logger on the inbound connection manager, the duration histogram's labels and
unit, and the no-op Wasm module read section by section as a Wasm engine reads it."""

from __future__ import annotations

import datetime as dt

from osm_mesh.catalog import Identity
from osm_mesh.catalog.model import Pod
from osm_mesh.certs import CertificateAuthority
from osm_mesh.envoy import names
from osm_mesh.envoy.telemetry import _leb128, noop_wasm_module, request_stats_logger
from osm_mesh.envoy.translate import TranslateOptions, translate
from tests.mesh.envoy.test_translate import NS, as_json, catalog, proxy_of

DESTINATION = [
    {"name": "destination_namespace", "valueFormat": "shop"},
    {"name": "destination_kind", "valueFormat": "Deployment"},
    {"name": "destination_name", "valueFormat": "api"},
]
SOURCE = {"name": "source_identity", "valueFormat": "%DOWNSTREAM_PEER_URI_SAN%"}
ROUTE = {"name": "route", "valueFormat": "%ROUTE_NAME%"}


def test_the_inbound_connection_manager_logs_both_metrics_with_their_labels():
    cat = catalog()
    cert = CertificateAuthority.create().issue(Identity(NS, "api"), validity=dt.timedelta(hours=1))
    res = translate(cat, proxy_of(cat, "api"), TranslateOptions(), cert)
    chains = as_json(res.listeners[names.INBOUND_LISTENER])["filterChains"]
    http = next(c for c in chains if "inbound-http" in c["name"])
    (log,) = http["filters"][-1]["typedConfig"]["accessLog"]
    assert log == as_json(request_stats_logger(next(p for p in cat.pods if p.deployment == "api")))
    assert log["name"] == "envoy.access_loggers.stats"
    config = log["typedConfig"]
    assert config["statPrefix"] == "wasmcustom"
    assert config["counters"] == [
        {
            "stat": {
                "name": "osm_request_total",
                "tags": [
                    {"name": "response_code", "valueFormat": "%RESPONSE_CODE%"},
                    SOURCE,
                    *DESTINATION,
                    ROUTE,
                ],
            },
            "valueFixed": "1",
        }
    ]
    # The p99 Flagger computes is over these labels, in milliseconds.
    assert config["histograms"] == [
        {
            "stat": {"name": "osm_request_duration_ms", "tags": [SOURCE, *DESTINATION, ROUTE]},
            "unit": "Milliseconds",
            "valueFormat": "%DURATION%",
        }
    ]


def test_a_percent_sign_in_a_name_is_a_literal_not_a_format_command():
    """Tag values are access-log formats: a name's '%' is doubled so Envoy prints it as is."""
    log = as_json(request_stats_logger(Pod("a%b", "p", deployment="d%%e")))
    tags = {t["name"]: t["valueFormat"] for t in log["typedConfig"]["counters"][0]["stat"]["tags"]}
    assert tags["destination_namespace"] == "a%%b"
    assert tags["destination_name"] == "d%%%%e"


class Reader:
    """Wasm's binary format, strictly: unsigned LEB128 numbers, vectors as count + items."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        assert self.at < len(self.data), "read past the end"
        self.at += 1
        return self.data[self.at - 1]

    def number(self) -> int:
        value, shift = 0, 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def take(self, n: int) -> bytes:
        assert self.at + n <= len(self.data), "read past the end"
        self.at += n
        return self.data[self.at - n : self.at]

    def name(self) -> str:
        return self.take(self.number()).decode()

    def done(self) -> bool:
        return self.at == len(self.data)


def read_module(module: bytes) -> dict[str, object]:
    r = Reader(module)
    assert r.take(8) == b"\x00asm\x01\x00\x00\x00"
    out: dict[str, object] = {}
    while not r.done():
        section, body = r.byte(), Reader(r.take(r.number()))
        count = body.number()
        if section == 1:  # types: 0x60, params, results
            types = []
            for _ in range(count):
                assert body.byte() == 0x60
                params = list(body.take(body.number()))
                types.append((params, list(body.take(body.number()))))
            out["types"] = types
        elif section == 3:  # functions: a type index each
            out["functions"] = [body.number() for _ in range(count)]
        elif section == 5:  # memories: limits flag, minimum pages
            memories = []
            for _ in range(count):
                assert body.byte() == 0
                memories.append(body.number())
            out["memories"] = memories
        elif section == 7:  # exports: name, kind, index
            out["exports"] = {body.name(): (body.byte(), body.number()) for _ in range(count)}
        elif section == 10:  # code: one sized body per function
            out["code"] = [body.take(body.number()) for _ in range(count)]
        else:
            raise AssertionError(f"unexpected section {section}")
        assert body.done(), f"section {section} has bytes its counts do not account for"
    return out


def test_the_wasm_module_is_what_envoy_needs_and_nothing_more():
    """One memory of one page, the ABI marker () -> () and the allocator (i32) -> i32, each
    with its body; exported under the names proxy-wasm looks up, nothing imported."""
    I32 = 0x7F
    module = read_module(noop_wasm_module())
    assert module["types"] == [([], []), ([I32], [I32])]
    assert module["functions"] == [0, 1]
    assert module["memories"] == [1]
    FUNC, MEMORY = 0, 2
    assert module["exports"] == {
        "memory": (MEMORY, 0),
        "proxy_abi_version_0_2_1": (FUNC, 0),
        "proxy_on_memory_allocate": (FUNC, 1),
    }
    code = module["code"]
    assert isinstance(code, list) and len(code) == len(module["functions"])  # type: ignore[arg-type]
    assert all(body.endswith(b"\x0b") for body in code)  # each ends with `end`


def test_the_modules_numbers_are_unsigned_leb128_at_any_size():
    """Wasm's encoding of every count and size (known answers from the spec's definition):
    a module that grows past 127 bytes in a section must still be read right."""
    assert _leb128(0) == b"\x00"
    assert _leb128(127) == b"\x7f"
    assert _leb128(128) == b"\x80\x01"
    assert _leb128(624485) == b"\xe5\x8e\x26"
    for n in (1, 200, 16384, 2**32 - 1):
        assert Reader(_leb128(n)).number() == n
