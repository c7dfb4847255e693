"""The article, end to end, on any cluster: what a user types, with `osm` and `kubectl` only.

One scenario for every cluster: `make e2e` runs it on the local node (tests/realkube), and
`python -m tests.e2e --kubeconfig K` (scripts/e2e-kind.sh) on kind, AKS or any cluster whose
nodes have the images of `make images`. Each step prints one line and raises StepFailed with
what it saw. The steps depend on each other and run in order (STEPS).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "osm_mesh" / "local" / "manifests"
SIMPLE = "osm-simple-app"
CANARY = "osm-canary-deployment-sample-app"
OSM_NS = "osm-system"


class StepFailed(AssertionError):
    pass


@dataclass
class Scenario:
    kubeconfig: Path
    osm_bin: str = "osm"
    kubectl_bin: str = "kubectl"
    timeout: float = 240.0
    log: Callable[[str], None] = print
    # Folders put first on PATH (where the user's helm and kubectl are).
    path: tuple[str, ...] = ()
    facts: dict = field(default_factory=dict)  # what the steps measured, for the report

    # -- the user's two tools --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        path = os.pathsep.join([*self.path, os.environ.get("PATH", "")])
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def run(self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 300):
        result = subprocess.run(
            list(argv), env=self.env(), input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise StepFailed(
                f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def osm(self, *args: str, check: bool = True, timeout: float = 300):
        return self.run(self.osm_bin, *args, check=check, timeout=timeout)

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ):
        return self.run(self.kubectl_bin, *args, check=check, input=input, timeout=timeout)

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def pods(self, namespace: str, selector: str) -> list[dict]:
        items = self.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def pod_name(self, namespace: str, app: str) -> str:
        pods = [p for p in self.pods(namespace, f"app={app}") if _ready(p)]
        if not pods:
            raise StepFailed(f"no ready pod with app={app} in {namespace}")
        return pods[0]["metadata"]["name"]

    def wait_rollout(self, namespace: str, *deployments: str) -> None:
        for name in deployments:
            self.kubectl(
                "rollout", "status", f"deployment/{name}", "-n", namespace,
                f"--timeout={int(self.timeout)}s", timeout=self.timeout + 10,
            )  # fmt: skip

    def call_api(self, namespace: str, path: str = "/api/values", count: int = 1) -> list[dict]:
        """GETs from inside the frontend pod: its app calls the API through its sidecar."""
        frontend = self.pod_name(namespace, "frontend")
        script = (
            "import json, urllib.request\n"
            f"for _ in range({count}):\n"
            f"    url = 'http://127.0.0.1:80/data?path={path}'\n"
            "    print(urllib.request.urlopen(url, timeout=10).read().decode(), flush=True)\n"
        )
        out = self.kubectl(
            "exec", "-n", namespace, frontend, "-c", "frontend", "--", "python3", "-c", script,
            timeout=60 + count * 0.5,
        ).stdout  # fmt: skip
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def eventually(self, what: str, check: Callable[[], object], timeout: float = 60) -> object:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = check()
                if last:
                    return last
            except StepFailed as exc:
                last = exc
            time.sleep(1)
        raise StepFailed(f"{what}: not within {timeout:.0f} s (last: {last})")

    def status_of(self, namespace: str, path: str = "/api/values") -> int:
        return int(self.call_api(namespace, path)[0]["status"])


def _ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


# -- the steps -----------------------------------------------------------------------------


def install(s: Scenario) -> None:
    """`osm install` in SMI mode with Prometheus: controller and injector run as pods."""
    s.osm(
        "install", "--set", "osm.enablePermissiveTrafficPolicy=false", "--enable-prometheus",
        "--timeout", "4m", timeout=300,
    )  # fmt: skip
    for app in ("osm-controller", "osm-injector", "osm-prometheus"):
        _expect(bool(s.pods(OSM_NS, f"app={app}")), f"no {app} pod")


def mesh_list_and_version(s: Scenario) -> None:
    """`osm mesh list` and `osm version` read the running controller through the API
    server's pod proxy."""
    meshes = json.loads(s.osm("mesh", "list", "-o", "json").stdout)
    text = json.dumps(meshes)
    _expect('"osm"' in text and OSM_NS in text, f"mesh list does not show mesh osm: {text}")
    _expect("v1alpha" in text, f"mesh list shows no SMI versions from the controller: {text}")
    version = json.loads(s.osm("version", "-o", "json").stdout)
    _expect("0.1.0" in json.dumps(version), f"version shows no control-plane version: {version}")
    s.facts["mesh_list"] = meshes
    s.facts["version"] = version


