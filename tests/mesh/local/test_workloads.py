from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from osm_mesh.errors import InvalidInput
from osm_mesh.local.inputs import load_objects
from osm_mesh.local.workloads import (
    COMMAND_ANNOTATION,
    container_ports,
    plan_pods,
    replica_count,
)

_RUN = {COMMAND_ANNOTATION: "sh -c 'exec sleep 5'"}
MANIFESTS = Path(__file__).resolve().parents[3] / "osm_mesh" / "local" / "manifests"


def ip_for(index: int) -> str:
    return f"127.9.9.{index + 1}"


def test_the_articles_simple_app_becomes_two_pods():
    objects = load_objects([MANIFESTS / "simple"])
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HTTPRouteGroup",
        "Namespace",
        "Service",
        "ServiceAccount",
        "TrafficTarget",
    ]
    pods = plan_pods(objects, ip_for, environ={"PATH": "/bin", "HTTP_PROXY": "http://corp:3128"})
    assert [(p.deployment, p.ip, p.service_account) for p in pods] == [
        ("api", "127.9.9.1", "api-service-account"),
        ("frontend", "127.9.9.2", "frontend-service-account"),
    ]
    api, frontend = pods
    assert api.argv == (sys.executable, "-m", "osm_mesh.local.apps.api", "--version", "v1")
    # The ConfigMap key reaches the frontend under the name the Deployment gave it.
    assert frontend.env["API_URL"] == "http://api.osm-simple-app.svc.cluster.local/api/values"
    assert frontend.env["HTTP_PROXY"] == "http://127.9.9.2:15001"
    assert frontend.env["http_proxy"] == "http://127.9.9.2:15001"
    assert frontend.env["NO_PROXY"] == ""
    assert frontend.env["POD_IP"] == "127.9.9.2" and frontend.env["PORT"] == "80"
    assert frontend.env["PATH"] == "/bin"
    pod = frontend.pod_object()
    assert pod["status"]["podIP"] == "127.9.9.2"
    assert pod["metadata"]["labels"]["app"] == "frontend"
    assert pod["metadata"]["labels"]["osm-proxy-uuid"] == frontend.proxy_uuid
    assert pod["spec"]["serviceAccountName"] == "frontend-service-account"
    # Names and proxy ids are stable for the same manifests.
    again = plan_pods(objects, ip_for, environ={})
    assert [p.name for p in again] == [p.name for p in pods]
    assert [p.proxy_uuid for p in again] == [p.proxy_uuid for p in pods]


def test_canary_manifests_keep_the_articles_api_versions():
    objects = load_objects([MANIFESTS / "canary"])
    versions = {(o["kind"], o["apiVersion"]) for o in objects if "smi-spec" in o["apiVersion"]}
    assert versions == {
        ("TrafficTarget", "access.smi-spec.io/v1alpha2"),
        ("HTTPRouteGroup", "specs.smi-spec.io/v1alpha3"),
        ("TrafficSplit", "split.smi-spec.io/v1alpha2"),
    }
    assert replica_count(objects) == 3
    assert container_ports(objects) == {80}
    names = [p.deployment for p in plan_pods(objects, ip_for, environ={})]
    assert names == ["api-v1", "api-v2", "frontend"]


def _deployment(name: str, replicas: int = 1, annotations=None, env=None, env_from=None):
    container = {"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}
    if env is not None:
        container["env"] = env
    if env_from is not None:
        container["envFrom"] = env_from
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }


def test_replicas_env_sources_and_ports():
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "ns"},
        "data": {"A": "1", "B": "2"},
    }
    dep = _deployment(
        "web",
        replicas=2,
        annotations={COMMAND_ANNOTATION: "/bin/sh -c 'exec sleep 5'"},
        env=[
            {"name": "LITERAL", "value": "x"},
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "B"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
        ],
        env_from=[{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}],
    )
    pods = plan_pods([cm, dep], ip_for, environ={})
    assert [p.replica for p in pods] == [0, 1]
    assert [p.ip for p in pods] == ["127.9.9.1", "127.9.9.2"]
    assert pods[0].argv == ("/bin/sh", "-c", "exec sleep 5")
    env = pods[0].env
    assert (env["LITERAL"], env["FROM_CM"], env["CM_A"], env["CM_B"]) == ("x", "2", "1", "2")
    assert "OPT" not in env
    assert env["PORT"] == "8080" and pods[0].app_port == 8080
    assert pods[0].name != pods[1].name


def test_every_problem_is_reported_at_once():
    bad = [
        _deployment("no-command"),
        _deployment(
            "bad-ref",
            annotations={COMMAND_ANNOTATION: "sh -c true"},
            env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}],
        ),
        _deployment("bad-quote", annotations={COMMAND_ANNOTATION: "run 'unterminated"}),
    ]
    with pytest.raises(InvalidInput) as info:
        plan_pods(bad, ip_for, environ={})
    message = info.value.message
    assert "Deployment ns/no-command: no local.openservicemesh.io/command annotation" in message
    assert "key 'k' of ConfigMap ns/gone not found" in message
    assert f"Deployment ns/bad-quote: {COMMAND_ANNOTATION}: cannot parse" in message


