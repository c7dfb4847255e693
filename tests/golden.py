"""Golden files with an update switch: OSM_UPDATE_GOLDEN=1 (or `make golden`) rewrites them.

Text goldens compare exactly; JSON/YAML goldens compare parsed values, so key
order and formatting changes that mean nothing do not fail a test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

GOLDEN_DIR = Path(__file__).parent / "golden"


def _update() -> bool:
    return os.environ.get("OSM_UPDATE_GOLDEN") == "1"


def _path(name: str) -> Path:
    return GOLDEN_DIR / name


def assert_golden_text(name: str, actual: str) -> None:
    path = _path(name)
    if _update() or not path.exists():
        if not _update():
            raise AssertionError(f"missing golden file {path}; run with OSM_UPDATE_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    expected = path.read_text()
    assert actual == expected, f"output differs from {path} (OSM_UPDATE_GOLDEN=1 to update)"


def _load(path: Path) -> Any:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    return list(yaml.safe_load_all(text))


def assert_golden_data(name: str, actual_text: str) -> None:
    """Compare JSON (``.json``) or multi-document YAML (``.yaml``) as parsed data."""
    path = _path(name)
    if _update():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual_text)
        return
    if not path.exists():
        raise AssertionError(f"missing golden file {path}; run with OSM_UPDATE_GOLDEN=1")
    actual = (
        json.loads(actual_text) if path.suffix == ".json" else list(yaml.safe_load_all(actual_text))
    )
    assert actual == _load(path), f"data differs from {path} (OSM_UPDATE_GOLDEN=1 to update)"