def onboard_and_deploy(s: Scenario) -> None:
    """The article's namespace, `osm namespace add`, then its app with kubectl."""
    s.kubectl("create", "namespace", SIMPLE)
    s.osm("namespace", "add", SIMPLE, "--enable-sidecar-injection")
    s.kubectl("apply", "-f", str(MANIFESTS / "simple" / "app"))
    s.wait_rollout(SIMPLE, "api", "frontend")
    _expect_injected(s, SIMPLE)


def _expect_injected(s: Scenario, namespace: str) -> None:
    for pod in s.kubectl_json("get", "pods", "-n", namespace)["items"]:
        name = pod["metadata"]["name"]
        containers = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
        _expect("envoy" in containers, f"{name} has no envoy sidecar: {containers}")
        _expect("osm-init" in inits, f"{name} has no osm-init container: {inits}")
        _expect(_ready(pod), f"{name} is not Ready")


def denied_without_traffic_target(s: Scenario) -> None:
    # The article's pods have no readiness probe: Ready comes before the app listens.
    result = s.eventually("the frontend answers", lambda: s.call_api(SIMPLE)[0])
    assert isinstance(result, dict)
    _expect(result["status"] == 403, f"expected 403 without a TrafficTarget, got {result}")
    _expect("no TrafficTarget" in (result["error"] or ""), f"no reason given: {result}")


def allowed_with_traffic_target(s: Scenario) -> None:
    s.kubectl("apply", "-f", str(MANIFESTS / "simple" / "smi" / "access.yml"))
    s.eventually("GET /api/values allowed", lambda: s.status_of(SIMPLE) == 200)
    other = s.status_of(SIMPLE, "/healthz")
    _expect(other == 403, f"a path outside the HTTPRouteGroup got {other}, expected 403")


SAMPLE_IMAGE = "docker.io/thorstenhans/osm-sample-api-v1:0.0.4"  # has python3


def plaintext_refused(s: Scenario) -> None:
    """A pod without a sidecar calls the meshed api pod's port directly: osm-init's rules send
    it to Envoy's inbound listener, which wants mTLS, so no plaintext request gets through."""
    api = s.pods(SIMPLE, "app=api")[0]
    ip = api["status"]["podIP"]
    script = (
        "import urllib.request\n"
        "try:\n"
        f"    print(urllib.request.urlopen('http://{ip}:80/api/values', timeout=5).status)\n"
        "except Exception as exc:\n"
        "    print('refused:', type(exc).__name__, exc)\n"
    )
    out = s.kubectl(
        "run", "plaintext-probe", "-n", "default", f"--image={SAMPLE_IMAGE}", "--restart=Never",
        "--rm", "-i", "--quiet", "--command", "--", "python3", "-c", script, timeout=120,
    ).stdout.strip()  # fmt: skip
    s.facts["plaintext"] = out
    _expect(out.startswith("refused:"), f"a plaintext call from outside the mesh got: {out}")


def _serials(s: Scenario, namespace: str, pod: str) -> set[str]:
    certs = json.loads(s.osm("proxy", "get", "certs", pod, "-n", namespace).stdout)
    return {
        c["serial_number"]
        for entry in certs.get("certificates", [])
        for c in entry.get("cert_chain", [])
    }


