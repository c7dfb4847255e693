"""The cluster's images, for real: built by `python -m images` (cached: a no-op when nothing
changed), imported into a private containerd 1.6 with `ctr images import`, and run with
`ctr run` (runc) — each image's own command, then what the cluster will do with it.

Marker `images`: needs root, buildah, debootstrap, containerd and runc (.ci/run installs them).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from images.inventory import all_images
from osm_mesh.injector.iptables import init_script, redirect_rules
from tests.chart.helpers import find, render
from tests.images.containerd import Containerd

pytestmark = [pytest.mark.images, pytest.mark.timeout(3600)]
REPO = Path(__file__).resolve().parents[2]
RECIPES = {image.name: image for image in all_images() if image.export}


@pytest.fixture(scope="module")
def manifest() -> dict[str, dict]:
    """Build (or find cached) every image; the manifest the build wrote."""
    result = subprocess.run(
        [sys.executable, "-m", "images"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    images: dict[str, dict] = json.loads((REPO / ".images/manifest.json").read_text())["images"]
    return images


@pytest.fixture(scope="module")
def containerd(tmp_path_factory, manifest) -> Iterator[Containerd]:
    daemon = Containerd(
        tmp_path_factory.mktemp("containerd"), sandbox_image=manifest["pause"]["ref"]
    )
    try:
        for entry in manifest.values():
            daemon.ctr("images", "import", str(REPO / ".images" / entry["archive"]), timeout=600)
        yield daemon
    finally:
        daemon.stop()


def test_every_image_is_built_and_named_as_its_recipe(manifest):
    assert set(manifest) == set(RECIPES)
    for name, entry in manifest.items():
        assert entry["ref"] == RECIPES[name].ref
        assert (REPO / ".images" / entry["archive"]).is_file()


def test_import_keeps_names_and_digests(containerd, manifest):
    listed = containerd.ctr("images", "ls").stdout.splitlines()[1:]
    digests = {line.split()[0]: line.split()[2] for line in listed}
    for entry in manifest.values():
        assert digests.get(entry["ref"]) == entry["digest"], entry["ref"]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_image_runs_its_check_command(containerd, manifest, name):
    check = RECIPES[name].check
    result = containerd.run(manifest[name]["ref"], check.argv)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert check.expect in output, output


def test_control_plane_runs_as_65532_with_both_programs(containerd, manifest):
    ref = manifest["osm-mesh-controller"]["ref"]
    assert containerd.run(ref, ["id", "-u"]).stdout.strip() == "65532"
    for program in ("osm-controller", "osm-injector"):
        result = containerd.run(ref, [program, "--help"], "--read-only")
        assert result.returncode == 0 and "--mesh-name" in result.stdout, result.stderr
    injector = containerd.run(ref, ["python", "-m", "osm_mesh.injector", "--help"])
    assert "--envoy-image" in injector.stdout, injector.stderr
    version = containerd.run(ref, ["osm", "version", "--client-only"])
    assert "0.1.0" in version.stdout, version.stdout + version.stderr


def test_init_image_applies_the_injectors_iptables_rules(containerd, manifest):
    """The injector's own script, with the capabilities its securityContext grants."""
    script = init_script(redirect_rules(probe_ports=[15901]))
    result = containerd.run(
        manifest["osm-init"]["ref"],
        ["/bin/sh", "-c", script],
        "--cap-add",
        "CAP_NET_ADMIN",
        "--cap-add",
        "CAP_NET_RAW",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-A OSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in result.stdout
    assert "-A OSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15003" in result.stdout
    # Without NET_ADMIN the same script fails: the rules really went into the kernel.
    denied = containerd.run(manifest["osm-init"]["ref"], ["/bin/sh", "-c", script])
    assert denied.returncode != 0


def test_pause_holds_until_sigterm_then_exits_0(containerd, manifest):
    """As PID 1 a process without a handler ignores SIGTERM: stopping proves the handler."""
    name = "pause-check"
    containerd.ctr("run", "--detach", manifest["pause"]["ref"], name)
    try:
        time.sleep(0.5)
        assert re.search(rf"^{name}\s+\d+\s+RUNNING", containerd.ctr("tasks", "ls").stdout, re.M)
        containerd.ctr("tasks", "kill", "--signal", "SIGTERM", name)
        for _ in range(50):
            if re.search(rf"^{name}\s+\d+\s+STOPPED", containerd.ctr("tasks", "ls").stdout, re.M):
                break
            time.sleep(0.1)
        else:
            pytest.fail("pause did not stop on SIGTERM")
        deleted = containerd.ctr("tasks", "delete", name)
        # ctr warns "task ... exit with non-zero exit code N" when it was not 0.
        assert "non-zero" not in deleted.stdout + deleted.stderr, deleted
    finally:
        containerd.remove(name)


def test_coredns_has_the_cluster_plugins_only(containerd, manifest):
    result = containerd.run(manifest["coredns"]["ref"], ["/coredns", "-plugins"])
    plugins = set(result.stdout.split())
    assert {"kubernetes", "forward", "cache", "prometheus", "health", "ready"} <= plugins
    assert not {"etcd", "route53", "azure", "clouddns"} & plugins


def _serve_and_ask(containerd, ref: str, task: str, path: str) -> str:
    """Start the image's own command (as a pod runs it: no args, its env) detached, then
    GET http://127.0.0.1:80<path> from inside the container; the answer's version and body."""
    containerd.ctr("run", "--detach", ref, task)
    probe = (
        "import json, time, urllib.request\n"
        "for _ in range(100):\n"
        "    try:\n"
        f"        r = urllib.request.urlopen('http://127.0.0.1:80{path}', timeout=2)\n"
        "        print(r.headers['X-Api-Version'], r.read().decode()); break\n"
        "    except OSError: time.sleep(0.1)\n"
    )
    try:
        result = containerd.ctr("tasks", "exec", "--exec-id", "probe", task, "python3", "-c", probe)
        return result.stdout
    finally:
        containerd.remove(task)


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("osm-sample-api-v1", 'v1 ["Value 1", "Value 2", "Value 3"]'),
        ("osm-sample-api-v2", 'v2 ["Value 4", "Value 5", "Value 6"]'),
        ("osm-sample-frontend", 'None {"status": "ok"}'),
    ],
)
def test_demo_app_answers_on_port_80(containerd, manifest, name, answer):
    path = "/healthz" if "frontend" in name else "/api/values"
    assert answer in _serve_and_ask(containerd, manifest[name]["ref"], f"{name}-check", path)


