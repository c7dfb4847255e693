"""Stable codes of the problems `osm policy lint` and `osm policy analyze` report.

A code names a kind of problem, never one message: scripts and CI rules can match on it
(``OSM0310``) while messages improve. Codes are never renumbered or reused; a retired code
stays listed. docs/policy-codes.md documents every code (a test keeps it in step with
``CODES``), and tests/golden/policy/codes.json pins id -> name.

Ranges: 01xx files and YAML, 02xx one object's fields, 03xx references between objects,
04xx the live cluster (``analyze`` only).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    id: str
    name: str
    summary: str

    def __str__(self) -> str:
        return self.id


CODES: dict[str, Code] = {}


def _code(id: str, name: str, summary: str) -> Code:
    code = Code(id, name, summary)
    assert id not in CODES, f"duplicate problem code {id}"
    CODES[id] = code
    return code


# -- 01xx: files and YAML ---------------------------------------------------------------------
FILE_NOT_FOUND = _code("OSM0101", "FileNotFound", "A path given with -f does not exist.")
FILE_UNREADABLE = _code("OSM0102", "FileUnreadable", "A file cannot be read or is not UTF-8.")
NO_OBJECTS = _code("OSM0103", "NoObjects", "A file or directory holds no Kubernetes objects.")
INVALID_YAML = _code("OSM0104", "InvalidYAML", "A YAML/JSON syntax error; the rest is skipped.")
NOT_AN_OBJECT = _code(
    "OSM0105", "NotAnObject", "A document is not a mapping, or lacks apiVersion or kind."
)

# -- 02xx: one object's fields ----------------------------------------------------------------
UNSUPPORTED_KIND = _code(
    "OSM0201", "UnsupportedKind", "An SMI or policy kind this mesh does not read."
)
UNKNOWN_API_VERSION = _code(
    "OSM0202", "UnknownApiVersion", "An apiVersion not served for the kind."
)
INVALID_NAME = _code(
    "OSM0203", "InvalidName", "metadata.name or metadata.namespace is missing or not DNS-1123."
)
INVALID_FIELD = _code(
    "OSM0204",
    "InvalidField",
    "A field has the wrong type or value, or a required field is missing; the object is "
    "ignored by the mesh.",
)
UNKNOWN_FIELD = _code(
    "OSM0205", "UnknownField", "A field the schema does not know (the API server drops it)."
)
INVALID_REGEX = _code(
    "OSM0206",
    "InvalidRegex",
    "A regular expression Envoy's RE2 would refuse: not RE2 syntax, "
    "or over Envoy's program-size limit.",
)
INEFFECTIVE_FIELD = _code(
    "OSM0207",
    "IneffectiveField",
    "A valid field that has no effect or can never match (ignored by this mesh, empty, zero).",
)
NOT_CHECKED = _code(
    "OSM0208", "NotChecked", "An object this mesh does not act on (e.g. TrafficMetrics)."
)

# -- 03xx: references between objects ---------------------------------------------------------
DUPLICATE_OBJECT = _code("OSM0301", "DuplicateObject", "The same object is defined more than once.")
NAMESPACE_NOT_DEFINED = _code(
    "OSM0302", "NamespaceNotDefined", "Objects name a namespace the files do not define."
)
NAMESPACE_IGNORED = _code(
    "OSM0303", "NamespaceIgnored", "A namespace with SMI policies carries the ignore label."
)
NAMESPACE_NOT_IN_MESH = _code(
    "OSM0304", "NamespaceNotInMesh", "A namespace with SMI policies is not monitored by the mesh."
)
SELECTOR_MISMATCH = _code(
    "OSM0305", "SelectorMismatch", "A workload's selector does not match its pod template."
)
SERVICE_ACCOUNT_NOT_FOUND = _code(
    "OSM0306", "ServiceAccountNotFound", "A workload or policy names a missing ServiceAccount."
)
ROUTE_UNUSED = _code(
    "OSM0307", "RouteUnused", "A route group no TrafficTarget or TrafficSplit references."
)
TARGET_PORT_NOT_FOUND = _code(
    "OSM0308", "TargetPortNotFound", "A named targetPort no selected pod declares."
)
ROUTE_NOT_FOUND = _code(
    "OSM0310", "RouteNotFound", "A TrafficTarget rule or split match names a missing route."
)
ROUTE_MATCH_NOT_FOUND = _code(
    "OSM0311", "RouteMatchNotFound", "A rule names a match its route group does not have."
)
DESTINATION_NAMESPACE_MISSING = _code(
    "OSM0312", "DestinationNamespaceMissing", "A TrafficTarget destination without namespace."
)
IDENTITY_UNUSED = _code(
    "OSM0313",
    "IdentityUnused",
    "No workload runs as the ServiceAccount a policy names: it can never match.",
)
DESTINATION_WITHOUT_SERVICE = _code(
    "OSM0314",
    "DestinationWithoutService",
    "No Service selects a TrafficTarget destination's pods.",
)
RULE_PROTOCOL_MISMATCH = _code(
    "OSM0315",
    "RuleProtocolMismatch",
    "Rules of one protocol (HTTP/TCP) for Service ports of the other.",
)
SPLIT_ROOT_DUPLICATE = _code(
    "OSM0320", "SplitRootDuplicate", "Two TrafficSplits share a root Service."
)
SPLIT_ROOT_NOT_FOUND = _code(
    "OSM0321", "SplitRootNotFound", "A TrafficSplit's root Service does not exist."
)
SPLIT_ROOT_SELECTS_NO_POD = _code(
    "OSM0322", "SplitRootSelectsNoPod", "A TrafficSplit's root Service selects no pod."
)
SPLIT_BACKEND_NOT_FOUND = _code(
    "OSM0323", "SplitBackendNotFound", "A TrafficSplit backend Service does not exist."
)
SPLIT_ROOT_IS_BACKEND = _code(
    "OSM0324", "SplitRootIsBackend", "A TrafficSplit lists its root Service as a backend."
)
SPLIT_NESTED = _code(
    "OSM0325", "SplitNested", "A backend is itself a split root (splits are not hierarchical)."
)
SPLIT_BACKEND_SELECTS_NO_POD = _code(
    "OSM0326", "SplitBackendSelectsNoPod", "A backend Service selects no pod."
)
SPLIT_BACKEND_PORT_MISMATCH = _code(
    "OSM0327", "SplitBackendPortMismatch", "A backend lacks a port of the root Service."
)
SPLIT_BACKEND_NOT_ALLOWED = _code(
    "OSM0328",
    "SplitBackendNotAllowed",
    "SMI mode: no TrafficTarget allows traffic to a backend, so its share is denied.",
)
SERVICE_NOT_FOUND = _code(
    "OSM0340", "ServiceNotFound", "A resilience policy names a Service that does not exist."
)
POLICY_SETTING_DUPLICATE = _code(
    "OSM0341",
    "PolicyDuplicate",
    "Two resilience policies cover the same host or source and destination; one is ignored.",
)
POLICY_SETTING_INEFFECTIVE = _code(
    "OSM0342",
    "PolicyIneffective",
    "A resilience setting that cannot work as written (HTTP settings on TCP, a 0 limit, "
    "retries past the timeout, no retries).",
)
FAULT_ABORTS_ALL = _code(
    "OSM0343", "FaultAbortsAll", "A FaultInjection aborts every request from every client."
)

# -- 04xx: the live cluster (osm policy analyze) ----------------------------------------------
SERVICE_SELECTS_NO_MESHED_POD = _code(
    "OSM0401",
    "ServiceSelectsNoMeshedPod",
    "A Service in a meshed namespace selects pods, none of them with a sidecar.",
)
POD_WITHOUT_SIDECAR = _code(
    "OSM0402",
    "PodWithoutSidecar",
    "A running pod in a meshed namespace has no sidecar (started before the namespace joined).",
)
MESH_CONFIG_MISSING = _code(
    "OSM0403", "MeshConfigMissing", "The mesh's MeshConfig does not exist: chart defaults apply."
)
NAMESPACE_IN_OTHER_MESH = _code(
    "OSM0404", "NamespaceInOtherMesh", "A namespace with SMI policies belongs to another mesh."
)
