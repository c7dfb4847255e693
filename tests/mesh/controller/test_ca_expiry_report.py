"""The controller reports its CA's expiry at /version (for `osm version`'s warning)."""

from __future__ import annotations

import datetime as dt
import json

from tests.mesh.controller.conftest import http_get


def test_the_controller_reports_its_ca_expiry(controller):
    status, _type, body = http_get(controller.http.port, "/version")
    assert status == 200
    info = json.loads(body)
    assert dt.datetime.fromisoformat(info["ca_not_after"]) == controller.ca.not_after
