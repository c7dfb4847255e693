#!/usr/bin/env bash
# Build upstream Open Service Mesh v1.2.4 (`osm` CLI, osm-controller, osm-injector, osm-bootstrap,
# osm-preinstall) from its published Go module into .upstream/bin, to run side by side with ours
# (docs/upstream-comparison.md). Idempotent: skips what is built. Usage: build-upstream-osm.sh
#
# Why not plain `go build github.com/openservicemesh/osm/cmd/cli` in upstream/: the CLI embeds
# `cmd/cli/chart.tgz` (//go:embed), which upstream's Makefile generates and the module zip does
# not contain, and `-overlay` may not replace files in the module cache. So the module is copied
# (13 MB) into .upstream/src, upstream's own generator (scripts/generate_chart) writes the chart
# archive there, and the build uses a generated copy of upstream/go.mod that replaces the module
# with that copy. upstream/go.mod itself stays a plain pin (no replace directives: v1.2.4 has none).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod=$root/upstream
out=$root/.upstream
bin=$out/bin
version=v1.2.4
commit=82651008921837b2f21113e4604a807c3f68a97c # the v1.2.4 tag
build_date=2023-04-20-20:53                      # the tag's commit time (UTC), upstream's date format
nice=${UPSTREAM_NICE:-10}

want=(osm osm-controller osm-injector osm-bootstrap osm-preinstall)
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ] && [ "$bin/osm" -nt "$mod/go.mod" ]; then
  echo "upstream OSM already built: $("$bin/osm" version --client-only 2>&1 | head -1)"
  exit 0
fi
command -v go >/dev/null || { echo "build-upstream-osm: go is required" >&2; exit 1; }
step() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
mkdir -p "$bin" "$out/build"

step "downloading github.com/openservicemesh/osm@$version and its dependencies"
cd "$mod"
go mod download
src_cache=$(go list -m -f '{{.Dir}}' github.com/openservicemesh/osm)
src=$out/src/osm
if [ ! -f "$src/.complete" ]; then
  rm -rf "$src" && mkdir -p "$out/src"
  cp -r "$src_cache" "$src" && chmod -R u+w "$src" && touch "$src/.complete"
fi
modfile=$out/build/go.mod
{ cat "$mod/go.mod"; echo; echo "replace github.com/openservicemesh/osm => $src"; } >"$modfile"
cp "$mod/go.sum" "$out/build/go.sum"

gobuild() { CGO_ENABLED=0 nice -n "$nice" go build -modfile="$modfile" -trimpath "$@"; }
if [ ! -s "$src/cmd/cli/chart.tgz" ]; then
  step "generating cmd/cli/chart.tgz with upstream's scripts/generate_chart"
  gobuild -o "$out/build/generate_chart" github.com/openservicemesh/osm/scripts/generate_chart
  (cd "$src" && "$out/build/generate_chart") >"$src/cmd/cli/chart.tgz.tmp"
  rm -f "$out/build/generate_chart" # 120 MB, needed once
  mv "$src/cmd/cli/chart.tgz.tmp" "$src/cmd/cli/chart.tgz"
fi

v=github.com/openservicemesh/osm/pkg/version
ldflags="-s -w -X $v.Version=$version -X $v.GitCommit=$commit -X $v.BuildDate=$build_date"
step "building ${missing[*]:-osm} (nice $nice; a cold build takes tens of minutes on 2 cores)"
tmp=$(mktemp -d "$out/build/bin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gobuild -ldflags "$ldflags" -o "$tmp/" \
  github.com/openservicemesh/osm/cmd/cli \
  github.com/openservicemesh/osm/cmd/osm-controller \
  github.com/openservicemesh/osm/cmd/osm-injector \
  github.com/openservicemesh/osm/cmd/osm-bootstrap \
  github.com/openservicemesh/osm/cmd/osm-preinstall
mv "$tmp/cli" "$bin/osm"
mv "$tmp/osm-controller" "$tmp/osm-injector" "$tmp/osm-bootstrap" "$tmp/osm-preinstall" "$bin/"
step "built: $("$bin/osm" version --client-only 2>&1 | head -1)"
ls -l "$bin"