def test_sidecar_validates_an_injected_pods_bootstrap(containerd, manifest, tmp_path):
    """The injector's bootstrap for a pod, mounted where the injector mounts it, checked by
    the image's Envoy as the injected container runs it (user 1500, read-only root)."""
    from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
    from osm_mesh.certs.ca import CertificateAuthority
    from osm_mesh.injector.bootstrap import bootstrap_files, pod_bootstrap
    from osm_mesh.injector.patch import BOOTSTRAP_KEY, BOOTSTRAP_MOUNT, InjectorSettings

    ca = CertificateAuthority.create()
    config = pod_bootstrap(
        proxy_uuid="u-1",
        namespace="bookstore",
        service_account="bookstore",
        settings=InjectorSettings(mesh_name="osm", osm_namespace="osm-system"),
        ca_pem=ca.cert_pem,
    )
    folder = tmp_path / "bootstrap"
    folder.mkdir(mode=0o755)
    node = "u-1.sidecar.bookstore.bookstore.cluster.local"
    for name, text in bootstrap_files(
        config, issue_bootstrap(bootstrap_authority(ca), node)
    ).items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o644)
    path = f"{BOOTSTRAP_MOUNT}/{BOOTSTRAP_KEY}"
    result = containerd.run(
        manifest["envoy"]["ref"],
        ["envoy", "--mode", "validate", "--config-path", path],
        "--read-only",
        "--mount",
        f"type=bind,src={folder},dst={BOOTSTRAP_MOUNT},options=rbind:ro",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"configuration '{path}' OK" in output, output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_runs_the_charts_config_and_args(containerd, manifest, tmp_path):
    """The chart's scrape config (kubernetes_sd_configs, which Debian's build lacks) and the
    chart's container args, on a read-only root: Prometheus loads it and becomes ready."""
    objects = render({"osm": {"deployPrometheus": True}})
    config = find(objects, "ConfigMap", "osm-prometheus")["data"]["prometheus.yml"]
    deployment = find(objects, "Deployment", "osm-prometheus")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "kubernetes_sd_configs" in config
    folder = tmp_path / "prometheus-config"
    folder.mkdir(mode=0o755)
    (folder / "prometheus.yml").write_text(config)
    (folder / "prometheus.yml").chmod(0o644)
    data = tmp_path / "prometheus-data"
    data.mkdir()
    data.chmod(0o777)
    port = _free_port()
    # Host network on loopback only, so the test can ask it; the chart's args otherwise.
    args = [a for a in args if not a.startswith("--web.listen-address")]
    args.append(f"--web.listen-address=127.0.0.1:{port}")
    task = "prometheus-check"
    containerd.ctr(
        "run",
        "--detach",
        "--net-host",
        "--read-only",
        "--mount",
        f"type=bind,src={folder},dst=/etc/prometheus,options=rbind:ro",
        "--mount",  # the chart's emptyDir: the kubelet makes it world-writable
        f"type=bind,src={data},dst=/prometheus,options=rbind:rw",
        manifest["prometheus"]["ref"],
        task,
        "/bin/prometheus",
        *args,
    )
    try:
        ready = loaded = ""
        for _ in range(150):
            try:
                base = f"http://127.0.0.1:{port}"
                ready = urllib.request.urlopen(f"{base}/-/ready", timeout=2).read().decode()
                loaded = urllib.request.urlopen(f"{base}/api/v1/status/config", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert "Ready" in ready, containerd.ctr("tasks", "ls").stdout
        assert "kubernetes_sd_configs" in json.loads(loaded)["data"]["yaml"]
    finally:
        containerd.remove(task)


COREFILE = """\
.:53 {
    errors
    health :8080
    hosts {
        10.96.0.1 kubernetes.default.svc.cluster.local
    }
}
"""
# A DNS query for one A record over UDP, the standard library only: header (id, RD flag,
# one question), the name as labels, type A, class IN; prints rcode and the last answer.
DNS_QUERY = """\
import socket, struct
name = b"".join(bytes([len(p)]) + p for p in b"kubernetes.default.svc.cluster.local".split(b"."))
header = struct.pack(">HHHHHH", 0x4F53, 0x0100, 1, 0, 0, 0)
query = header + name + b"\\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for _ in range(50):
    try:
        s.sendto(query, ("127.0.0.1", 53))
        answer = s.recv(512)
        break
    except OSError:
        pass
_, flags, _, count = struct.unpack(">HHHH", answer[:8])
print("rcode", flags & 0xF, "answers", count, "address", socket.inet_ntoa(answer[-4:]))
"""


def test_coredns_answers_dns_with_its_directive_order(containerd, manifest, tmp_path):
    """CoreDNS serves a Corefile on :53 in its own network namespace; a Python container
    joining that namespace asks it (the plugin chain runs with main.go's directive order)."""
    folder = tmp_path / "coredns"
    folder.mkdir(mode=0o755)
    (folder / "Corefile").write_text(COREFILE)
    (folder / "Corefile").chmod(0o644)
    task = "coredns-check"
    containerd.ctr(
        "run",
        "--detach",
        "--read-only",
        "--mount",
        f"type=bind,src={folder},dst=/etc/coredns,options=rbind:ro",
        manifest["coredns"]["ref"],
        task,
        "/coredns",
        "-conf",
        "/etc/coredns/Corefile",
    )
    try:
        listed = containerd.ctr("tasks", "ls").stdout
        pid = re.search(rf"^{task}\s+(\d+)\s+RUNNING", listed, re.M)
        assert pid, listed
        asked = containerd.run(
            manifest["osm-sample-api-v1"]["ref"],
            ["python3", "-c", DNS_QUERY],
            "--with-ns",
            f"network:/proc/{pid.group(1)}/ns/net",
        )
        assert "rcode 0 answers 1 address 10.96.0.1" in asked.stdout, asked.stdout + asked.stderr
    finally:
        containerd.remove(task)
