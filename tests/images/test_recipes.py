"""The images carry the names the chart, the injector and the article's manifests ask for,
and the image tooling's cache keys and CoreDNS plugin order are right. No build here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from images.build import KEEP_PER_NAME, image_keys, prune, with_parents
from images.context import tree_digest
from images.inventory import all_images
from images.recipes import COREDNS_VERSION
from osm_mesh.injector.patch import DEFAULT_ENVOY_IMAGE, default_init_image

REPO = Path(__file__).resolve().parents[2]
REFS = {image.name: image.ref for image in all_images()}


def normalised(ref: str) -> str:
    """How containerd's CRI names an image a pod asks for (docker.io/library defaults)."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref


def test_sidecar_and_prometheus_images_are_the_charts_defaults():
    values = yaml.safe_load((REPO / "templates/osm/values.yaml").read_text())["osm"]
    assert normalised(values["sidecarImage"]) == REFS["envoy"]
    assert normalised(DEFAULT_ENVOY_IMAGE) == REFS["envoy"]
    assert normalised(values["prometheus"]["image"]) == REFS["prometheus"]


def test_control_plane_image_is_the_charts_default():
    values = yaml.safe_load((REPO / "templates/osm/values.yaml").read_text())["osm"]
    chart = yaml.safe_load((REPO / "templates/osm/Chart.yaml").read_text())
    image = values["image"]
    tag = image["tag"] or chart["appVersion"]
    assert f"{image['registry']}/{image['name']}:{tag}" == REFS["osm-mesh-controller"]
    # The init container's image: the chart's default and the injector's own.
    assert f"{image['registry']}/osm-init:{tag}" == REFS["osm-init"]
    assert default_init_image() == REFS["osm-init"]


def test_demo_images_are_the_articles_images():
    wanted = set()
    for manifest in (REPO / "osm_mesh/local/manifests").rglob("*.yml"):
        wanted |= set(re.findall(r"image:\s*(\S+)", manifest.read_text()))
    assert wanted, "the article's manifests name no image"
    assert {normalised(ref) for ref in wanted} <= set(REFS.values())


def test_keys_chain_through_parents():
    images = all_images()
    keys = image_keys(images)
    assert len(set(keys.values())) == len(keys)
    # A changed parent changes every descendant's key, not its siblings'.
    changed = [replace(i, ref=i.ref + "-x") if i.name == "base" else i for i in images]
    new = image_keys(changed)
    for image in images:
        descends = "base" in {p.name for p in with_parents(images, [image.name])}
        assert (new[image.name] != keys[image.name]) == descends, image.name


def test_tree_digest_sees_content_and_mode_but_not_bytecode(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/a.py").write_text("x = 1\n")
    first = tree_digest(tmp_path, ["pkg"])
    (tmp_path / "pkg/__pycache__").mkdir()
    (tmp_path / "pkg/__pycache__/a.cpython-311.pyc").write_bytes(b"junk")
    assert tree_digest(tmp_path, ["pkg"]) == first
    (tmp_path / "pkg/a.py").chmod(0o755)
    assert tree_digest(tmp_path, ["pkg"]) != first
    (tmp_path / "pkg/a.py").write_text("x = 2\n")
    assert tree_digest(tmp_path, ["pkg"]) != first


def test_unknown_image_name_is_refused_with_the_name():
    with pytest.raises(SystemExit, match="no image named nope"):
        with_parents(all_images(), ["nope"])


@pytest.mark.images
def test_coredns_directives_follow_upstream_order_and_imports():
    """main.go's order is a subsequence of the module's plugin.cfg; every directive's
    plugin package is imported and nothing else."""
    folder = REPO / "images/coredns"
    found = subprocess.run(
        ["go", "mod", "download", "-json", f"github.com/coredns/coredns@v{COREDNS_VERSION}"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    cfg = Path(json.loads(found.stdout)["Dir"]) / "plugin.cfg"
    upstream = []
    package_of = {}
    for line in cfg.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, package = line.split(":", 1)
            upstream.append(name)
            package_of[name] = package
    main = (folder / "main.go").read_text()
    body = main.split("var directives = []string{", 1)[1].split("}", 1)[0]
    ours = re.findall(r'"([a-z0-9_]+)"', body)
    assert ours == [name for name in upstream if name in ours]
    imported = set(re.findall(r'_ "github.com/coredns/coredns/plugin/([a-z0-9_]+)"', main))
    assert {package_of[name] for name in ours} == imported


def test_prune_keeps_what_the_run_used_and_the_newest_few(tmp_path):
    now = time.time()
    entries = []
    for age in range(6):  # image-x-<key>.tar, 0 h to 5 h old
        entry = tmp_path / f"image-x-{age:016x}.tar"
        entry.write_text("x")
        os.utime(entry, (now - age * 3600, now - age * 3600))
        entries.append(entry)
    used = tmp_path / f"image-x-{99:016x}.tar"
    used.write_text("x")
    os.utime(used, (now - 40 * 86400, now - 40 * 86400))  # old, but used by this run
    (tmp_path / "lock").write_text("")
    prune(tmp_path, {used})
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {used.name, "lock", *(e.name for e in entries[: KEEP_PER_NAME - 1])}
