"""The fast YAML builder gives exactly yaml.safe_load's objects (issue 12.9)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from osm_mesh.catalog.loader import parse_documents
from osm_mesh.catalog.yamlload import FastLoader

REPO = Path(__file__).resolve().parents[3]

TRICKY = """\
plain: [yes, no, on, off, true, False, ~, null, 0o17, 017, 0x1f, 1_000, 1.5e3, .inf, -.Inf, .nan]
quoted: ["yes", '1', "null", '']
anchors:
  base: &base {a: 1, b: [x, y]}
  again: *base
  merged:
    <<: *base
    b: [z]
when: 2026-12-06T14:33:06Z
day: 2026-12-06
blob: !!binary aGVsbG8=
tagged: !!str 123
as_set: !!set {a, b}
ordered: !!omap [{a: 1}, {b: 2}]
dupe: 1
dupe: 2
? [complex, key]
: value
multi: |
  line one
  line two
folded: >-
  folded
  text
empty:
nested: {list: [[1, 2], {k: v}], "quoted key": 1}
"""


def _fast(text: str) -> list:
    loader = FastLoader(text)
    out = []
    try:
        while loader.check_node():
            out.append(loader.build_document(loader.get_node()))
    finally:
        loader.dispose()
    return out


def test_tricky_yaml_is_built_as_pyyaml_builds_it():
    # The complex key makes the first document unhashable for both: PyYAML's error.
    with pytest.raises(yaml.constructor.ConstructorError):
        list(yaml.safe_load_all(TRICKY))
    with pytest.raises(yaml.constructor.ConstructorError):
        _fast(TRICKY)
    text = TRICKY.replace("? [complex, key]\n: value\n", "")
    assert _fast(text) == list(yaml.safe_load_all(text))
    merged = _fast(text)[0]["anchors"]["merged"]
    assert merged == {"a": 1, "b": ["z"]}
    shared = _fast("a: &x [1]\nb: *x\n")[0]
    assert shared["a"] is shared["b"]  # an alias is the same object, as in PyYAML


def test_every_manifest_of_the_repository_is_built_as_pyyaml_builds_it():
    files = [
        p
        for root in ("tests/data", "osm_mesh/local/manifests", "templates/osm/crds", "docs")
        for p in sorted((REPO / root).rglob("*"))
        if p.suffix in (".yaml", ".yml") and p.is_file()
    ]
    assert len(files) > 50
    compared = 0
    for path in files:
        text = path.read_text()
        try:
            expected = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        assert _fast(text) == expected, path
        compared += 1
    assert compared > 50
    # And the loader lint and the local mesh use is built on it.
    docs, problems = parse_documents("a: 1\n---\napiVersion: v1\nkind: X\n", "f")
    assert [d.obj for d in docs] == [{"apiVersion": "v1", "kind": "X"}] and len(problems) == 1
