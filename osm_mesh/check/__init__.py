"""``osm check``: one categorised health check, before install (``--pre``), of the control plane
(default) and of every sidecar (``--proxy``).

Each check gives a status (ok / warn / fail), what it saw, and for anything but ok a one-line
hint to fix it. A check that cannot run (an API error) is a failure saying why, never a
traceback, and never stops the other checks. Pure functions of a cluster client; the CLI prints.
"""

from __future__ import annotations

from osm_mesh.check.base import CheckOptions, CheckResult, Status, ok
from osm_mesh.check.install import control_plane, pre_install
from osm_mesh.check.proxies import proxies

__all__ = [
    "CheckOptions",
    "CheckResult",
    "Status",
    "control_plane",
    "ok",
    "pre_install",
    "proxies",
]
