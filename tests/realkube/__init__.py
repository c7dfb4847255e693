"""A real local Kubernetes for tests and development: etcd and the Kubernetes components built
from their Go modules (cluster/, `make kube`), run in a network namespace of their own.
See README.md in this folder."""
