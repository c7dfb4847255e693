"""`osm policy analyze`: the live cluster (API emulator), files as if applied, files alone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.kube_seed import namespace

DATA = Path(__file__).resolve().parents[2] / "data"
MESHED = {"openservicemesh.io/monitored-by": "osm"}
INJECT = {"openservicemesh.io/sidecar-injection": "enabled"}


def _create(emu, kind, ns, name, spec=None, api="v1", labels=None, **extra):
    meta = {"name": name, "namespace": ns, "labels": labels or {}}
    meta.update(extra.pop("meta", {}))
    return emu.create({"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec, **extra})


def _pod(emu, ns, name, app, sa, sidecar=True):
    labels = {"app": app}
    if sidecar:
        labels["osm-proxy-uuid"] = f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}"
    _create(
        emu,
        "Pod",
        ns,
        name,
        {"serviceAccountName": sa, "containers": [{"name": "app", "image": "x"}]},
        labels=labels,
    )


def _service(emu, ns, name, app):
    _create(emu, "Service", ns, name, {"selector": {"app": app}, "ports": [{"port": 80}]})


def _target(emu, ns, name, dest, sources, rules):
    spec = {
        "destination": {"kind": "ServiceAccount", "name": dest, "namespace": ns},
        "sources": [{"kind": "ServiceAccount", "name": s, "namespace": ns} for s in sources],
        "rules": rules,
    }
    _create(emu, "TrafficTarget", ns, name, spec, api="access.smi-spec.io/v1alpha3")


def _mesh_config(emu, permissive=False):
    namespace(emu, "osm-system")
    _create(
        emu,
        "MeshConfig",
        "osm-system",
        "osm-mesh-config",
        {"traffic": {"enablePermissiveTrafficPolicyMode": permissive}},
        api="config.openservicemesh.io/v1alpha2",
    )


def seed(emu) -> None:
    """A meshed shop with one problem of each cluster kind."""
    _mesh_config(emu)
    namespace(emu, "shop", MESHED, INJECT)
    for sa in ("web", "api"):
        _create(emu, "ServiceAccount", "shop", sa)
    _pod(emu, "shop", "web-1", "web", "web")
    _pod(emu, "shop", "api-1", "api", "api")
    _pod(emu, "shop", "legacy-1", "legacy", "default", sidecar=False)  # OSM0402
    _service(emu, "shop", "api", "api")
    _service(emu, "shop", "legacy", "legacy")  # OSM0401
    rule = [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}]
    _target(emu, "shop", "web-to-api", "api", ["web"], rule)  # OSM0310: no such group
    _target(emu, "shop", "ghost-to-api", "api", ["ghost"], rule)  # OSM0306: no such SA
    namespace(emu, "outside")  # OSM0304: policies, but not in any mesh
    _create(emu, "ServiceAccount", "outside", "x")
    _target(emu, "outside", "t", "x", ["x"], rule)
    namespace(emu, "theirs", {"openservicemesh.io/monitored-by": "other"})  # OSM0404
    _create(emu, "ServiceAccount", "theirs", "x")
    _target(emu, "theirs", "t", "x", ["x"], rule)


def _codes(report: dict) -> set[tuple[str, str]]:
    return {(f["code"], f["object"]) for f in report["findings"]}


def test_live_cluster_findings(osm, kube_emulator, kubeconfig):
    seed(kube_emulator)
    kube_emulator.clear_requests()
    result = osm(["policy", "analyze", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 1, result.stderr  # OSM0310 is an error
    assert kube_emulator.writes() == []
    found = _codes(json.loads(result.stdout))
    assert ("OSM0310", "TrafficTarget/shop/web-to-api") in found
    assert ("OSM0306", "TrafficTarget/shop/ghost-to-api") in found
    assert ("OSM0402", "Pod/shop/legacy-1") in found
    assert ("OSM0401", "Service/shop/legacy") in found
    assert ("OSM0304", "Namespace/outside") in found
    assert ("OSM0404", "Namespace/theirs") in found
    # The missing ServiceAccount replaces the weaker "no workload runs as it" finding.
    assert ("OSM0313", "TrafficTarget/shop/ghost-to-api") not in found
    # Meshed pods with their sidecar and Services selecting them are fine.
    assert not any(obj in ("Pod/shop/web-1", "Service/shop/api") for _, obj in found)
    assert not any(code == "OSM0403" for code, _ in found)  # the MeshConfig exists


def test_text_output_names_the_cluster_and_codes(osm, kube_emulator, kubeconfig):
    seed(kube_emulator)
    result = osm(["policy", "analyze", "-n", "shop"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert (
        "error[OSM0310]: TrafficTarget/shop/web-to-api spec.rules[0]: HTTPRouteGroup 'routes' "
        "does not exist in namespace 'shop'"
    ) in lines
    assert any(
        line.startswith("warning[OSM0402]: Pod/shop/legacy-1: runs without") for line in lines
    )
    assert "    fix: restart it: kubectl rollout restart" not in result.stdout  # a bare pod
    assert "in the cluster" in lines[-1]
    # -n keeps other namespaces out.
    assert "Namespace/outside" not in result.stdout and "theirs" not in result.stdout


def test_files_as_if_applied_fix_the_cluster(osm, kube_emulator, kubeconfig, tmp_path):
    seed(kube_emulator)
    fix = tmp_path / "fix.yaml"
    fix.write_text(
        """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: shop}
