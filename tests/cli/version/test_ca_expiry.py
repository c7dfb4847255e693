"""`osm version` warns when a mesh's CA expires within 30 days (issue 11 item 11); the
controller reports the date at /version."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.cli import kube_seed as seed


def _info(days: float) -> dict[str, str]:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return {"version": "v1", "git_commit": "c", "build_date": "d", "ca_not_after": when.isoformat()}


@pytest.mark.parametrize(
    "days,warning",
    [
        (3650, None),
        (20.5, "the mesh CA expires in 20 days"),
        (-1, "the mesh CA expired on"),
    ],
)
def test_ca_expiry_is_warned_ahead(osm, kube_emulator, kubeconfig, days, warning):
    seed.mesh(kube_emulator, version_info=_info(days))
    result = osm(["version"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    if warning is None:
        assert "CA" not in result.stderr
    else:
        (line,) = [x for x in result.stderr.splitlines() if "CA" in x]
        assert line.startswith("Warning: mesh [osm] in namespace [osm-system]: " + warning)
        assert "delete Secret osm-ca-bundle" in line


def test_an_older_controller_without_the_date_gets_no_warning(osm, kube_emulator, kubeconfig):
    seed.mesh(kube_emulator, version_info={"version": "v1", "git_commit": "c", "build_date": "d"})
    result = osm(["version"], kubeconfig=kubeconfig)
    assert result.exit_code == 0 and "Warning" not in result.stderr
