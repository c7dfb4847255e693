"""Issue 11 item 1, by attacking: every HTTP endpoint of the control plane refuses what it
cannot bound before reading it.

The first group attacks the shared server in-process (each attack also states what the
server did before the fix); the last tests attack the real injector and controller
processes and measure their RSS.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from osm_mesh.controller.http import HttpServer, Reply
from osm_mesh.controller.http_limits import Limits, RateLimit, RateLimiter
from tests.mesh.controller import http_attacks as attack

HOST = "127.0.0.1"


@pytest.fixture
def make_server():
    started: list[HttpServer] = []

    def make(limits: Limits, route=None) -> HttpServer:
        seen: list[int] = []

        def echo(body: bytes) -> Reply:
            seen.append(len(body))
            return Reply.text(f"{len(body)}\n")

        server = HttpServer(
            {
                ("GET", "/health/alive"): lambda _b: Reply.text("alive\n"),
                ("POST", "/p"): route or echo,
            },
            host=HOST,
            limits=limits,
        ).start()
        server.seen = seen  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except OSError:
            pass
    return out


@pytest.mark.parametrize("method,path", [("POST", "/p"), ("GET", "/health/alive")])
def test_negative_content_length_is_refused_before_reading(make_server, method, path):
    # Before: ``rfile.read(-1)`` read until the client stopped — 600 MiB took the injector
    # to 1,151 MiB. Now: 400 at once, the connection closed, the body never read.
    server = make_server(Limits(max_body=1024))
    sent, reply = attack.stream_with_length(
        HOST, server.port, method=method, path=path, length_header="-1", total=256 * attack.MiB
    )
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    assert b"invalid Content-Length" in reply
    assert sent < 64 * attack.MiB  # the server hung up long before
    assert server.seen == []


@pytest.mark.parametrize(
    "headers,status,reason",
    [
        (b"Content-Length: abc\r\n", 400, b"invalid Content-Length"),
        (b"Content-Length: +5\r\n", 400, b"invalid Content-Length"),
        (b"Content-Length: 99999999999999999999\r\n", 400, b"invalid Content-Length"),
        (b"Content-Length: 5\r\nContent-Length: 5\r\n", 400, b"more than one"),
        (b"Content-Length: 1025\r\n", 413, b"larger than 1024"),
        (b"Transfer-Encoding: chunked\r\n", 411, b"chunked"),
        (b"", 411, b"Content-Length is required"),
    ],
)
def test_bad_framing_of_a_post_is_refused(make_server, headers, status, reason):
    server = make_server(Limits(max_body=1024))
    reply = raw_request(
        server.port,
        b"POST /p HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + b"5\r\nxxxxx\r\n0\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 %d" % status), reply[:80]
    assert reason in reply and b"Connection: close" in reply
    assert server.seen == []


@pytest.mark.parametrize("headers", [b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n"])
def test_get_routes_read_no_body(make_server, headers):
    # Before: a GET with a body had it read (and with -1, everything the client sent).
    server = make_server(Limits(max_body=1024))
    reply = raw_request(
        server.port, b"GET /health/alive HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\nxxxxx"
    )
    assert reply.startswith(b"HTTP/1.1 4"), reply[:80]
    assert b"alive" not in reply


def test_a_plain_get_and_a_post_within_bounds_are_served(make_server):
    server = make_server(Limits(max_body=1024))
    reply = raw_request(
        server.port,
        b"GET /health/alive HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n"
        + b"y"
        * 1024,
    )
    assert reply.count(b"HTTP/1.1 200") == 2 and b"alive\n" in reply and b"1024\n" in reply


def test_header_flood_is_431(make_server):
    # The standard library alone accepts 100 headers of 64 KiB each: 6 MiB per connection.
    server = make_server(Limits(header_bytes=16 * 1024))
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"a" * 4000) for i in range(50))
    reply = raw_request(
        server.port, b"GET /health/alive HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]


def test_an_overlong_request_line_is_431(make_server):
    server = make_server(Limits(header_bytes=16 * 1024))
    reply = raw_request(server.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]


def test_connections_over_the_cap_are_closed_unread(make_server):
    server = make_server(Limits(max_connections=4, idle_timeout=30))
    held = attack.hold_connections(HOST, server.port, 4)
    try:
        time.sleep(0.2)
        # The fifth connection is accepted by the kernel and closed by the server at once.
        with socket.create_connection((HOST, server.port), timeout=5) as extra:
            extra.sendall(b"GET /health/alive HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(100) == b""
        assert server.refused.get(503) == 1
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    reply = raw_request(
        server.port, b"GET /health/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 200")


def test_bodies_in_flight_share_a_byte_budget(make_server):
    # A slow 1,000-byte body holds the whole budget: the next body is refused, not buffered.
    server = make_server(Limits(max_body=1000, body_budget=1000, body_deadline=5))
    with socket.create_connection((HOST, server.port), timeout=5) as slow:
        slow.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"z" * 10)
        time.sleep(0.2)
        reply = raw_request(
            server.port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
        )
        assert reply.startswith(b"HTTP/1.1 503"), reply[:80]
        slow.sendall(b"z" * 990)
        assert slow.recv(200).startswith(b"HTTP/1.1 200")


def test_a_trickled_body_is_cut_off_at_the_deadline(make_server):
    server = make_server(Limits(max_body=1000, body_deadline=0.5, idle_timeout=5))
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        start = time.monotonic()
        reply = b""
        try:
            for _ in range(20):
                sock.sendall(b"z")  # one byte every 0.2 s: each read's timeout never fires
                time.sleep(0.2)
        except OSError:
            pass
        sock.settimeout(2)
        try:
            reply = sock.recv(200)
        except OSError:
            pass
        assert time.monotonic() - start < 3
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert server.seen == []


def test_handlers_running_at_once_are_capped(make_server):
    release = threading.Event()
    entered = threading.Event()

    def slow(body: bytes) -> Reply:
        entered.set()
        release.wait(5)
        return Reply.text("done\n")

    server = make_server(Limits(max_body=100, max_handlers=1, handler_wait=0.2), route=slow)
    first = threading.Thread(
        target=raw_request,
        args=(server.port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"),
    )
    first.start()
    try:
        assert entered.wait(5)
        reply = raw_request(
            server.port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
        )
        assert reply.startswith(b"HTTP/1.1 503"), reply[:80]
    finally:
        release.set()
        first.join(5)


def test_rate_limit_per_client_address(make_server):
    server = make_server(Limits(rate=RateLimit(per_second=0.5, burst=3)))
    request = b"GET /health/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    statuses = [raw_request(server.port, request)[9:12] for _ in range(5)]
    assert statuses == [b"200", b"200", b"200", b"429", b"429"]
    assert b"Retry-After: 2" in raw_request(server.port, request)


def test_rate_limiter_refills_and_forgets_old_clients():
    limiter = RateLimiter(RateLimit(per_second=10, burst=2), max_clients=2)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("a", now=0.1)  # one token back after 0.1 s
    limiter.allow("b", now=0.1)
    limiter.allow("c", now=0.1)
    assert "a" not in limiter._buckets and len(limiter._buckets) == 2


# -- the real processes ------------------------------------------------------------------------
@pytest.fixture
def seeded(kube_emulator, kubeconfig):
    from osm_mesh.controller.ca import ensure_ca
    from osm_mesh.kube.client import connect
    from tests.mesh.controller.conftest import seed_mesh

    seed_mesh(kube_emulator)
    ensure_ca(connect(str(kubeconfig)), "osm-system", mesh_name="osm")
    return kubeconfig


MARGIN = 50 * attack.MiB


@pytest.mark.slow
def test_injector_process_memory_stays_bounded_under_attack(seeded, tmp_path):
    """The reviewed attacks against ``python -m osm_mesh.injector``: before, 600 MiB streamed
    after ``Content-Length: -1`` took it to 1,151 MiB, ``GET /health/alive`` the same way
    21 -> 324 MiB, six 8 MiB reviews 592 MiB."""
    with attack.injector_process(seeded, tmp_path) as injector:
        attack.post_bodies_at_once(HOST, injector.webhook_port, [attack.review_body(2000)] * 2)
        idle = attack.rss_bytes(injector.pid)
        peak, (sent, reply) = attack.peak_rss_during(
            injector.pid,
            lambda: attack.stream_with_length(
                HOST,
                injector.webhook_port,
                method="POST",
                path=attack.WEBHOOK_PATH,
                length_header="-1",
                total=200 * attack.MiB,
                tls=True,
            ),
        )
        assert b" 400 " in reply[:20] and sent < 100 * attack.MiB
        assert peak - idle < MARGIN, (idle, peak)
        peak, (sent, reply) = attack.peak_rss_during(
            injector.pid,
            lambda: attack.stream_with_length(
                HOST,
                injector.http_port,
                method="GET",
                path="/health/alive",
                length_header="-1",
                total=200 * attack.MiB,
            ),
        )
        assert b" 400 " in reply[:20] and sent < 100 * attack.MiB
        assert peak - idle < MARGIN, (idle, peak)
        peak, statuses = attack.peak_rss_during(
            injector.pid,
            lambda: attack.post_bodies_at_once(
                HOST, injector.webhook_port, [attack.review_body(8 * attack.MiB)] * 6
            ),
        )
        assert statuses == [413] * 6
        assert peak - idle < MARGIN, (idle, peak)
        peak, statuses = attack.peak_rss_during(
            injector.pid,
            lambda: attack.post_bodies_at_once(
                HOST,
                injector.webhook_port,
                [attack.review_body(4 * attack.MiB - 64, filler="dicts")] * 4,
            ),
        )
        # Each body fits the size cap; the JSON value count does not (a ~100 MiB parse each).
        assert set(statuses) <= {413, 503} and 413 in statuses, statuses
        assert peak - idle < MARGIN, (idle, peak)


@pytest.mark.slow
def test_controller_process_http_reads_no_body_on_get(seeded, tmp_path):
    with attack.controller_process(seeded, tmp_path) as controller:
        idle = attack.rss_bytes(controller.pid)
        peak, (sent, reply) = attack.peak_rss_during(
            controller.pid,
            lambda: attack.stream_with_length(
                HOST,
                controller.http_port,
                method="GET",
                path="/health/alive",
                length_header="-1",
                total=200 * attack.MiB,
            ),
        )
        assert b" 400 " in reply[:20] and sent < 100 * attack.MiB
        assert peak - idle < MARGIN, (idle, peak)
