#!/usr/bin/env bash
# The system packages `make install` and the tests need, installed from Debian when missing
# (the first step of `make install`; when nothing is missing it only checks).
set -euo pipefail

# npm fetches the helm binary; the network-namespace tests of the injector's iptables rules
# need ip (iproute2), iptables, setpriv (util-linux). The cluster's images (images/,
# `make images`): debootstrap, buildah, runc; containerd (ctr) imports and runs them.
missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
# The real node (tests/realkube/node.py): CNI bridge/host-local/portmap plugins; conntrack for
# kube-proxy.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
# A real Prometheus runs Flagger's PromQL against the sidecars (tests/e2e_envoy/test_flagger.py).
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing system packages; as root on Debian: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Go toolchain builds Kubernetes and etcd (make kube) and upstream OSM v1.2.4
# (make upstream-osm) from their modules; gcc comes with the machine.
command -v go >/dev/null 2>&1 || { echo "error: the Go toolchain (go 1.26+) is needed on PATH" >&2; exit 1; }
