#!/usr/bin/env bash
# End to end on a real Kubernetes (kind): the scenario the emulator and local-mesh tests run,
# on a kube-apiserver, kubelet, CNI and iptables of their own.
#
#   1. build the control-plane image and load it into a kind cluster;
#   2. `osm install` with permissive mode off; wait for osm-controller and osm-injector;
#   3. the article's simple app (frontend -> api) in a meshed namespace: every pod must get the
#      envoy sidecar and the osm-init container and become Ready (probes through Envoy);
#   4. a client running as the frontend's ServiceAccount is refused before the TrafficTarget
#      exists and allowed after; a client with another ServiceAccount stays refused;
#   5. `osm version` and `osm mesh list` read the controller; uninstall.
#
# Never run by CI (no container engine there) and, when written, not run anywhere yet: see
# docs/controller.md. Needs docker, kind, kubectl and `make install` (the osm CLI).
#   scripts/e2e-kind.sh            # KEEP=1 leaves the cluster for inspection
set -euo pipefail

CLUSTER=${CLUSTER:-osm-e2e}
REGISTRY=${REGISTRY:-localhost/osm-e2e}
TAG=${TAG:-e2e}
NS=osm-simple-app
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"
CTX="kind-$CLUSTER"
kc() { kubectl --context "$CTX" "$@"; }
say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl osm; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

cleanup() {
  if [[ "${KEEP:-0}" != 1 ]]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

say "cluster and image"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
docker build -t "$REGISTRY/osm-mesh-controller:$TAG" "$ROOT"
kind load docker-image --name "$CLUSTER" "$REGISTRY/osm-mesh-controller:$TAG"

say "osm install"
osm --context "$CTX" install --mesh-name osm \
  --set "osm.image.registry=$REGISTRY" --set "osm.image.tag=$TAG" \
  --set osm.image.pullPolicy=Never --set osm.enablePermissiveTrafficPolicy=false
kc -n osm-system rollout status deploy/osm-controller --timeout 180s
kc -n osm-system rollout status deploy/osm-injector --timeout 180s
kc get mutatingwebhookconfiguration osm-webhook-osm >/dev/null || fail "webhook not registered"
kc -n osm-system get secret osm-ca-bundle >/dev/null || fail "CA Secret missing"

say "meshed app"
kc apply -f "$ROOT/tests/data/article/simple/app/namespace.yml"
kc apply -f "$ROOT/tests/data/article/simple/app/"
kc -n "$NS" rollout status deploy/api --timeout 300s
kc -n "$NS" rollout status deploy/frontend --timeout 300s
for pod in $(kc -n "$NS" get pods -o name); do
  containers=$(kc -n "$NS" get "$pod" -o jsonpath='{.spec.containers[*].name}')
  inits=$(kc -n "$NS" get "$pod" -o jsonpath='{.spec.initContainers[*].name}')
  [[ " $containers " == *" envoy "* ]] || fail "$pod has no envoy sidecar ($containers)"
  [[ " $inits " == *" osm-init "* ]] || fail "$pod has no osm-init container ($inits)"
  uuid=$(kc -n "$NS" get "$pod" -o jsonpath='{.metadata.labels.osm-proxy-uuid}')
  kc -n "$NS" get secret "envoy-bootstrap-config-$uuid" >/dev/null || fail "no bootstrap for $pod"
done

# A client pod per ServiceAccount; sidecar injected like any pod of the namespace.
client() {
  local name=$1 sa=$2
  kc -n "$NS" get sa "$sa" >/dev/null 2>&1 || kc -n "$NS" create sa "$sa"
  kc -n "$NS" run "$name" --image=curlimages/curl:8.11.1 --restart=Never \
    --overrides="{\"spec\":{\"serviceAccountName\":\"$sa\"}}" --command -- sleep 3600
  kc -n "$NS" wait --for=condition=Ready "pod/$name" --timeout 180s
}
status_from() {
  kc -n "$NS" exec "$1" -c "$1" -- \
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://api.$NS/api/values" || true
}
client as-frontend frontend-service-account
client as-intruder intruder

say "policy"
code=$(status_from as-frontend)
[[ "$code" != 200 ]] || fail "frontend reached api without a TrafficTarget"
kc apply -f "$ROOT/tests/data/article/simple/smi/access.yml"
for _ in $(seq 30); do
  code=$(status_from as-frontend)
  [[ "$code" == 200 ]] && break
  sleep 2
done
[[ "$code" == 200 ]] || fail "frontend -> api is $code with the TrafficTarget"
code=$(status_from as-intruder)
[[ "$code" != 200 ]] || fail "a ServiceAccount without a TrafficTarget reached api"

say "CLI against the mesh"
osm --context "$CTX" version
osm --context "$CTX" mesh list
osm --context "$CTX" uninstall mesh --mesh-name osm -f -a

say "passed"
