"""Start-up stays light: `osm --help` and `osm version --client-only` import no heavy module.

Ruff's TID253 forbids module-level heavy imports in osm_cli/; this checks the result in a
fresh interpreter, which also catches a heavy import hidden behind a light module.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "kubernetes",
    "pyhelm3",
    "jinja2",
    "httpx",
    "grpc",
    "cryptography",
    "yaml",
    "websocket",
    "envoy",
    "google",
    "prometheus_client",
    "urllib3",
)

PROBE = """
import io, json, sys
from osm_cli.app import main
from osm_cli.context import Environment
code = main(sys.argv[1:], env=Environment(stdout=io.StringIO(), stderr=io.StringIO()))
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("version", "--client-only"), ("completion", "bash"), ("namespace", "--help")],
)
def test_no_heavy_imports(argv):
    code, modules = _modules_after(*argv)
    assert code == 0
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_client_only_version_does_not_load_rich():
    _, modules = _modules_after("version", "--client-only")
    assert "rich" not in modules
    # osm_mesh itself is import-free: the version constants cost nothing.
    assert "osm_mesh" in modules
