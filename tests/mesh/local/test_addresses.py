from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from osm_mesh.errors import Conflict, InvalidInput, PermissionDenied
from osm_mesh.local.addresses import (
    ADS_PORT,
    ENVOY_ADMIN_PORT,
    claim_block,
    port_free,
)


def test_two_claims_never_share_a_block():
    # Same random sequence for both: the second must notice the first's claim and move on.
    first = claim_block(3, [80], rng=random.Random(7))
    try:
        second = claim_block(3, [80], rng=random.Random(7))
        try:
            assert first.prefix != second.prefix
            assert first.pod_ip(0) != second.pod_ip(0)
        finally:
            second.release()
    finally:
        first.release()


def test_a_claimed_block_is_refused_and_freed_on_release():
    block = claim_block(1, [80])
    with pytest.raises(Conflict, match="in use"):
        claim_block(1, [80], prefix=block.prefix)
    block.release()
    again = claim_block(1, [80], prefix=block.prefix)
    again.release()


def test_a_busy_pod_port_is_detected():
    block = claim_block(2, [80])
    prefix = block.prefix
    block.release()
    squatter = socket.socket()
    squatter.bind((f"{prefix}.2", ENVOY_ADMIN_PORT))
    squatter.listen(1)
    try:
        with pytest.raises(Conflict, match=rf"{prefix}\.2:{ENVOY_ADMIN_PORT} is already in use"):
            claim_block(2, [80], prefix=prefix)
    finally:
        squatter.close()


def test_addresses_of_a_block():
    with claim_block(2, [8080]) as block:
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


def test_privileged_ports_without_privileges_say_so():
    import os

    if os.geteuid() != 0:
        with pytest.raises(PermissionDenied, match="ports below 1024 need privileges"):
            claim_block(1, [80])
        return
    # As root: drop the capability in a child to see the same message.
    import subprocess
    import sys

    code = (
        "import os\n"
        "from osm_mesh.errors import PermissionDenied\n"
        "from osm_mesh.local.addresses import claim_block\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n    claim_block(1, [80])\nexcept PermissionDenied as e:\n    print(e.message)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    sysctl = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    unprivileged_start = int(sysctl.read_text())
    if unprivileged_start <= 80:
        pytest.skip("this machine lets anyone bind port 80")
    assert "ports below 1024 need privileges" in done.stdout, done.stderr
