"""Failures end in one `Error:` line (plus a hint), the right exit code, and no traceback.

Unreachable clusters are simulated three ways: a closed port (refused), a listening
socket whose accept queue is full (SYNs dropped: a blackholed address), and a TLS port
that accepts but never answers (a hung server). Each must fail within 5 s.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from osm_cli.errors import describe
from tests.cli import kube_seed as seed

FAST_S = 5.0


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: "
        f"{{server: '{server}', insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full, so new connections are never established."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for sock in [*fillers, server]:
        sock.close()


@pytest.fixture
def silent_tls() -> Iterator[int]:
    """A port that completes TCP connections but never says a word (no TLS handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def _assert_one_error(result, started: float, *needles: str) -> None:
    assert time.monotonic() - started < FAST_S
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: Could not access Kubernetes cluster, check kubeconfig")
    assert len(lines) == 2  # the message and the hint
    assert "kubeconfig" in lines[1]
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_closed_port(osm, tmp_path):
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{_free_port()}")
    started = time.monotonic()
    result = osm(["namespace", "list"], kubeconfig=kubeconfig)
    _assert_one_error(result, started, "connection refused")


def test_blackholed_address(osm, tmp_path, blackhole):
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{blackhole}")
    started = time.monotonic()
    result = osm(["namespace", "list"], kubeconfig=kubeconfig)
    _assert_one_error(result, started, "timed out")


def test_server_that_never_answers(osm, tmp_path, silent_tls):
    kubeconfig = _kubeconfig(tmp_path, f"https://127.0.0.1:{silent_tls}")
    started = time.monotonic()
    result = osm(["metrics", "enable", "--namespace", "a"], kubeconfig=kubeconfig)
    _assert_one_error(result, started, "timed out")


def test_debug_shows_the_traceback(osm, tmp_path):
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{_free_port()}")
    result = osm(["ns", "list", "--debug"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("Error: Could not access")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file {path} does not exist"),
        ("apiVersion: v1\nclusters: [\n  bad: : :\n", "{path} is not valid YAML (line 3"),
        ("just a word\n", "{path} is not a kubeconfig file"),
        ("apiVersion: v1\nkind: Config\n", "Invalid kube-config file"),
    ],
)
def test_bad_kubeconfig_is_one_line(osm, tmp_path, content, message):
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    result = osm(["ns", "list"], kubeconfig=path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: Could not load kubeconfig: ")
    assert message.format(path=path) in lines[0]
    assert len(lines) == 2 and "KUBECONFIG" in lines[1]


def test_unknown_context(osm, kubeconfig):
    result = osm(["ns", "list", "--context", "nope"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Could not load kubeconfig: ")
    assert "nope" in result.stderr.splitlines()[0]


def test_forbidden_names_the_permission(osm, kube_emulator, kubeconfig):
    kube_emulator.forbid("list", "namespaces")
    result = osm(["ns", "list"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    first, hint = result.stderr.splitlines()
    assert first.startswith("Error: ")
    assert "forbidden" in first and "list" in first and '"namespaces"' in first
    assert "permission" in hint


def test_forbidden_write_leaves_nothing_half_done(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator)
    seed.namespace(kube_emulator, "a")
    kube_emulator.forbid("patch", "namespaces")
    result = osm(["ns", "add", "a"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert "forbidden" in result.stderr.splitlines()[0]
    assert "openservicemesh.io/monitored-by" not in (seed.ns_meta(kube_emulator, "a")[0])


@pytest.mark.parametrize(
    ("call", "status_word"),
    [
        (lambda kube: kube.core.read_namespace("ghost"), "not found"),
        (
            lambda kube: kube.core.create_namespace({"metadata": {"name": "default"}}),
            "already exists",
        ),
    ],
)
def test_status_errors_from_the_api_become_one_line(kubeconfig, call, status_word):
    """404 and 409 Status bodies, as the real client raises them, through the one map."""
    from osm_mesh.kube.client import connect

    with pytest.raises(Exception) as caught:
        call(connect(str(kubeconfig)))
    message, _hint, code = describe(caught.value)
    assert code == 1
    assert "\n" not in message
    assert status_word in message


def test_unexpected_errors_point_at_debug():
    message, hint, code = describe(RuntimeError("boom"))
    assert (message, code) == ("RuntimeError: boom", 1)
    assert hint and "--debug" in hint


@pytest.fixture
def silent_http() -> Iterator[int]:
    """A plain-HTTP port that completes the TCP handshake but never reads or answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)  # the kernel completes handshakes; nobody ever accepts
    yield server.getsockname()[1]
    server.close()


def test_plain_http_server_that_never_answers(osm, tmp_path, silent_http):
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{silent_http}")
    started = time.monotonic()
    result = osm(["namespace", "list"], kubeconfig=kubeconfig)
    _assert_one_error(result, started, "Could not access Kubernetes cluster")


def test_after_the_first_answer_reads_get_the_long_timeout(kube_emulator, kubeconfig):
    from osm_mesh.kube.client import READ_TIMEOUT_S, connect

    kube = connect(str(kubeconfig))
    client = kube.api_client
    assert client.first_timeout[1] < FAST_S
    kube.core.list_namespace()
    assert client.server_answered
    assert client.default_timeout[1] == READ_TIMEOUT_S