def injector_down_fails_closed(s: Scenario) -> None:
    """With the injector down, the webhook's failurePolicy (Fail) refuses new pods of meshed
    namespaces -- none starts without its sidecar -- while other namespaces are untouched."""
    s.kubectl("scale", "deployment/osm-injector", "-n", OSM_NS, "--replicas=0")
    try:
        s.eventually("injector gone", lambda: not s.pods(OSM_NS, "app=osm-injector"), 120)
        refused = s.kubectl(
            "run", "no-sidecar", "-n", SIMPLE, f"--image={SAMPLE_IMAGE}", "--restart=Never",
            check=False,
        )  # fmt: skip
        _expect(refused.returncode != 0, "a meshed pod was created with the injector down")
        _expect("osm-inject" in refused.stderr, f"not refused by the webhook: {refused.stderr}")
        s.kubectl("run", "outside", "-n", "default", f"--image={SAMPLE_IMAGE}", "--restart=Never")
        outside = s.kubectl_json("get", "pod", "outside", "-n", "default")
        names = [c["name"] for c in outside["spec"]["containers"]]
        _expect(names == ["outside"], f"a pod outside the mesh was changed: {names}")
        s.kubectl("delete", "pod", "outside", "-n", "default", "--wait=false")
    finally:
        s.kubectl("scale", "deployment/osm-injector", "-n", OSM_NS, "--replicas=1")
        s.wait_rollout(OSM_NS, "osm-injector")


def restarted_pod_gets_a_new_certificate(s: Scenario) -> None:
    old = s.pod_name(SIMPLE, "api")
    before = _serials(s, SIMPLE, old)
    s.kubectl("delete", "pod", old, "-n", SIMPLE, "--wait=true", timeout=180)
    s.wait_rollout(SIMPLE, "api")
    new = s.eventually("a new api pod", lambda: s.pod_name(SIMPLE, "api"), timeout=120)
    after = _serials(s, SIMPLE, str(new))
    _expect(bool(after) and not (after & before), f"same certificate after restart: {after}")
    s.eventually("the new pod serves", lambda: s.status_of(SIMPLE) == 200)


def controller_down_traffic_flows(s: Scenario) -> None:
    """Killing the controller keeps traffic flowing; a policy change made while it is away
    applies once it is back."""
    controller = s.pod_name(OSM_NS, "osm-controller")
    s.kubectl("delete", "pod", controller, "-n", OSM_NS, "--grace-period=0", "--force")
    _expect(s.status_of(SIMPLE) == 200, "traffic stopped when the controller was killed")
    s.kubectl("scale", "deployment/osm-controller", "-n", OSM_NS, "--replicas=0")
    s.eventually("controller gone", lambda: not s.pods(OSM_NS, "app=osm-controller"), 120)
    s.kubectl("delete", "traffictarget", "api", "-n", SIMPLE)
    time.sleep(2)
    _expect(s.status_of(SIMPLE) == 200, "Envoy lost its config while the controller was down")
    s.kubectl("scale", "deployment/osm-controller", "-n", OSM_NS, "--replicas=1")
    s.wait_rollout(OSM_NS, "osm-controller")
    s.eventually("the revocation applies", lambda: s.status_of(SIMPLE) == 403, timeout=120)
    s.kubectl("apply", "-f", str(MANIFESTS / "simple" / "smi" / "access.yml"))
    s.eventually("allowed again", lambda: s.status_of(SIMPLE) == 200)


