"""The local mesh: the control plane, one process and one real Envoy per pod, on loopback.

``runtime.LocalMesh`` runs manifests; ``demo`` is `osm demo`; docs/local-mesh.md explains it.
"""
