# Development entry points. `make install && make test` is what CI runs (.ci/run).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: e2e install system-packages test lint typecheck unit mutation bench fortio image images golden clean upstream-osm kube cluster-up cluster-down

install: system-packages $(BIN)/osm $(BIN)/helm kube upstream-osm images

# Debian packages: containerd, runc, CNI plugins, buildah, debootstrap, iptables, prometheus...
system-packages:
	bash scripts/install-system-packages.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(BIN)/osm: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

$(BIN)/helm: | $(BIN)/python
	bash scripts/install-helm.sh $(BIN)

# The whole gate is pytest: lint, format and type checks run inside it
# (tests/test_code_quality.py); `make lint` / `make typecheck` run them alone.
test:
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check osm_cli osm_mesh tests benchmarks images
	$(BIN)/ruff format --check osm_cli osm_mesh tests benchmarks images

typecheck:
	$(BIN)/mypy osm_cli osm_mesh images

unit:
	$(BIN)/python -m pytest -q -m "not envoy and not slow and not images"

# Mutation testing of the pure core with mutmut, one package at a time at nice 10 (tens of
# minutes; not in CI): scores and triaged survivors in docs/testing.md. TARGETS=certs limits it.
mutation:
	$(BIN)/python -m tests.mutation $(TARGETS)

# Regenerate golden files after an intended output change; review the diff.
golden:
	OSM_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests -k golden

bench:
	$(BIN)/python -m benchmarks

# The load generator of bench_latency (built with Go; the benchmark also runs this on demand).
fortio:
	bash scripts/install-fortio.sh $(BIN)

# The cluster's OCI images, built without Docker or a registry (buildah + debootstrap, as
# root), cached in ~/.cache/osm-images, exported to .images/ with manifest.json.
# See images/README.md. `make image` builds only the control-plane image.
images: $(BIN)/osm
	$(BIN)/python -m images

image: $(BIN)/osm
	$(BIN)/python -m images osm-mesh-controller

# Upstream OSM v1.2.4 (osm CLI, osm-controller, osm-injector, osm-bootstrap, osm-preinstall) built
# from its Go module (upstream/) into .upstream/bin, for tests/kube/test_upstream_side_by_side.py
# (docs/upstream-comparison.md); skips what is built.
upstream-osm:
	bash scripts/build-upstream-osm.sh

# Kubernetes 1.37.2 + etcd built from their Go modules (cluster/) into .kube/bin; skips what is built.
kube:
	bash cluster/build.sh

# A real local cluster in the background: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler in a network namespace of its own; admin kubeconfig in .cluster/kubeconfig.
# NODE=1 adds a node (kubelet, containerd, CNI, kube-proxy, CoreDNS).
cluster-up: kube $(BIN)/osm
	$(BIN)/python -m tests.realkube up .cluster $(if $(filter 1,$(NODE)),--node)

# The article end to end on a real node (tests/e2e): install, onboard, deny/allow, canary,
# proxy get, dashboard, bug-report, uninstall. Part of `make test` too.
e2e: install
	$(BIN)/python -m pytest -q tests/e2e

cluster-down:
	$(BIN)/python -m tests.realkube down .cluster

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
