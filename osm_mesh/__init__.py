"""The mesh: SMI model, control plane, Kubernetes operations, local runtime.

Nothing in this package parses arguments or prints; the `osm` CLI (``osm_cli``)
calls into it. This module stays import-free so the CLI can read the version
without paying for the heavy dependencies.
"""

__version__ = "0.1.0"
# Filled in by the release build; "unknown" in a source checkout.
GIT_COMMIT = "unknown"
BUILD_DATE = "unknown"
