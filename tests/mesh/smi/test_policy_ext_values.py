"""The values a valid resilience policy carries into the model: bounds, defaults, zero timeouts.

The Envoy config is built from these (osm_mesh/envoy/resilience.py), so an accepted edge
value must arrive as written and an omitted field as its documented default.
"""

from __future__ import annotations

import pytest

from osm_mesh.smi.model import IdentityRef
from osm_mesh.smi.policy_ext import UINT32_MAX, OutlierDetection, RouteSetting
from tests.mesh.resilience.test_parse import (
    DELETE,
    FAULT,
    OSM_RETRY,
    OSM_UTS,
    changed,
    parsed,
    with_spec,
)

POLICY = OSM_RETRY["apiVersion"]


@pytest.mark.parametrize("base", [OSM_RETRY, OSM_UTS, FAULT], ids=lambda o: o["kind"])
def test_parsed_policy_keeps_its_api_version(base):
    policy = parsed(base)
    assert policy.api_version == POLICY
    assert policy.ref.api_version == POLICY


def test_retry_status_codes_from_100_to_599():
    policy = parsed(changed(OSM_RETRY, "spec.retryPolicy.retryOn", "599,100")).policy
    assert policy.status_codes == (100, 599)
    assert policy.retry_on == ("retriable-status-codes",)


def test_retriable_status_codes_written_out_is_not_repeated():
    obj = changed(OSM_RETRY, "spec.retryPolicy.retryOn", "retriable-status-codes,503")
    policy = parsed(obj).policy
    assert (policy.retry_on, policy.status_codes) == (("retriable-status-codes",), (503,))


def test_up_to_1000_retries():
    assert parsed(changed(OSM_RETRY, "spec.retryPolicy.numRetries", 1000)).policy.num_retries == (
        1000
    )


def test_subject_kind_may_be_omitted():
    retry = parsed(changed(OSM_RETRY, "spec.source.kind", DELETE))
    assert retry.source == IdentityRef("bookbuyer", "bookbuyer")
    fault = parsed(changed(FAULT, "spec.sources.0.kind", DELETE))
    assert fault.sources == (IdentityRef("web", "shop"),)


def test_circuit_breaker_limits_up_to_uint32_max():
    obj = changed(OSM_UTS, "spec.connectionSettings.tcp.maxConnections", UINT32_MAX)
    assert parsed(obj).connection.max_connections == UINT32_MAX


def test_outlier_detection_as_written():
    obj = with_spec(
        OSM_UTS,
        outlierDetection={
            "consecutive5xxErrors": 1,
            "interval": "3s",
            "baseEjectionTime": "7s",
            "maxEjectionPercent": 0,
        },
    )
    assert parsed(obj).outlier_detection == OutlierDetection(1, 3.0, 7.0, 0)


def test_outlier_detection_omitted_fields_default():
    assert parsed(with_spec(OSM_UTS, outlierDetection={})).outlier_detection == OutlierDetection()
    assert parsed(OSM_UTS).outlier_detection is None


def test_zero_request_timeouts_are_kept_and_empty_ones_unset():
    # 0 disables Envoy's timeout (a long-poll route); "" is the same as leaving it out.
    obj = with_spec(
        OSM_UTS,
        requestTimeout="0s",
        httpRoutes=[
            {"path": "/poll", "requestTimeout": "0s"},
            {"path": "/a", "requestTimeout": ""},
        ],
    )
    uts = parsed(obj)
    assert uts.request_timeout == 0.0
    assert uts.routes == (RouteSetting("/poll", 0.0), RouteSetting("/a", None))
    assert parsed(with_spec(OSM_UTS, requestTimeout="")).request_timeout is None


@pytest.mark.parametrize("status", [200, 599])
def test_abort_status_from_200_to_599(status):
    assert parsed(changed(FAULT, "spec.abort.httpStatus", status)).abort.http_status == status
