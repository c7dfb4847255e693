"""The resource types the emulator serves, and how a URL segment maps to them.

Built-in kinds are listed here once; custom resources are added at run time
from CustomResourceDefinitions (every version a CRD lists), as the real API
server does. SMI and MeshConfig are also known without a CRD so tests can seed
them in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STANDARD_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    builtin: bool = True  # built-in kinds accept strategic-merge patches, CRs do not
    categories: tuple[str, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """`deployments.apps` as the API server spells it in messages; core is bare."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str | None = None) -> str:
        version = version or self.versions[0]
        return f"{self.group}/{version}" if self.group else version


def _core(plural: str, kind: str, namespaced: bool = True, short=(), sub=()) -> ResourceType:
    return ResourceType("", ("v1",), plural, kind, namespaced, tuple(short), tuple(sub))


BUILTIN: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", False, ("ns",), ("status", "finalize")),
    _core("nodes", "Node", False, ("no",), ("status",)),
    _core("pods", "Pod", True, ("po",), ("status", "log", "proxy", "portforward")),
    _core("services", "Service", True, ("svc",), ("status", "proxy")),
    _core("serviceaccounts", "ServiceAccount", True, ("sa",)),
    _core("configmaps", "ConfigMap", True, ("cm",)),
    _core("secrets", "Secret", True),
    _core("events", "Event", True, ("ev",)),
    _core("endpoints", "Endpoints", True, ("ep",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    *(
        ResourceType("apps", ("v1",), plural, kind, True, short, sub)
        for plural, kind, short, sub in (
            ("deployments", "Deployment", ("deploy",), ("status", "scale")),
            ("statefulsets", "StatefulSet", ("sts",), ("status", "scale")),
            ("daemonsets", "DaemonSet", ("ds",), ("status",)),
            ("replicasets", "ReplicaSet", ("rs",), ("status", "scale")),
        )
    ),
    ResourceType("apps", ("v1",), "controllerrevisions", "ControllerRevision", True),
    ResourceType("batch", ("v1",), "jobs", "Job", True, (), ("status",)),
    ResourceType(
        "admissionregistration.k8s.io",
        ("v1",),
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        ("v1",),
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        ("v1",),
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("status",),
    ),
    *(
        ResourceType("rbac.authorization.k8s.io", ("v1",), plural, kind, namespaced)
        for plural, kind, namespaced in (
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        )
    ),
    ResourceType("coordination.k8s.io", ("v1",), "leases", "Lease", True),
)

SMI_VERSIONS = ("v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1")


def _custom(group, versions, plural, kind, namespaced=True, short=(), sub=()) -> ResourceType:
    return ResourceType(
        group, tuple(versions), plural, kind, namespaced, tuple(short), tuple(sub), builtin=False
    )


# Known without a CRD (a CRD for the same group/plural replaces the entry).
PRESEEDED_CUSTOM: tuple[ResourceType, ...] = (
    _custom("access.smi-spec.io", SMI_VERSIONS, "traffictargets", "TrafficTarget", short=("tt",)),
    _custom("specs.smi-spec.io", SMI_VERSIONS, "httproutegroups", "HTTPRouteGroup", short=("htr",)),
    _custom("specs.smi-spec.io", SMI_VERSIONS, "tcproutes", "TCPRoute"),
    _custom("specs.smi-spec.io", SMI_VERSIONS, "udproutes", "UDPRoute"),
    _custom("split.smi-spec.io", SMI_VERSIONS, "trafficsplits", "TrafficSplit", short=("ts",)),
    _custom(
        "config.openservicemesh.io",
        ("v1alpha2", "v1alpha1"),
        "meshconfigs",
        "MeshConfig",
        short=("meshconfig",),
    ),
    _custom(
        "config.openservicemesh.io",
        ("v1alpha2", "v1alpha1"),
        "meshrootcertificates",
        "MeshRootCertificate",
        short=("mrc",),
    ),
    _custom(
        "policy.openservicemesh.io",
        ("v1alpha1",),
        "egresses",
        "Egress",
    ),
    _custom(
        "policy.openservicemesh.io",
        ("v1alpha1",),
        "ingressbackends",
        "IngressBackend",
    ),
)


def from_crd(crd: dict) -> ResourceType | None:
    """The resource type a CustomResourceDefinition declares (None if malformed)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = tuple(
        v.get("name") for v in spec.get("versions") or [] if v.get("name") and v.get("served", True)
    )
    if not (spec.get("group") and names.get("plural") and names.get("kind") and versions):
        return None
    # The storage version is the preferred one in discovery; list it first.
    storage = [
        v.get("name") for v in spec.get("versions") or [] if v.get("storage") and v.get("name")
    ]
    if storage and storage[0] in versions:
        versions = (storage[0], *(v for v in versions if v != storage[0]))
    subresources: tuple[str, ...] = ()
    for v in spec.get("versions") or []:
        if (v.get("subresources") or {}).get("status") is not None:
            subresources = ("status",)
    return ResourceType(
        spec["group"],
        versions,
        names["plural"],
        names["kind"],
        spec.get("scope", "Namespaced") == "Namespaced",
        tuple(names.get("shortNames") or ()),
        subresources,
        builtin=False,
        categories=tuple(names.get("categories") or ()),
    )
