"""The in-cluster control plane process (``python -m osm_mesh.controller``).

See ``osm_mesh.controller.app`` for what it runs and docs/controller.md for ports and flags.
"""
