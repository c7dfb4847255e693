"""How each image is assembled (one function per image) and what an image is.

The list of images, with references and configs, is images/inventory.py.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from images import artifacts
from images.buildah import Buildah, ImageConfig
from images.context import REPO, Context, digest, file_digest

SUITE = "bookworm"
MIRROR = os.environ.get("OSM_IMAGES_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get(
    "OSM_IMAGES_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VENV = "/opt/osm"
CONTROL_PLANE_UID = 65532

COREDNS = artifacts.GoBuild(
    kind="coredns",
    module="coredns",
    package=".",
    ldflags=("-X github.com/coredns/coredns/coremain.GitCommit=v1.14.6",),
)
COREDNS_VERSION = "1.14.6"
PROMETHEUS_VERSION = "3.5.0"  # Go module v0.305.0 (Prometheus tags its modules v0.<minor>)
PROMETHEUS = artifacts.GoBuild(
    kind="prometheus",
    module="prometheus",
    package="github.com/prometheus/prometheus/cmd/prometheus",
    ldflags=tuple(
        f"-X github.com/prometheus/common/version.{name}={value}"
        for name, value in (
            ("Version", PROMETHEUS_VERSION),
            ("Revision", "v0.305.0"),
            ("Branch", "osm-images"),
            ("BuildUser", "osm-images"),
        )
    ),
    patches=(("github.com/prometheus/prometheus", "plugins/plugins.go", "plugins.go"),),
)


@dataclass(frozen=True)
class Check:
    """The image's own command run with `ctr run`; its output must contain `expect`."""

    argv: Sequence[str]
    expect: str


@dataclass(frozen=True)
class Image:
    name: str
    ref: str
    parent: str | None
    assemble: Callable[[Context, Buildah, str], None]
    config: ImageConfig
    check: Check
    inputs: Callable[[], Sequence[str]] = lambda: ()
    # Internal images (the base) are cached but not exported.
    export: bool = True
    about: str = ""

    def own_key(self) -> str:
        """Key of this image's own step: its code, config, reference and inputs."""
        return digest(
            self.name,
            self.ref,
            inspect.getsource(self.assemble),
            repr(self.config),
            *self.inputs(),
        )


def _apt_install(packages: Sequence[str]) -> str:
    return (
        "apt-get update -qq\n"
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        + " ".join(packages)
        + " >/dev/null\n"
        "apt-get clean\n"
        "rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log\n"
    )


