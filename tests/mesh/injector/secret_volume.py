"""A Secret volume laid out the way the kubelet writes one, for Envoys started by tests.

The kubelet's AtomicWriter puts the files in a timestamped directory, points ``..data`` at it
and makes each key a symlink through ``..data``; an update writes a new directory and swaps
``..data`` with a rename, so a reader never sees half an update. Envoy's file-based SDS
(``watched_directory``) reloads on that rename: this reproduces it.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
import time
from pathlib import Path
from typing import Any

from osm_mesh.injector.bootstrap import ADS_CERT_KEY
from osm_mesh.injector.patch import BOOTSTRAP_KEY


class SecretVolume:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)

    def write(self, files: dict[str, bytes]) -> None:
        """Swap in ``files`` (name → content) atomically, as a kubelet sync does."""
        stamp = self.directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        stamp.mkdir(mode=0o755)
        for name, content in files.items():
            (stamp / name).write_bytes(content)
            (stamp / name).chmod(0o644)
        data, tmp = self.directory / "..data", self.directory / "..data_tmp"
        old = data.resolve() if data.is_symlink() else None
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(stamp.name)
        os.rename(tmp, data)
        for name in files:
            link = self.directory / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
        if old is not None and old != stamp:
            shutil.rmtree(old, ignore_errors=True)

    def write_secret(self, secret: dict[str, Any]) -> None:
        self.write({k: base64.b64decode(v) for k, v in secret["data"].items()})

    def read(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()


def mounted_bootstrap(secret: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``secret`` written to ``directory`` as a volume; its bootstrap, reading the bootstrap
    certificate from there instead of the pod's mount path."""
    import json

    SecretVolume(directory).write_secret(secret)
    config = copy.deepcopy(json.loads(base64.b64decode(secret["data"][BOOTSTRAP_KEY])))
    for cluster in config["static_resources"]["clusters"]:
        context = cluster.get("transport_socket", {}).get("typed_config", {})
        for sds in context.get("common_tls_context", {}).get(
            "tls_certificate_sds_secret_configs", []
        ):
            source = sds["sds_config"]["path_config_source"]
            source["path"] = str(directory / ADS_CERT_KEY)
            source["watched_directory"] = {"path": str(directory)}
    return config
