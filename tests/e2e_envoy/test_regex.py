"""Issue 11 item 5, on the real Envoy: regexes are checked the way Envoy runs them.

- every regex our check accepts, Envoy accepts (a seeded corpus near the program-size limit,
  in the forms we send: a header value as is, a pathRegex as ``(?:<regex>).*``);
- the regexes of the review are refused by Envoy *and* by our check;
- the attack: before, such a regex reached the destination's Envoy, which NACKed its inbound
  routes, so a TrafficTarget deleted afterwards still let requests through.
"""

from __future__ import annotations

import json
import random
import subprocess
import time

import pytest

from osm_mesh.envoy.process import find_envoy
from osm_mesh.smi.envoy_regex import ENVOY_MAX_PROGRAM_SIZE, envoy_regex_problem, program_size
from tests.e2e_envoy.harness import (
    EnvoyMesh,
    deployment,
    route_group,
    service,
    service_account,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
]
# The review's regexes, as pathRegex values.
ATTACKS = {
    "backslash-z": r"/api/values\Z",
    "repeat-1001": "/a{1001}",
    "twenty-words": "/(?:" + "|".join(WORDS) + ")",
    "lookahead": "/api/(?=values)",
    "long-literal": "/" + "a" * 95,
}
ATOMS = ["/api", "/v1", "[a-z]", "[^/]", r"\d", r"\w", ".", "[0-9a-f]", "é", "ü", "[à-ÿ]",
         r"\.", "x", "(?i:abc)", "[[:alpha:]]", r"\pL", r"\b", "^", "$", "-"]  # fmt: skip


def _piece(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if roll < 0.5 or depth > 2:
        atom = rng.choice(ATOMS)
        if atom in ("^", "$", r"\b"):
            return atom
        return atom + rng.choice(["", "", "*", "+", "?", "{2}", "{1,3}", "{0,5}"])
    if roll < 0.75:
        alternatives = "|".join(_piece(rng, depth + 1) for _ in range(rng.randint(2, 4)))
        return f"(?:{alternatives})" + rng.choice(["", "?", "*", "+"])
    return "(" + "".join(_piece(rng, depth + 1) for _ in range(rng.randint(1, 3))) + ")"


def corpus(seed: int, count: int) -> list[str]:
    """``count`` regexes we accept, each with an RE2 program size from 60 to the limit."""
    rng = random.Random(seed)
    accepted: list[str] = []
    while len(accepted) < count:
        raw = "".join(_piece(rng) for _ in range(rng.randint(1, 8)))
        for form in (raw, f"(?:{raw}).*"):
            if envoy_regex_problem(form) is None and program_size(form) >= 60:
                accepted.append(form)
    return accepted


def validate(regexes: list[str], tmp_path) -> subprocess.CompletedProcess[str]:
    """``envoy --mode validate`` of one listener with a route per regex (Envoy compiles each,
    with its program-size check, as it does for a pushed route table)."""
    routes = [
        {"match": {"safe_regex": {"regex": r}}, "direct_response": {"status": 200}} for r in regexes
    ]
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "s",
        "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": routes}]},
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    listener = {
        "name": "l",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    path = tmp_path / "regex.json"
    path.write_text(json.dumps({"static_resources": {"listeners": [listener]}}))
    return subprocess.run(
        [
            find_envoy(),
            "--mode",
            "validate",
            "-c",
            str(path),
            "--disable-hot-restart",
            "-l",
            "error",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_every_regex_we_accept_envoy_accepts(seed, tmp_path):
    regexes = corpus(seed, 400)
    assert max(program_size(r) for r in regexes) == ENVOY_MAX_PROGRAM_SIZE
    result = validate(regexes, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_reviewed_regexes_are_refused_by_envoy_and_by_us(name, tmp_path):
    sent = f"(?:{ATTACKS[name]}).*"
    result = validate([sent], tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "program size" in output or "invalid" in output, output[-1000:]
    assert envoy_regex_problem(sent) is not None


def test_the_validation_above_is_meaningful(tmp_path):
    assert validate(["(?:/api/values).*"], tmp_path).returncode == 0


# -- the attack ------------------------------------------------------------------------------
NS = "shop"
API = "http://api.shop.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, mesh_ca):
    objects = [
        *(service_account(NS, sa) for sa in ("api", "frontend")),
        deployment(NS, "api", "api"),
        deployment(NS, "frontend", "frontend"),
        service(NS, "api"),
        route_group(
            NS, "api-routes", [{"name": "read", "pathRegex": "/api/values", "methods": ["GET"]}]
        ),
    ]
    m = EnvoyMesh(tmp_path_factory.mktemp("regex"), mesh_ca, objects)
    try:
        m.start_app("api")
        for name in ("api", "frontend"):
            m.start_envoy(name)
        m.wait_ready()
        yield m
    finally:
        m.close()


def nacks(mesh: EnvoyMesh) -> list:
    return [n for status in mesh.cp.statuses().values() for n in status.nacks]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_bad_regex_cannot_freeze_revocations(mesh, name):
    allowed = traffic_target(NS, "allowed", "api", ["frontend"], "api-routes")
    mesh.change([allowed])
    assert mesh.request("frontend", f"{API}/api/values")[0] == 200
    before = len(nacks(mesh))

    # A namespace user adds a route group with the regex, and a TrafficTarget using it.
    bad = route_group(
        NS, f"bad-{name}", [{"name": "bad", "pathRegex": ATTACKS[name], "methods": ["GET"]}]
    )
    version = mesh.cp.version
    mesh.source.apply([bad, traffic_target(NS, f"uses-{name}", "api", ["frontend"], f"bad-{name}")])
    catalog = mesh.source.snapshot()
    assert any(
        p.ref.name == f"bad-{name}" and "pathRegex" in p.field and p.severity == "error"
        for p in catalog.problems
    ), catalog.problems
    assert mesh.cp.wait_converged(version + 1, 10), mesh.cp.statuses()

    # The revocation must reach api's Envoy.
    mesh.source.delete("TrafficTarget", "allowed", NS)
    mesh.source.delete("TrafficTarget", f"uses-{name}", NS)
    mesh.source.delete("HTTPRouteGroup", f"bad-{name}", NS)
    deadline = time.monotonic() + 10
    while mesh.request("frontend", f"{API}/api/values")[0] != 403:
        assert time.monotonic() < deadline, "the revocation never reached api's Envoy"
        time.sleep(0.1)
    assert len(nacks(mesh)) == before, nacks(mesh)