# -- base: debootstrap --variant=minbase, upgraded, without docs ---------------------------
SLIM_DPKG = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
"""


def assemble_base(ctx: Context, buildah: Buildah, container: str) -> None:
    root = buildah.mount(container)
    ctx.say(f"  debootstrap --variant=minbase {SUITE} ({MIRROR})")
    artifacts.run(
        ["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR], what="debootstrap"
    )
    (root / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\n"
        f"deb {MIRROR} {SUITE}-updates main\n"
        f"deb {SECURITY_MIRROR} {SUITE}-security main\n"
    )
    (root / "etc/dpkg/dpkg.cfg.d/01-osm-slim").write_text(SLIM_DPKG)
    # debootstrap copies the build host's name and resolver; a runtime provides its own.
    for name in ("etc/hostname", "etc/resolv.conf"):
        (root / name).unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")
    ctx.say("  apt-get upgrade (security and point-release updates)")
    buildah.sh(
        container,
        "apt-get update -qq\n"
        "DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null\n"
        "apt-get clean\n"
        "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/*.log\n"
        "find /usr/share/doc -mindepth 2 ! -name copyright -delete\n"
        "rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian/*\n",
    )


# -- osm-init: sh + iptables for the injected init container -------------------------------
def assemble_init(ctx: Context, buildah: Buildah, container: str) -> None:
    ctx.say("  apt-get install iptables")
    buildah.sh(container, _apt_install(["iptables"]))


# -- the control plane: python3 + a venv with the project wheel and its dependencies -------
def assemble_control_plane(ctx: Context, buildah: Buildah, container: str) -> None:
    wheels = artifacts.wheelhouse().path(ctx)
    ctx.say("  apt-get install python3 python3-venv; pip install the wheel (offline)")
    buildah.sh(
        container,
        _apt_install(["python3", "python3-venv"]) + f"python3 -m venv {VENV}\n"
        f"{VENV}/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check "
        "--find-links /wheels osm-cli\n"
        f"groupadd --gid {CONTROL_PLANE_UID} osm\n"
        f"useradd --uid {CONTROL_PLANE_UID} --gid {CONTROL_PLANE_UID} --no-create-home "
        "--shell /usr/sbin/nologin osm\n",
        volumes=[f"{wheels}:/wheels:ro"],
    )


# -- images from single files ---------------------------------------------------------------
def _put(root: Path, inside: str, source: Path, mode: int = 0o755) -> None:
    target = root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


def _minimal_etc(root: Path, users: Sequence[tuple[str, int]]) -> None:
    """/etc/passwd and /etc/group naming the given users, /tmp: what distroless images have."""
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text(
        "".join(f"{name}:x:{uid}:{uid}:{name}:/:/sbin/nologin\n" for name, uid in users)
    )
    (root / "etc/group").write_text("".join(f"{name}:x:{uid}:\n" for name, uid in users))
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)


def assemble_pause(ctx: Context, buildah: Buildah, container: str) -> None:
    _put(buildah.mount(container), "/pause", artifacts.pause_binary().path(ctx))


def assemble_coredns(ctx: Context, buildah: Buildah, container: str) -> None:
    _put(buildah.mount(container), "/coredns", COREDNS.artifact.path(ctx))


PROMETHEUS_DEFAULT_CONFIG = """\
# The image's default: Prometheus scraping itself. The chart mounts its own over this folder.
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
"""


def assemble_prometheus(ctx: Context, buildah: Buildah, container: str) -> None:
    root = buildah.mount(container)
    _put(root, "/bin/prometheus", PROMETHEUS.artifact.path(ctx))
    _minimal_etc(root, [("root", 0), ("nobody", 65534)])
    (root / "etc/prometheus").mkdir(parents=True)
    (root / "etc/prometheus/prometheus.yml").write_text(PROMETHEUS_DEFAULT_CONFIG)
    data = root / "prometheus"
    data.mkdir()
    os.chown(data, 65534, 65534)


def assemble_envoy(ctx: Context, buildah: Buildah, container: str) -> None:
    """glibc (Debian's libc6 files, from the base) + the wheel's envoy: a distroless image."""
    root = buildah.mount(container)
    base = buildah.mount(buildah.new(ctx.archive("base")))
    for link in ("bin", "sbin", "lib", "lib64"):  # merged /usr: top-level symlinks
        if (base / link).is_symlink():
            pointed = os.readlink(base / link)
            (root / pointed.lstrip("/")).mkdir(parents=True, exist_ok=True)
            (root / link).symlink_to(pointed)
    listing = (base / "var/lib/dpkg/info/libc6:amd64.list").read_text().splitlines()
    for name in listing:
        source = base / name.lstrip("/")
        target = root / name.lstrip("/")
        if source.is_symlink():
            if not target.is_symlink() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(os.readlink(source))
        elif source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    binary, _ = artifacts.envoy_binary()
    _put(root, "/usr/local/bin/envoy", binary)
    _minimal_etc(root, [("root", 0), ("envoy", 1500), ("nobody", 65534)])


# The demo apps need only these files of the project (all import-free but the stdlib).
DEMO_APP_FILES = (
    "osm_mesh/__init__.py",
    "osm_mesh/local/__init__.py",
    "osm_mesh/local/apps/__init__.py",
    "osm_mesh/local/apps/_server.py",
    "osm_mesh/local/apps/api.py",
    "osm_mesh/local/apps/frontend.py",
)


def assemble_python(ctx: Context, buildah: Buildah, container: str) -> None:
    ctx.say("  apt-get install python3")
    buildah.sh(container, _apt_install(["python3"]))


def assemble_demo_app(ctx: Context, buildah: Buildah, container: str) -> None:
    root = buildah.mount(container)
    for name in DEMO_APP_FILES:
        _put(root, f"/app/{name}", REPO / name, mode=0o644)


def envoy_inputs() -> Sequence[str]:
    binary, version = artifacts.envoy_binary()
    return (file_digest(binary), version)


def envoy_ref() -> str:
    return f"docker.io/envoyproxy/envoy-distroless:v{artifacts.envoy_binary()[1]}"
