"""Our mesh's controller Pod as a local process, the same way as upstream's (processpod.py):
its chart's command line, its Pod's own network namespace and address, its ServiceAccount."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.upstream import processpod
from tests.upstream.mesh import wait_ready


def controller_argv(pod: dict) -> list[str]:
    """Our chart's controller command line as a host process: the image's `python` is this
    venv's; the CA Secret is read through the API (the mounted copy is optional)."""
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "osm-controller")
    if container["command"] != ["python", "-m", "osm_mesh.controller"]:
        raise processpod.ProcessPodError(f"unexpected controller command {container['command']}")
    args = [a for a in container["args"] if not a.startswith("--ca-bundle-dir")]
    return [sys.executable, "-m", "osm_mesh.controller", *args]


def start_controller(
    cluster: processpod.Cluster, namespace: str, *, workdir: Path
) -> processpod.ProcessPod:
    name = processpod.pod_named(cluster, namespace, "app=osm-controller")
    pod = json.loads(cluster.kubectl("get", "pod", "-n", namespace, name, "-o", "json"))
    process = processpod.run(cluster, namespace, name, workdir=workdir, argv=controller_argv(pod))
    try:
        wait_ready(cluster, process)
    except BaseException:
        process.stop()
        raise
    return process
