# The control-plane image: osm-controller and osm-injector (same image, other module).
# Contract: docs/container-contract.md. For people with Docker: `docker build .`.
# `make image` builds the same contents without Docker or a registry (images/, buildah on
# Debian bookworm's python3); that is the build CI runs and tests. This file is not built here.

# -- build the wheel (it carries the chart as osm_mesh/helm/chart) ------------------------------
FROM python:3.12-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY osm_cli ./osm_cli
COPY osm_mesh ./osm_mesh
COPY templates ./templates
RUN pip install --no-cache-dir --disable-pip-version-check "hatchling>=1.24" \
 && pip wheel --no-deps --no-build-isolation --wheel-dir /dist .

# -- runtime ------------------------------------------------------------------------------------
FROM python:3.12-slim
# iptables: as in images/ (whose control-plane image is built on the osm-init image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=wheel /dist/*.whl /tmp/
RUN pip install --no-cache-dir --disable-pip-version-check /tmp/*.whl \
 && rm -f /tmp/*.whl \
 && groupadd --gid 65532 osm \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin osm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# The chart runs as this user with a read-only root filesystem (/tmp is an emptyDir).
USER 65532:65532
EXPOSE 15128 9091 9090
CMD ["python", "-m", "osm_mesh.controller"]
