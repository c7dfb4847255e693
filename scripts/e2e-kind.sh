#!/usr/bin/env bash
# The article end to end on kind (or, with KUBECONFIG set and SKIP_KIND=1, on any cluster):
# exactly the scenario CI runs on its local node (tests/e2e/scenario.py, `make e2e`).
#
#   1. `make images` builds the images (no registry: the cluster's nodes must have them);
#   2. kind: create the cluster and `kind load image-archive` each image;
#      any other cluster: load .images/*.tar into its nodes' container runtime yourself
#      (e.g. `ctr -n k8s.io images import`), or push them to a registry your nodes pull from
#      and pass --set osm.image.registry=... via OSM_INSTALL_ARGS (not wired up here);
#   3. `python -m tests.e2e --kubeconfig K` runs the steps and prints one line each.
#
#   scripts/e2e-kind.sh                 # KEEP=1 leaves the kind cluster for inspection
#   SKIP_KIND=1 KUBECONFIG=~/.kube/aks scripts/e2e-kind.sh
# Needs: kubectl, `make install` (osm, helm), and for kind: docker and kind.
set -euo pipefail

CLUSTER=${CLUSTER:-osm-e2e}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

for tool in kubectl osm python; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (make install)"
done
make -C "$ROOT" images

if [[ "${SKIP_KIND:-0}" != 1 ]]; then
  for tool in docker kind; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
  cleanup() {
    if [[ "${KEEP:-0}" != 1 ]]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
  }
  trap cleanup EXIT
  kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
  for archive in "$ROOT"/.images/*.tar; do
    kind load image-archive --name "$CLUSTER" "$archive"
  done
  KUBECONFIG=$(mktemp)
  kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG"
fi
: "${KUBECONFIG:?set KUBECONFIG to the cluster to test}"

cd "$ROOT"
python -m tests.e2e --kubeconfig "$KUBECONFIG"