def namespace_add_restart(s: Scenario) -> None:
    """`osm namespace add --restart` gives running pods their sidecars."""
    namespace = "osm-late-joiner"
    s.kubectl("create", "namespace", namespace)
    s.kubectl("create", "deployment", "late", f"--image={SAMPLE_IMAGE}", "-n", namespace)
    s.wait_rollout(namespace, "late")
    before = s.pods(namespace, "app=late")[0]
    _expect(len(before["spec"]["containers"]) == 1, "the pod had a sidecar before joining")
    s.osm("namespace", "add", namespace, "--enable-sidecar-injection", "--restart")
    s.wait_rollout(namespace, "late")

    def injected() -> bool:
        pods = [p for p in s.pods(namespace, "app=late") if _ready(p)]
        names = [c["name"] for p in pods for c in p["spec"]["containers"]]
        return len(pods) == 1 and "envoy" in names

    s.eventually("the restarted pod has its sidecar", injected, timeout=180)
    s.kubectl("delete", "namespace", namespace, "--wait=false")


def canary_split(s: Scenario, requests: int = 1000) -> None:
    """The article's 90/10 TrafficSplit, measured from inside the mesh."""
    s.kubectl("create", "namespace", CANARY)
    s.osm("namespace", "add", CANARY, "--enable-sidecar-injection")
    s.kubectl("apply", "-f", str(MANIFESTS / "canary" / "app"))
    s.wait_rollout(CANARY, "api-v1", "api-v2", "frontend")
    _expect_injected(s, CANARY)
    s.eventually("the frontend answers", lambda: s.call_api(CANARY)[0])
    s.kubectl("apply", "-f", str(MANIFESTS / "canary" / "smi"))
    s.eventually("the split serves", lambda: s.status_of(CANARY) == 200)
    results = s.call_api(CANARY, count=requests)
    versions = [r["version"] for r in results if r["status"] == 200]
    errors = len(results) - len(versions)
    v2 = versions.count("v2")
    expected, sigma = requests * 0.1, math.sqrt(requests * 0.1 * 0.9)
    s.facts["canary"] = {"requests": requests, "v1": versions.count("v1"), "v2": v2,
                         "errors": errors, "v2_share": v2 / max(1, len(versions))}  # fmt: skip
    _expect(errors == 0, f"{errors} of {requests} canary requests failed")
    _expect(
        abs(v2 - expected) <= 3 * sigma,
        f"api-v2 got {v2} of {requests}; 90/10 expects {expected:.0f} ± {3 * sigma:.0f} (3 sigma)",
    )


def proxy_get(s: Scenario) -> None:
    """`osm proxy get` through the kubelet's port-forward."""
    pod = s.pod_name(SIMPLE, "frontend")
    dump = s.osm("proxy", "get", "config_dump", pod, "-n", SIMPLE).stdout
    _expect('"outbound-listener"' in dump, "the config dump has no outbound-listener")
    _expect("PRIVATE KEY" not in dump, "the config dump shows a private key")


def dashboard_prometheus(s: Scenario) -> None:
    """`osm dashboard --service prometheus` through the port-forward, and Prometheus really
    scraping the sidecars (after `osm metrics enable`)."""
    import urllib.parse
    import urllib.request

    s.osm("metrics", "enable", "--namespace", SIMPLE)
    s.kubectl("rollout", "restart", "deployment", "-n", SIMPLE)
    s.wait_rollout(SIMPLE, "api", "frontend")
    port = _free_port()
    dashboard = subprocess.Popen(
        [s.osm_bin, "dashboard", "--service", "prometheus", "-p", str(port), "-b=false"],
        env=s.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:

        def query(promql: str) -> list:
            url = f"http://127.0.0.1:{port}/api/v1/query?query=" + urllib.parse.quote(promql)
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())["data"]["result"]

        def scraped() -> list:
            s.call_api(SIMPLE)
            try:
                return query(f'envoy_cluster_upstream_rq_total{{source_namespace="{SIMPLE}"}}')
            except OSError:
                return []

        series = s.eventually("Prometheus scraped the sidecars", scraped, timeout=150)
        s.facts["prometheus_series"] = len(series)  # type: ignore[arg-type]
    finally:
        dashboard.terminate()
        dashboard.wait(10)


