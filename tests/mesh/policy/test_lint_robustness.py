"""Lint never crashes: every field of valid manifests replaced by values of the wrong type."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from osm_mesh.catalog.loader import LoadResult, load_paths
from osm_mesh.policy.lint import lint_loaded

DATA = Path(__file__).resolve().parents[2] / "data"
WRONG: list[Any] = [None, "x", 7, -1, True, [], ["x"], {}, {"k": "v"}, [{"a": 1}], 1.5]


def paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


def replaced(obj: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def test_wrong_types_anywhere_produce_findings_not_crashes():
    loaded = load_paths(
        [
            DATA / "lint" / "good",
            DATA / "article" / "canary",
            DATA / "external" / "osm-bookstore" / "meshconfig-mesh-config.yaml",
            DATA / "external" / "osm-bookstore" / "access-traffic-access-v1.yaml",
        ]
    )
    docs = loaded.documents
    checked = 0
    for index, doc in enumerate(docs):
        for path in paths(doc.obj):
            if path[0] in ("apiVersion", "kind"):
                continue
            for value in WRONG[(checked % 4) :: 4]:
                mutated = list(docs)
                mutated[index] = type(doc)(replaced(doc.obj, path, value), doc.file, doc.line)
                report = lint_loaded(LoadResult(mutated, [], loaded.files))
                assert report.files == len(loaded.files)
                checked += 1
    assert checked > 500
