"""Build the cluster's images without a Docker daemon or a registry: `make images`.

    python -m images [NAME ...] [--force NAME] [--out DIR] [--list]

Each image is cached as an OCI archive under a key over its inputs and its parent's key, in
~/.cache/osm-images (OSM_IMAGES_CACHE), outside the checkout so a fresh clone on the same
machine starts warm. The exported images are linked into .images/ with manifest.json
(name -> reference, archive, digest); `ctr -n k8s.io images import .images/NAME.tar` loads
one. See images/README.md.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import sys
import tarfile
import time
from pathlib import Path

from images.buildah import Buildah, BuildError
from images.context import REPO, Context, default_cache_dir, digest
from images.inventory import all_images
from images.recipes import Image

NAMESPACE_MARK = "OSM_IMAGES_IN_NAMESPACE"
# Cache entries unused for this long are removed at the end of a build, and of each image or
# artifact only the newest few are kept besides the ones the build used.
PRUNE_AFTER_DAYS = 14
KEEP_PER_NAME = 4
_ENTRY = re.compile(r"(.+)-[0-9a-f]{16}(\.tar)?")
REQUIRED_TOOLS = {
    "buildah": "buildah",
    "debootstrap": "debootstrap",
    "runc": "runc",
    "unshare": "util-linux",
    "go": "the Go toolchain",
    "gcc": "gcc",
}


def image_keys(images: list[Image]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for image in images:
        parent = keys[image.parent] if image.parent else ""
        keys[image.name] = digest(image.own_key(), parent)
    return keys


def with_parents(images: list[Image], names: list[str]) -> list[Image]:
    """The named images and every image they are built from, parents first."""
    by_name = {image.name: image for image in images}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise SystemExit(f"images: no image named {', '.join(unknown)} (see --list)")
    wanted: set[str] = set()
    for name in names:
        current: str | None = name
        while current:
            wanted.add(current)
            current = by_name[current].parent
    return [image for image in images if image.name in wanted]


def build_one(ctx: Context, buildah: Buildah, image: Image, archive: Path) -> None:
    parent = ctx.archive(image.parent) if image.parent else None
    container = buildah.new(parent)
    image.assemble(ctx, buildah, container)
    buildah.configure(container, image.config)
    partial = ctx.work / f"partial-{archive.name}"
    buildah.commit(container, partial, image.ref)
    partial.rename(archive)


def manifest_digest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        index = json.load(member)
    return str(index["manifests"][0]["digest"])


def export(ctx: Context, images: list[Image], keys: dict[str, str]) -> Path:
    """Link the exported archives into the output folder and write manifest.json."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    manifest_file = ctx.out / "manifest.json"
    manifest: dict[str, dict[str, object]] = {"images": {}}
    if manifest_file.exists():  # a partial build keeps the other images' entries
        manifest = json.loads(manifest_file.read_text())
    for image in images:
        if not image.export:
            continue
        source = ctx.archive(image.name)
        target = ctx.out / f"{image.name}.tar"
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        manifest["images"][image.name] = {
            "ref": image.ref,
            "archive": target.name,
            "digest": manifest_digest(source),
            "size": source.stat().st_size,
            "key": keys[image.name],
            "check": list(image.check.argv),
            "about": image.about,
        }
    partial = manifest_file.with_suffix(".partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    partial.rename(manifest_file)
    return manifest_file


def prune(cache: Path, keep: set[Path]) -> None:
    """Keep the newest KEEP_PER_NAME entries of each image or artifact (by last use) and
    nothing unused for PRUNE_AFTER_DAYS; never what this run used. Every worktree's test
    run can build its own control-plane image (500 MB), so the cache must not grow with it."""
    horizon = time.time() - PRUNE_AFTER_DAYS * 86400
    groups: dict[str, list[Path]] = {}
    for entry in cache.iterdir():
        match = _ENTRY.fullmatch(entry.name)
        if match and entry not in keep:
            groups.setdefault(match.group(1), []).append(entry)
    for entries in groups.values():
        entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
        # The entry this run used (if any) is the newest of its name and is not listed here.
        for index, entry in enumerate(entries):
            if index >= KEEP_PER_NAME - 1 or entry.stat().st_mtime < horizon:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def build(names: list[str], force: list[str], out: Path, cache: Path) -> int:
    images = all_images()
    selected = with_parents(images, names or [i.name for i in images if i.export])
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per cache at a time
        # Holding the lock, no other build runs: anything in work/ is left by a killed one.
        shutil.rmtree(cache / "work", ignore_errors=True)
        work = cache / "work" / str(os.getpid())
        work.mkdir(parents=True)
        ctx = Context(cache=cache, work=work, out=out)
        buildah = Buildah(work / "buildah")
        keys = image_keys(selected)
        timings: list[tuple[str, str, float]] = []
        try:
            for image in selected:
                archive = cache / f"image-{image.name}-{keys[image.name][:16]}.tar"
                started = time.monotonic()
                if archive.exists() and image.name not in force:
                    os.utime(archive)
                    ctx.say(f"{image.name}: cached ({keys[image.name][:12]})")
                    state = "cached"
                else:
                    ctx.say(f"{image.name}: building {image.ref}")
                    build_one(ctx, buildah, image, archive)
                    state = "built"
                ctx.archives[image.name] = archive
                timings.append((image.name, state, time.monotonic() - started))
                if state == "built":
                    size = archive.stat().st_size / 1e6
                    ctx.say(f"{image.name}: built in {timings[-1][2]:.0f}s, {size:.0f} MB")
        finally:
            buildah.close()
            shutil.rmtree(work, ignore_errors=True)
        manifest = export(ctx, selected, keys)
        prune(cache, set(ctx.archives.values()) | ctx.used)
    print(f"{'IMAGE':22} {'STATE':7} {'SECONDS':>7} {'MB':>6}  REFERENCE")
    for name, state, seconds in timings:
        image = next(i for i in selected if i.name == name)
        size = ctx.archives[name].stat().st_size / 1e6
        shown = image.ref if image.export else f"({image.ref}, internal)"
        print(f"{name:22} {state:7} {seconds:7.1f} {size:6.0f}  {shown}")
    print(f"manifest: {manifest}")
    return 0


def _enter_private_mount_namespace(argv: list[str]) -> None:
    """Re-run in a private mount namespace: buildah's mounts end with this process."""
    if os.environ.get(NAMESPACE_MARK):
        return
    env = dict(os.environ, **{NAMESPACE_MARK: "1"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = ["unshare", "--mount", "--propagation", "private", sys.executable, "-m", "images"]
    os.execvpe("unshare", [*cmd, *argv], env)


def _interrupt(signo: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m images", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="images to build (default: all)")
    parser.add_argument("--force", action="append", default=[], help="rebuild NAME")
    parser.add_argument("--out", type=Path, default=REPO / ".images")
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    parser.add_argument("--list", action="store_true", help="list the images and exit")
    args = parser.parse_args(argv)
    if args.list:
        for image in all_images():
            shown = "" if image.export else " (internal)"
            print(f"{image.name:22} {image.ref}{shown}\n{'':22} {image.about}")
        return 0
    if os.geteuid() != 0:
        print("images: building needs root (debootstrap, buildah mounts)", file=sys.stderr)
        return 1
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if not shutil.which(tool)})
    if missing:
        print(f"images: missing tools; install: {', '.join(missing)}", file=sys.stderr)
        return 1
    _enter_private_mount_namespace(argv)
    # SIGTERM unwinds like Ctrl-C, so the buildah storage and work folder are removed.
    signal.signal(signal.SIGTERM, _interrupt)
    if not os.environ.get("OSM_IMAGES_NO_NICE"):
        os.nice(10)  # 2 shared cores: the Go and image builds yield to everything else
    try:
        return build(args.names, args.force, args.out.resolve(), args.cache.resolve())
    except BuildError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("images: interrupted (nothing half-built is kept)", file=sys.stderr)
        return 130
