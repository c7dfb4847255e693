"""Helpers for the install/upgrade/uninstall tests: the real `helm` on PATH, seeding meshes.

The real `helm` binary talks to the API emulator (tests/emulator serves discovery, OpenAPI
and server-side apply), so nothing about Helm is faked here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
# Installs that should succeed get a short --timeout: a regression fails in seconds with the
# readiness diagnosis instead of running into pytest's own timeout.
FAST = ("--timeout", "30s")
VENV_BIN = REPO / ".venv" / "bin"


def helm_path_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """PATH with the project's helm first (CI runs `make`, which does the same)."""
    env = {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.update(extra or {})
    return env


def seed_controller(
    emu: Any, mesh: str, namespace: str, *, enforce_single_mesh: bool = True
) -> None:
    """An osm-controller Deployment as upstream labels it (another mesh already there)."""
    if emu.get("v1", "Namespace", namespace) is None:
        emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    labels = {
        "app": "osm-controller",
        "meshName": mesh,
        "app.kubernetes.io/name": "openservicemesh.io",
        "app.kubernetes.io/instance": mesh,
        "app.kubernetes.io/version": "v1.2.4",
    }
    if enforce_single_mesh:
        labels["enforceSingleMesh"] = "true"
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "osm-controller", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "osm-controller"}},
                "template": {
                    "metadata": {"labels": {"app": "osm-controller"}},
                    "spec": {"containers": [{"name": "c", "image": "openservicemesh/osm:v1.2.4"}]},
                },
            },
        }
    )


def deployments(emu: Any, namespace: str) -> list[str]:
    return sorted(d["metadata"]["name"] for d in emu.list("apps/v1", "Deployment", namespace))


def release_secrets(emu: Any, namespace: str, mesh: str = "osm") -> list[str]:
    return sorted(
        s["metadata"]["name"]
        for s in emu.list("v1", "Secret", namespace)
        if s["metadata"]["name"].startswith(f"sh.helm.release.v1.{mesh}.")
    )


def crd_names(emu: Any) -> list[str]:
    return sorted(
        c["metadata"]["name"]
        for c in emu.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    )


def never_ready(emu: Any, namespace: str, deployment: str, reason: str) -> None:
    """Make a Deployment that `helm install` is about to create never become ready.

    ``KubeEmulator.set_not_ready`` needs the workload to exist already; registering the
    failure before the install reaches the simulation's table directly.
    """
    emu.simulation.not_ready[("deployments", namespace, deployment)] = reason