spec:
  matches: [{name: all, pathRegex: "/.*", methods: ["*"]}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ghost, namespace: shop}
"""
    )
    kube_emulator.clear_requests()
    result = osm(
        ["policy", "analyze", "-f", str(fix), "-n", "shop", "-o", "json"], kubeconfig=kubeconfig
    )
    assert kube_emulator.writes() == []
    report = json.loads(result.stdout)
    found = _codes(report)
    assert not any(code in ("OSM0310", "OSM0306") for code, _ in found), found
    # A ServiceAccount nobody runs as: now only the weaker warning remains.
    assert ("OSM0313", "TrafficTarget/shop/ghost-to-api") in found
    assert ("OSM0402", "Pod/shop/legacy-1") in found  # the cluster's problems stay
    assert result.exit_code == 0, result.stdout  # no error left
    assert report["summary"]["files"] == 1


def test_offline_is_lint(osm):
    path = DATA / "lint" / "broken" / "tt-missing-route-group.yaml"
    analyzed = osm(["policy", "analyze", "--offline", "-f", str(path), "-o", "json"])
    linted = osm(["policy", "lint", "-f", str(path), "-o", "json"])
    assert analyzed.exit_code == linted.exit_code == 1
    assert json.loads(analyzed.stdout) == json.loads(linted.stdout)


def test_offline_reads_standard_input_beside_files(osm):
    """`-f -` is standard input, named <stdin> in findings, and counts as one more file."""
    good = DATA / "lint" / "good" / "workloads.yaml"
    broken = (DATA / "lint" / "broken" / "split-negative-weight.yaml").read_text()
    args = ["policy", "analyze", "--offline", "-f", str(good), "-f", "-", "-o", "json"]
    analyzed = osm(args, stdin=broken)
    linted = osm(["policy", "lint", "-f", "-", "-o", "json"], stdin=broken)
    assert analyzed.exit_code == linted.exit_code == 1
    report = json.loads(analyzed.stdout)
    assert report["summary"]["files"] == 2
    assert report["findings"] == json.loads(linted.stdout)["findings"]
    assert {f["file"] for f in report["findings"]} == {"<stdin>"}


def test_split_backend_without_traffic_target_in_smi_mode(osm, kube_emulator, kubeconfig):
    _mesh_config(kube_emulator)
    namespace(kube_emulator, "shop", MESHED, INJECT)
    for sa in ("web", "api-v1", "api-v2"):
        _create(kube_emulator, "ServiceAccount", "shop", sa)
    _pod(kube_emulator, "shop", "web-1", "web", "web")
    for v in ("v1", "v2"):
        _pod(kube_emulator, "shop", f"api-{v}-1", "api", f"api-{v}")
        _create(
            kube_emulator,
            "Service",
            "shop",
            f"api-{v}",
            {"selector": {"app": "api", "version": v}, "ports": [{"port": 80}]},
        )
        pod = kube_emulator.get("v1", "Pod", f"api-{v}-1", "shop")
        pod["metadata"]["labels"]["version"] = v
        kube_emulator.delete("v1", "Pod", f"api-{v}-1", "shop")
        kube_emulator.create({k: pod[k] for k in ("apiVersion", "kind", "metadata", "spec")})
    _service(kube_emulator, "shop", "api", "api")
    _create(
        kube_emulator,
        "HTTPRouteGroup",
        "shop",
        "routes",
        {"matches": [{"name": "all", "pathRegex": "/.*", "methods": ["*"]}]},
        api="specs.smi-spec.io/v1alpha4",
    )
    rule = [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["all"]}]
    _target(kube_emulator, "shop", "web-to-v1", "api-v1", ["web"], rule)
    _create(
        kube_emulator,
        "TrafficSplit",
        "shop",
        "canary",
        {
            "service": "api",
            "backends": [{"service": "api-v1", "weight": 90}, {"service": "api-v2", "weight": 10}],
        },
        api="split.smi-spec.io/v1alpha2",
    )
    result = osm(["policy", "analyze", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stdout
    findings = json.loads(result.stdout)["findings"]
    [hit] = [f for f in findings if f["code"] == "OSM0328"]
    assert hit["field"] == "spec.backends[1].service" and "shop/api-v2" in hit["message"]


def test_missing_mesh_config(osm, kube_emulator, kubeconfig):
    namespace(kube_emulator, "shop", MESHED)
    result = osm(["policy", "analyze", "-o", "json"], kubeconfig=kubeconfig)
    assert ("OSM0403", "MeshConfig/osm-system/osm-mesh-config") in _codes(json.loads(result.stdout))


def test_bad_input_is_one_line(osm, kube_emulator, kubeconfig):
    offline = osm(["policy", "analyze", "--offline"])
    assert offline.exit_code == 1
    assert offline.stderr.startswith("Error: --offline needs files to analyze\n")
    bad = osm(["policy", "analyze", "--mesh-name", "Bad_Mesh"], kubeconfig=kubeconfig)
    assert bad.exit_code == 1
    assert bad.stderr.startswith("Error: invalid mesh name 'Bad_Mesh'")
    assert kube_emulator.requests == [] or all(r.method == "GET" for r in kube_emulator.requests)


def test_unreachable_cluster(osm, tmp_path):
    from tests.cli.install.test_dry_run import UNREACHABLE_KUBECONFIG

    config = tmp_path / "kubeconfig"
    config.write_text(UNREACHABLE_KUBECONFIG)
    result = osm(["policy", "analyze"], kubeconfig=config)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Could not access Kubernetes cluster")
    assert "Traceback" not in result.stderr


def test_pods_of_a_deployment_get_a_rollout_hint(osm, kube_emulator, kubeconfig):
    from tests.cli.kube_seed import workload

    _mesh_config(kube_emulator)
    namespace(kube_emulator, "shop", MESHED, INJECT)
    workload(kube_emulator, "Deployment", "shop", "legacy")  # pods made by the emulator
    _service(kube_emulator, "shop", "legacy", "legacy")
    result = osm(["policy", "analyze", "-o", "json"], kubeconfig=kubeconfig)
    findings = json.loads(result.stdout)["findings"]
    pods = [f for f in findings if f["code"] == "OSM0402"]
    assert pods and all(f["object"].startswith("Pod/shop/legacy-") for f in pods)
    assert all(f["hint"] == "restart it: kubectl rollout restart deployment/legacy -n shop"
               for f in pods)  # fmt: skip
    [svc] = [f for f in findings if f["code"] == "OSM0401"]
    assert svc["hint"].endswith("kubectl rollout restart deployment/legacy -n shop")
