"""Decode the few Kubernetes protobuf bodies clients actually send us.

helm (client-go) writes its release records (Secrets, or ConfigMaps with the
configmap driver) with `Content-Type: application/vnd.kubernetes.protobuf`,
and does not fall back to JSON. Everything else it sends is JSON or YAML. So
this decodes the `k8s\\0` envelope (runtime.Unknown) and the Secret, ConfigMap
and ObjectMeta messages into their JSON form, using field numbers from
k8s.io/api's generated.proto. Unknown kinds get 415 as before.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

MAGIC = b"k8s\x00"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs; length-delimited values are bytes."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, data[pos : pos + length]
            pos += length
        elif wire == 1:
            yield number, int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
        elif wire == 5:
            yield number, int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _map_entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, raw in fields(data):
        if number == 1 and isinstance(raw, bytes):
            key = raw.decode()
        elif number == 2 and isinstance(raw, bytes):
            value = raw
    return key, value


def _time(data: bytes) -> str:
    seconds = next((v for n, v in fields(data) if n == 1 and isinstance(v, int)), 0)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_META_STRINGS = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
_OWNER_FIELDS = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}


def object_meta(data: bytes) -> dict:
    meta: dict = {}
    for number, raw in fields(data):
        if number in _META_STRINGS and isinstance(raw, bytes):
            if raw:
                meta[_META_STRINGS[number]] = raw.decode()
        elif number == 7 and isinstance(raw, int):
            meta["generation"] = raw
        elif number == 8 and isinstance(raw, bytes):
            meta["creationTimestamp"] = _time(raw)
        elif number in (11, 12) and isinstance(raw, bytes):
            key, value = _map_entry(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value.decode()
        elif number == 13 and isinstance(raw, bytes):
            ref: dict = {}
            for n, v in fields(raw):
                if n in _OWNER_FIELDS and isinstance(v, bytes):
                    ref[_OWNER_FIELDS[n]] = v.decode()
                elif n in (6, 7) and isinstance(v, int):
                    ref["controller" if n == 6 else "blockOwnerDeletion"] = bool(v)
            meta.setdefault("ownerReferences", []).append(ref)
        elif number == 14 and isinstance(raw, bytes):
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def _secret(data: bytes) -> dict:
    obj: dict = {"apiVersion": "v1", "kind": "Secret"}
    for number, raw in fields(data):
        if number == 1 and isinstance(raw, bytes):
            obj["metadata"] = object_meta(raw)
        elif number == 2 and isinstance(raw, bytes):
            key, value = _map_entry(raw)
            obj.setdefault("data", {})[key] = base64.b64encode(value).decode()
        elif number == 3 and isinstance(raw, bytes):
            obj["type"] = raw.decode()
        elif number == 4 and isinstance(raw, bytes):
            key, value = _map_entry(raw)
            obj.setdefault("stringData", {})[key] = value.decode()
        elif number == 5 and isinstance(raw, int):
            obj["immutable"] = bool(raw)
    return obj


def _configmap(data: bytes) -> dict:
    obj: dict = {"apiVersion": "v1", "kind": "ConfigMap"}
    for number, raw in fields(data):
        if number == 1 and isinstance(raw, bytes):
            obj["metadata"] = object_meta(raw)
        elif number in (2, 3) and isinstance(raw, bytes):
            key, value = _map_entry(raw)
            if number == 2:
                obj.setdefault("data", {})[key] = value.decode()
            else:
                obj.setdefault("binaryData", {})[key] = base64.b64encode(value).decode()
        elif number == 4 and isinstance(raw, int):
            obj["immutable"] = bool(raw)
    return obj


DECODERS = {("v1", "Secret"): _secret, ("v1", "ConfigMap"): _configmap}


def decode(body: bytes) -> dict | None:
    """The JSON form of a protobuf-encoded object, or None when the kind is not supported."""
    if not body.startswith(MAGIC):
        return None
    api_version = kind = ""
    raw = b""
    for number, value in fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for n, v in fields(value):
                if n == 1 and isinstance(v, bytes):
                    api_version = v.decode()
                elif n == 2 and isinstance(v, bytes):
                    kind = v.decode()
        elif number == 2 and isinstance(value, bytes):
            raw = value
    decoder = DECODERS.get((api_version, kind))
    return decoder(raw) if decoder else None
