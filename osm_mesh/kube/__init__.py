"""Kubernetes operations the CLI needs: clients, namespaces, meshes, port-forward."""
