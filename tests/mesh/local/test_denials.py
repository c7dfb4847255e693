"""Denials say why (issue 12.5), on real Envoy: only a policy denial names a TrafficTarget.

The article's simple app in SMI mode with its TrafficTarget (frontend may call api), plus a
`web` app in namespace `other` that nothing allows, and a TCP port on the api Service. Each
request goes through the frontend's sidecar, as the frontend's own calls do.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG, SIMPLE_NS
from osm_mesh.local.runtime import LocalMesh

pytestmark = pytest.mark.envoy

WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "other",
        "annotations": {
            "local.openservicemesh.io/command": (
                'sh -c \'exec python3 -m http.server --bind "$POD_IP" "$PORT"\''
            )
        },
    },
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]},
        },
    },
}
WEB_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "other"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
# The api Service with a TCP port besides its HTTP one.
API_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "api", "namespace": SIMPLE_NS},
    "spec": {
        "selector": {"app": "api"},
        "ports": [
            {"name": "http", "port": 80, "targetPort": 80},
            {"name": "tcp-db", "port": 5432, "targetPort": 5432},
        ],
    },
}


def _get(proxy_ip: str, url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": f"http://{proxy_ip}:15001"})
    )
    try:
        with opener.open(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    work = tmp_path_factory.mktemp("denials")
    paths = [MESH_CONFIG, MANIFESTS / "simple" / "app", MANIFESTS / "simple" / "smi"]
    with LocalMesh(paths, [WEB, WEB_SERVICE, API_SERVICE], work_dir=work / "w") as running:
        yield running


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("http://api.osm-simple-app/api/values", 200, '"Value 1"'),
        (
            "http://web.other/",
            403,
            "RBAC: access denied: no TrafficTarget allows ServiceAccount "
            "osm-simple-app/frontend-service-account to call Service other/web",
        ),
        (
            "http://no-such-service.osm-simple-app/",
            404,
            "no Service in the mesh answers to this host",
        ),
        ("http://example.com/", 404, "no Service in the mesh answers to this host"),
        (
            "http://api.osm-simple-app:8080/api/values",
            404,
            "Service osm-simple-app/api has no such HTTP port; its HTTP ports: 80; its TCP "
            "ports (5432) are not HTTP: connect to your own address at the port ($POD_IP:5432, "
            "announced as $API_SERVICE_HOST:$API_SERVICE_PORT)",
        ),
        ("http://api.osm-simple-app:5432/", 404, "its TCP ports (5432) are not HTTP"),
        (
            "http://web/",
            404,
            "no Service 'web' in namespace osm-simple-app; a short name only reaches the "
            "caller's namespace: call web.other",
        ),
    ],
    ids=[
        "allowed",
        "no-traffic-target",
        "unknown-service",
        "unknown-host",
        "wrong-port",
        "tcp-port",
        "short-name-elsewhere",
    ],
)
def test_each_refusal_says_why(mesh, url, status, says):
    frontend = mesh.pod(SIMPLE_NS, "frontend")
    got_status, body = _get(frontend.ip, url)
    assert (got_status, says in body) == (status, True), body
    if status == 404:
        assert "TrafficTarget" not in body


def test_permissive_mode_has_no_policy_denial_but_the_same_reasons(tmp_path):
    permissive = MESH_CONFIG.read_text().replace(
        "enablePermissiveTrafficPolicyMode: false", "enablePermissiveTrafficPolicyMode: true"
    )
    (tmp_path / "mesh-config.yml").write_text(permissive)
    paths = [tmp_path / "mesh-config.yml", MANIFESTS / "simple" / "app"]
    with LocalMesh(paths, [WEB, WEB_SERVICE], work_dir=tmp_path / "w") as running:
        frontend = running.pod(SIMPLE_NS, "frontend")
        assert _get(frontend.ip, "http://web.other/")[0] == 200
        status, body = _get(frontend.ip, "http://nothing.here/")
        assert status == 404 and "no Service in the mesh answers" in body
        status, body = _get(frontend.ip, "http://web/")
        assert status == 404 and "call web.other" in body


def test_local_run_says_at_start_which_tcp_services_apps_cannot_reach(osm, tmp_path):
    """Issue 12.4: each TCP Service port is served on the caller's own address at that port,
    so two TCP Services on one port, or one on a sidecar's port, cannot both be reached."""
    import json

    quits = {**WEB, "metadata": {**WEB["metadata"]}}
    quits["metadata"]["annotations"] = {"local.openservicemesh.io/command": "sh -c 'exit 3'"}

    def tcp_service(name: str, port: int) -> dict:
        return {
            **WEB_SERVICE,
            "metadata": {"name": name, "namespace": "other"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "tcp-x", "port": port}]},
        }

    items = [quits, WEB_SERVICE, tcp_service("db", 5432), tcp_service("db2", 5432)]
    items.append(tcp_service("odd", 15001))
    (tmp_path / "m.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    result = osm(
        ["local", "run", "-f", str(tmp_path / "m.json"), "--work-dir", str(tmp_path / "w")]
    )
    assert (
        "TCP services apps cannot reach (each is served at the service port on the caller's own "
        "address): other/db2:5432 (taken by other/db); other/odd:15001 (a sidecar port)\n"
    ) in result.stderr
    assert result.exit_code == 1 and "exited with code 3" in result.stderr
