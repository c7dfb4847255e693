"""Regexes are judged as Envoy judges them: its program-size limit is inclusive, RE2's own
reason is given for one it cannot compile, and a request's query string is not part of the
path a regex sees."""

from __future__ import annotations

import json

import pytest
import yaml

from osm_mesh.smi.envoy_regex import ENVOY_MAX_PROGRAM_SIZE, envoy_regex_problem, program_size
from osm_mesh.smi.model import HTTPMatch
from osm_mesh.smi.parse import parse_smi

ROUTES = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: ns}
spec:
  matches: [{name: long, pathRegex: PATH}]
"""


@pytest.mark.parametrize(("repeat", "accepted"), [(87, True), (88, False)])
def test_a_path_regex_at_envoys_program_size_limit_is_accepted_one_over_is_refused(
    repeat, accepted
):
    path = f"/a{{{repeat}}}"
    sent = f"(?:{path}).*"  # what Envoy is given for the spec's prefix-anchored pathRegex
    size = program_size(sent)
    assert size == ENVOY_MAX_PROGRAM_SIZE + (0 if accepted else 1)
    parsed, problems = parse_smi(yaml.safe_load(ROUTES.replace("PATH", json.dumps(path))))
    if accepted:
        assert parsed is not None and problems == []
    else:
        assert parsed is None
        assert [(p.field, p.message) for p in problems] == [
            (
                "spec.matches[0].pathRegex",
                f"regular expression '{path}' would be refused by Envoy: its RE2 program size "
                f"is {size}, over Envoy's limit of {ENVOY_MAX_PROGRAM_SIZE}",
            )
        ]


def test_a_regex_re2_cannot_compile_is_refused_with_re2s_reason():
    assert envoy_regex_problem("/items/(") == "RE2 cannot compile it: missing ): /items/("
    assert envoy_regex_problem("/items/(a)") is None


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("/api/values", True),
        ("/api/values?page=1", True),
        ("/api/values?page=1?again", True),
        ("/api/values/1", False),
        ("/api/values/1?page=1", False),
    ],
)
def test_an_exact_path_regex_ignores_the_query_string(path, matches):
    # Envoy matches safe_regex paths once the query string is removed.
    assert HTTPMatch("exact", "/api/values$").matches_request("GET", path) is matches
