#!/usr/bin/env bash
# Install the `fortio` load generator into $1 (a bin directory) for the latency benchmark
# (benchmarks/bench_latency.py runs this on demand; `make fortio` too). Not needed by the tests.
#
# Built from its Go module with the Go toolchain (needs `go` >= 1.21 and the Go module proxy).
# Pinned to v1.66.5: newer fortio releases depend on grol.io/grol, which the module proxy
# reachable here refuses (403).
set -euo pipefail
bindir=${1:?usage: install-fortio.sh BINDIR}
version=v1.66.5
if [ -x "$bindir/fortio" ] && [ "$("$bindir/fortio" version 2>/dev/null)" = "${version#v}" ]; then
  echo "fortio already installed: $("$bindir/fortio" version)"
  exit 0
fi
command -v go >/dev/null || { echo "install-fortio: the Go toolchain is required (https://go.dev/dl/ or apt-get install golang)" >&2; exit 1; }
mkdir -p "$bindir"
GOBIN=$(cd "$bindir" && pwd) GOFLAGS=-buildvcs=false go install "fortio.org/fortio@$version"
echo "installed fortio $("$bindir/fortio" version) to $bindir/fortio"
