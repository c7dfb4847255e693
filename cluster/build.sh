#!/usr/bin/env bash
# make kube: build the Kubernetes components (one multi-call binary) and etcd from their Go
# modules into $OUT (default .kube/bin). Skips a binary whose inputs have not changed; shows
# compile progress; the Go build cache (go env GOCACHE) makes a rebuild mostly a link.
set -euo pipefail
cd "$(dirname "$0")"
OUT=${OSM_KUBE_BIN:-$(cd .. && pwd)/.kube/bin}
mkdir -p "$OUT"

command -v go >/dev/null || { echo "make kube: the Go toolchain is needed (go 1.26+)" >&2; exit 1; }

KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' go.mod)
MINOR=$(echo "$KUBE_VERSION" | cut -d. -f2)
PKG=k8s.io/component-base/version
# Without these the binaries say v0.0.0-master, which breaks helm's kubeVersion checks and the
# chart's floor.
LDFLAGS="-s -w -X $PKG.gitVersion=$KUBE_VERSION -X $PKG.gitMajor=1 -X $PKG.gitMinor=$MINOR \
-X $PKG.gitTreeState=clean -X $PKG.buildDate=1970-01-01T00:00:00Z"

# build NAME PACKAGE: go build with a progress line every 10 % of the packages compiled.
build() {
  local name=$1 package=$2
  local stamp="$OUT/.$name.stamp"
  local key
  key=$( (go version; echo "$LDFLAGS"; cat go.mod go.sum; find cmd -name '*.go' | sort | xargs cat) | sha256sum | cut -c1-16)
  if [ -x "$OUT/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    echo "kube: $name is up to date ($OUT/$name)"
    return
  fi
  local total start
  total=$(go list -deps "$package" | wc -l)
  start=$(date +%s)
  echo "kube: building $name for Kubernetes $KUBE_VERSION ($total packages; cold: minutes, warm: a link)"
  go build -v -trimpath -ldflags "$LDFLAGS" -o "$OUT/$name.tmp" "$package" 2>&1 |
    awk -v total="$total" -v name="$name" '
      /^#|:[0-9]+:/ { print; next }          # compiler messages pass through
      { done++; pct = int(100 * done / total)
        if (pct >= next_pct) { printf "kube: %s %3d%% (%d/%d packages compiled)\n", name, pct, done, total; fflush(); next_pct = pct + 10 } }'
  test "${PIPESTATUS[0]}" -eq 0
  mv "$OUT/$name.tmp" "$OUT/$name"
  echo "$key" > "$stamp"
  echo "kube: built $name in $(( $(date +%s) - start )) s"
}

build kube ./cmd/kube
build etcd ./cmd/etcd
for component in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  ln -sf kube "$OUT/$component"
done
# Not `| head -1`: with pipefail, kubectl killed by SIGPIPE after the first line fails the build.
"$OUT/kubectl" version --client 2>/dev/null | sed -n 1p
