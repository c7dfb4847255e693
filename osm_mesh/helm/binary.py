"""The ``helm`` program: found on PATH, version 3.8 or newer.

3.8 is the oldest Helm whose ``upgrade --install`` and ``template`` flags the CLI relies on
(OCI support and ``--create-namespace`` with ``--output json``); Helm 4 works too.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from osm_mesh.errors import ToolMissing

MIN_VERSION = (3, 8, 0)
INSTALL_HINT = (
    "Install Helm 3.8 or newer and put it on PATH: https://helm.sh/docs/intro/install/ "
    "(in this repository, `make install` puts one in .venv/bin)"
)
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class HelmBinary:
    path: str
    version: tuple[int, int, int]

    @property
    def major(self) -> int:
        return self.version[0]


def find_helm_path(environ: Mapping[str, str] | None = None) -> str:
    """Absolute path of ``helm`` on PATH (the caller's PATH: tests put a stand-in first)."""
    env = os.environ if environ is None else environ
    path = shutil.which("helm", path=env.get("PATH"))
    if path is None:
        raise ToolMissing("helm was not found on PATH", hint=INSTALL_HINT)
    return path


def check_version(path: str, reported: str) -> HelmBinary:
    """``reported`` is what ``helm version --template '{{ .Version }}'`` printed."""
    match = _VERSION.search(reported)
    if match is None:
        raise ToolMissing(
            f"{path} did not report a version ({reported.strip()!r})", hint=INSTALL_HINT
        )
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if version < MIN_VERSION:
        found = ".".join(map(str, version))
        raise ToolMissing(
            f"helm {found} at {path} is too old: 3.8 or newer is needed", hint=INSTALL_HINT
        )
    return HelmBinary(path, version)
