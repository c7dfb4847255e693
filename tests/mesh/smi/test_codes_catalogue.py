"""codes.py, executed, builds the documented catalogue: one Code per id, each constant the
catalogue's entry, an id never given twice.

The catalogue is built while the module is imported; these tests execute the module afresh
(a new module object) so that they check what the module's code does now, not what an
earlier import left behind (tests/mesh/policy/test_codes.py checks the imported catalogue).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
PINNED = REPO / "tests" / "golden" / "policy" / "codes.json"
DOC = REPO / "docs" / "policy-codes.md"


def fresh_codes_module(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    spec = importlib.util.find_spec("osm_mesh.smi.codes")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # As during an import (dataclasses look their module up); the imported one comes back after.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return vars(module)


def test_the_module_builds_the_pinned_and_documented_catalogue(monkeypatch):
    module = fresh_codes_module(monkeypatch)
    rows = re.findall(r"^\| (OSM\d{4}) \| (\w+) \| (.+) \|$", DOC.read_text(), re.M)
    documented = {cid: (cid, name, summary) for cid, name, summary in rows}
    catalogue = module["CODES"]
    assert {key: (c.id, c.name, c.summary) for key, c in catalogue.items()} == documented
    assert {key: c.name for key, c in catalogue.items()} == json.loads(PINNED.read_text())
    constants = {n: v for n, v in module.items() if n.isupper() and isinstance(v, module["Code"])}
    assert len(constants) == len(catalogue)
    for name, code in constants.items():
        assert catalogue[code.id] is code, name
        assert str(code) == code.id  # what lint prints in its code column


def test_an_id_is_never_given_to_a_second_code(monkeypatch):
    module = fresh_codes_module(monkeypatch)
    with pytest.raises(AssertionError, match="duplicate problem code OSM0310"):
        module["_code"]("OSM0310", "RouteMissingAgain", "A second code with a used id.")
    assert module["CODES"]["OSM0310"].name == "RouteNotFound"
