from __future__ import annotations

import random
import socket

import pytest

from osm_mesh.errors import Conflict, InvalidInput
from osm_mesh.local.addresses import (
    ADS_PORT,
    ENVOY_ADMIN_PORT,
    claim_block,
    port_free,
)


def test_two_claims_never_share_a_block():
    # Same random sequence for both: the second must notice the first's claim and move on.
    first = claim_block(3, rng=random.Random(7))
    try:
        second = claim_block(3, rng=random.Random(7))
        try:
            assert first.prefix != second.prefix
            assert first.pod_ip(0) != second.pod_ip(0)
        finally:
            second.release()
    finally:
        first.release()


def test_a_claimed_block_is_refused_and_freed_on_release():
    block = claim_block(1)
    with pytest.raises(Conflict, match="in use"):
        claim_block(1, prefix=block.prefix)
    block.release()
    again = claim_block(1, prefix=block.prefix)
    again.release()


def test_a_busy_pod_port_is_detected():
    block = claim_block(2)
    prefix = block.prefix
    block.release()
    squatter = socket.socket()
    squatter.bind((f"{prefix}.2", ENVOY_ADMIN_PORT))
    squatter.listen(1)
    try:
        with pytest.raises(Conflict, match=rf"{prefix}\.2:{ENVOY_ADMIN_PORT} is already in use"):
            claim_block(2, prefix=prefix)
    finally:
        squatter.close()


def test_addresses_of_a_block():
    with claim_block(2) as block:
        assert block.pod_ip(0) == f"{block.prefix}.1"
        assert block.control_plane_ip == f"{block.prefix}.254"
        assert block.cidr == f"{block.prefix}.0/24"
        assert port_free(block.control_plane_ip, ADS_PORT)
        with pytest.raises(Conflict, match="at most 253 pods"):
            block.pod_ip(253)


def test_bad_prefixes_and_sizes():
    with pytest.raises(InvalidInput, match=r"inside 127\.0\.0\.0/8"):
        claim_block(1, prefix="10.1.2")
    with pytest.raises(InvalidInput, match=r"expected 127\.X\.Y"):
        claim_block(1, prefix="127.1")
    with pytest.raises(Conflict, match="at most 253 pods"):
        claim_block(300)