def diagnostics(s: Scenario) -> None:
    """`osm check --proxy`, `osm proxy status` and `osm stat` on the live mesh: the
    controller's sync state through a port-forward, the sidecars' own statistics."""
    checked = s.osm("check", "--proxy", "-o", "json", check=False)
    failed = [c for c in json.loads(checked.stdout)["checks"] if c["status"] != "ok"]
    _expect(checked.returncode == 0 and not failed, f"osm check --proxy: {failed}")
    status = json.loads(s.osm("proxy", "status", "-n", SIMPLE, "-o", "json").stdout)
    proxies = status["proxies"]
    _expect(len(proxies) >= 2, f"proxy status lists {len(proxies)} proxies of {SIMPLE}")
    _expect(all(p["connected"] and p["synced"] for p in proxies), f"not in sync: {proxies}")
    # osm stat reads the sidecars at the start and the end of its window (each read goes
    # through a port-forward and takes seconds): call the API from inside the mesh until it
    # is done, so the window surely holds calls; some fall outside it.
    stat = subprocess.Popen(
        [s.osm_bin, "stat", "deploy/api", "-n", SIMPLE, "-w", "15s", "-o", "json"],
        env=s.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    calls: list[dict] = []
    deadline = time.monotonic() + 120
    while stat.poll() is None and time.monotonic() < deadline:
        calls += s.call_api(SIMPLE, count=10)
    out, err = stat.communicate(timeout=30)
    _expect(stat.returncode == 0, f"osm stat failed: {err}")
    (api,) = [w for w in json.loads(out)["workloads"] if w["name"] == "api"]
    s.facts["stat"] = {**api, "sent": len(calls)}
    _expect(all(c["status"] == 200 for c in calls), "a call failed while osm stat ran")
    counted = api["requests"]
    _expect(0 < counted <= len(calls), f"osm stat counted {counted} of {len(calls)}: {api}")
    _expect(api["successRate"] == 1.0, f"success rate {api['successRate']}, all were 200")


def bug_report(s: Scenario) -> None:
    folder = Path(tempfile.mkdtemp(prefix="osm-bug-report-"))
    try:
        archive = folder / "report.tar.gz"
        s.osm("support", "bug-report", "--app-namespaces", SIMPLE, "-o", str(archive), timeout=180)
        import tarfile

        with tarfile.open(archive) as tar:
            names = tar.getnames()
        _expect(any("osm-controller" in n for n in names), "no controller logs in the report")
        _expect(any(SIMPLE in n for n in names), f"nothing of {SIMPLE} in the report")
        s.facts["bug_report_files"] = len(names)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def uninstall(s: Scenario) -> None:
    s.osm("uninstall", "mesh", "-f", "-a", "--delete-namespace", timeout=300)
    for namespace in (SIMPLE, CANARY):
        s.kubectl("delete", "namespace", namespace, "--ignore-not-found", timeout=300)

    def nothing_left() -> bool:
        crds = s.kubectl("get", "crd", "-o", "name").stdout
        hooks = s.kubectl("get", "mutatingwebhookconfigurations", "-o", "name").stdout
        namespaces = s.kubectl("get", "namespaces", "-o", "name").stdout
        return (
            "smi-spec.io" not in crds
            and "openservicemesh.io" not in crds
            and "osm" not in hooks
            and f"namespace/{OSM_NS}" not in namespaces
        )

    s.eventually("no mesh object left", nothing_left, timeout=180)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STEPS: list[Callable[[Scenario], None]] = [
    install,
    mesh_list_and_version,
    onboard_and_deploy,
    denied_without_traffic_target,
    allowed_with_traffic_target,
    plaintext_refused,
    injector_down_fails_closed,
    restarted_pod_gets_a_new_certificate,
    controller_down_traffic_flows,
    canary_split,
    proxy_get,
    dashboard_prometheus,
    diagnostics,
    namespace_add_restart,
    bug_report,
    uninstall,
]
