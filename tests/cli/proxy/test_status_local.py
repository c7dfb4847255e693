"""`osm proxy status --local`: a running local mesh found through the per-user registry (or
its --work-dir), its control plane's debug endpoint, real Envoy sidecars."""

from __future__ import annotations

import json
import os

import pytest

from osm_mesh.local.demo import MANIFESTS, MESH_CONFIG, SIMPLE_NS
from osm_mesh.local.registry import registry_dir, running
from osm_mesh.local.runtime import LocalMesh

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(90)]
SIMPLE = [MESH_CONFIG, MANIFESTS / "simple" / "app", MANIFESTS / "simple" / "smi"]


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch):
    """A private registry, so meshes of other test runs on this machine are not seen."""
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return {"XDG_RUNTIME_DIR": str(path)}


def test_local_mesh_rows_all_synced(osm, tmp_path, runtime_dir):
    with LocalMesh(SIMPLE, work_dir=tmp_path / "work"):
        [state] = running(runtime_dir)
        assert state["debug"].startswith("http://127.")
        result = osm(["proxy", "status", "--local", "-o", "json"], environ=runtime_dir)
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["mesh"] == "local"
        pods = {(r["namespace"], r["pod"].rsplit("-", 2)[0]) for r in data["proxies"]}
        assert pods == {(SIMPLE_NS, "frontend"), (SIMPLE_NS, "api")}
        for row in data["proxies"]:
            assert row["synced"], row
            assert {s["state"] for s in row["types"].values()} <= {"SYNCED", "NOT SENT"}
            assert row["types"]["LDS"]["state"] == "SYNCED"
        by_dir = osm(["proxy", "status", "--work-dir", str(tmp_path / "work")])
        assert by_dir.exit_code == 0, by_dir.stderr
        assert by_dir.stdout.count("SYNCED") >= 8
    # Stopped: the entry is gone.
    assert running(runtime_dir) == []
    none = osm(["proxy", "status", "--local"], environ=runtime_dir)
    assert none.exit_code == 1
    assert none.stderr.startswith("Error: no local mesh is running\n")


def test_two_meshes_need_a_work_dir(osm, tmp_path, runtime_dir):
    with LocalMesh(SIMPLE, work_dir=tmp_path / "a"), LocalMesh(SIMPLE, work_dir=tmp_path / "b"):
        result = osm(["proxy", "status", "--local"], environ=runtime_dir)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: 2 local meshes are running:")
        assert "--work-dir" in result.stderr


def test_a_registry_planted_by_someone_else_is_refused(tmp_path):
    """The attack: another user pre-creates the registry directory, open to everyone, to
    feed fake meshes (addresses to query) to our tools."""
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    target = registry_dir(env, create=False)
    target.mkdir(parents=True)
    os.chmod(target, 0o777)
    from osm_mesh.errors import MeshError

    with pytest.raises(MeshError, match="writable by other users"):
        registry_dir(env)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the directory away")
def test_a_registry_owned_by_another_user_is_refused(tmp_path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    target = registry_dir(env, create=False)
    target.mkdir(parents=True, mode=0o700)
    os.chown(target, 65534, 65534)
    from osm_mesh.errors import MeshError

    with pytest.raises(MeshError, match="not a directory of yours"):
        registry_dir(env)
