"""A refused MeshConfig never changes the running mesh: the last valid one stays in force.

``build_catalog`` drops a MeshConfig with errors (an unknown key, a quoted boolean) and
would fall back to the chart's defaults — permissive mode, every call allowed. In a
cluster that would open the mesh because of a typo in ``kubectl edit``. ``MeshConfigGuard``
sits after the build: while the MeshConfig is refused, the catalog keeps the last valid
MeshConfig (or, when none was ever valid, the defaults with permissive mode *off*), and one
more problem on the MeshConfig says so; the controller posts both as Events on it.
"""

from __future__ import annotations

from dataclasses import replace

from osm_mesh.catalog.model import Catalog
from osm_mesh.smi.model import MeshConfig, Problem

# What a mesh without any valid MeshConfig enforces: nothing open by mistake.
FAIL_CLOSED = MeshConfig(permissive=False)


class MeshConfigGuard:
    def __init__(self) -> None:
        self.last_good: MeshConfig | None = None

    def apply(self, catalog: Catalog, *, present: bool) -> Catalog:
        """``catalog`` with the MeshConfig in force; ``present``: a MeshConfig object exists
        (absent, the chart's defaults apply as before)."""
        refused = [
            p
            for p in catalog.problems
            if p.severity == "error" and p.ref is not None and p.ref.kind == "MeshConfig"
        ]
        if not present or not refused:
            if present:
                self.last_good = catalog.mesh_config
            return catalog
        kept = self.last_good or FAIL_CLOSED
        if self.last_good is not None:
            what = "the last valid MeshConfig stays in force"
        else:
            what = "no valid MeshConfig was read yet: the defaults apply with permissive mode off"
        mode = "permissive mode" if kept.permissive else "SMI mode: permissive traffic policy off"
        note = Problem(
            "error",
            refused[0].ref,
            "",
            f"MeshConfig refused ({len(refused)} error(s)); {what} ({mode})",
            "fix the fields named in the other events of this MeshConfig",
        )
        return replace(catalog, mesh_config=kept, problems=(*catalog.problems, note))
