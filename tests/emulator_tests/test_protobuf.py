"""Decoding the protobuf Secrets helm writes (field numbers from k8s.io/api generated.proto)."""

from __future__ import annotations

from tests.emulator.protobuf import decode


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _entry(number: int, key: str, value: bytes | str) -> bytes:
    return _field(number, _field(1, key) + _field(2, value))


def test_decodes_a_helm_release_secret():
    meta = (
        _field(1, "sh.helm.release.v1.osm.v1")
        + _field(3, "osm-system")
        + _entry(11, "owner", "helm")
        + _entry(11, "status", "deployed")
        + _field(7, 3)
    )
    secret = (
        _field(1, meta)
        + _entry(2, "release", b"\x00\xffbinary")
        + _field(3, "helm.sh/release.v1")
        + _field(5, 1)
    )
    envelope = b"k8s\x00" + _field(1, _field(1, "v1") + _field(2, "Secret")) + _field(2, secret)
    assert decode(envelope) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "sh.helm.release.v1.osm.v1",
            "namespace": "osm-system",
            "labels": {"owner": "helm", "status": "deployed"},
            "generation": 3,
        },
        "data": {"release": "AP9iaW5hcnk="},
        "type": "helm.sh/release.v1",
        "immutable": True,
    }


def test_unknown_kinds_and_non_protobuf_are_not_decoded():
    envelope = b"k8s\x00" + _field(1, _field(1, "apps/v1") + _field(2, "Deployment"))
    assert decode(envelope) is None
    assert decode(b'{"kind": "Secret"}') is None