@pytest.mark.parametrize("replicas", ["3", -2, True, 1.5])
def test_replicas_must_be_a_whole_number_of_0_or_more(replicas):
    """Issue 12.8: "3" and -2 used to run one pod silently."""
    with pytest.raises(InvalidInput) as info:
        plan_pods([_deployment("web", replicas=replicas, annotations=_RUN)], ip_for, environ={})
    assert (
        f"Deployment ns/web: spec.replicas must be a whole number of 0 or more, got {replicas!r}"
        in info.value.message
    )


def test_zero_replicas_run_no_pod_and_say_so(tmp_path: Path):
    from osm_mesh.errors import MeshError
    from osm_mesh.local.runtime import LocalMesh

    assert plan_pods([_deployment("web", replicas=0, annotations=_RUN)], ip_for) == []
    with pytest.raises(MeshError, match=r"every Deployment has spec.replicas: 0: nothing to run"):
        LocalMesh([], [_deployment("web", replicas=0, annotations=_RUN)])


def test_relative_commands_resolve_against_the_manifests_folder(tmp_path: Path, monkeypatch):
    """Issue 12.8: a script beside the manifest runs wherever osm is started from."""
    from osm_mesh.local.inputs import load_documents
    from osm_mesh.local.runtime import LocalMesh

    app = tmp_path / "app"
    app.mkdir()
    (app / "serve.sh").write_text("#!/bin/sh\nexec sleep 5\n")
    (app / "serve.sh").chmod(0o755)
    (app / "server.py").write_text("print('hi')\n")
    for command, expected in (
        ("./serve.sh --flag", (str(app / "serve.sh"), "--flag")),
        ("bin/../serve.sh", (str(app / "bin/../serve.sh"),)),
        ("python server.py -v", (sys.executable, str(app / "server.py"), "-v")),
        ("python -m http.server", (sys.executable, "-m", "http.server")),
    ):
        if command.startswith("bin/"):
            (app / "bin").mkdir(exist_ok=True)
        (app / "web.yaml").write_text(
            yaml.safe_dump(_deployment("web", annotations={COMMAND_ANNOTATION: command}))
        )
        monkeypatch.chdir("/")
        mesh = LocalMesh([app / "web.yaml"])
        (pod,) = plan_pods(mesh.objects, ip_for, folder_of=mesh._folder_of)
        assert pod.argv == expected and pod.cwd == app
    assert load_documents([app / "web.yaml"])[0].file == str(app / "web.yaml")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            "./plain.txt",
            "plain.txt is not executable: chmod +x it, or start it through its interpreter "
            "(e.g. sh ./plain.txt)",
        ),
        ("./missing.sh", "missing.sh does not exist (relative paths start at"),
        ("no-such-program-xyz --x", "'no-such-program-xyz' is not found on PATH"),
    ],
)
def test_a_command_that_cannot_run_is_named_before_anything_starts(tmp_path, command, message):
    from osm_mesh.local.runtime import LocalMesh

    (tmp_path / "plain.txt").write_text("echo hi\n")
    (tmp_path / "web.yaml").write_text(
        yaml.safe_dump(_deployment("web", annotations={COMMAND_ANNOTATION: command}))
    )
    with pytest.raises(InvalidInput) as info:
        LocalMesh([tmp_path / "web.yaml"], work_dir=tmp_path / "work")
    assert message in info.value.message
    assert not (tmp_path / "work").exists()


def test_lint_refuses_the_same_replicas(tmp_path: Path):
    from osm_mesh.policy.lint import lint_paths

    (tmp_path / "web.yaml").write_text(yaml.safe_dump(_deployment("web", replicas="3")))
    (finding,) = [f for f in lint_paths([tmp_path]).findings if f.severity == "error"]
    assert (finding.field, finding.message) == (
        "spec.replicas",
        "must be a whole number of 0 or more, got '3'",
    )


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path):
    (tmp_path / "latin1.yaml").write_bytes("a: 1\nkind: Namespace # caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInput) as info:
        load_objects([tmp_path])
    assert info.value.message == f"{tmp_path / 'latin1.yaml'}:2: not UTF-8 text (byte 0xe9)"


def test_bad_files(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"broken.yaml:\d+: invalid YAML"):
        load_objects([tmp_path])
    (tmp_path / "broken.yaml").write_text("just a string\n")
    with pytest.raises(InvalidInput, match="not a Kubernetes object"):
        load_objects([tmp_path])
    with pytest.raises(InvalidInput, match="no such file or directory"):
        load_objects([tmp_path / "missing"])


def test_lists_and_empty_documents(tmp_path: Path):
    (tmp_path / "list.yml").write_text(
        "---\n---\napiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ServiceAccount, metadata: {name: a, namespace: n}}\n"
        "- {apiVersion: v1, kind: ServiceAccount, metadata: {name: b, namespace: n}}\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    assert [o["metadata"]["name"] for o in load_objects([tmp_path])] == ["a", "b"]


def test_the_catalog_sees_each_planned_pod_once_with_its_address():
    from osm_mesh.catalog.source import FileSource

    objects = load_objects([MANIFESTS / "canary"])
    pods = plan_pods(objects, ip_for, environ={})
    catalog = FileSource(objects=objects + [p.pod_object() for p in pods], monitored="all")
    seen = sorted((p.name, p.ip, p.deployment) for p in catalog.snapshot().pods)
    assert seen == sorted((p.name, p.ip, p.deployment) for p in pods)
    assert all(catalog.snapshot().pod_by_uuid(p.proxy_uuid) is not None for p in pods)
